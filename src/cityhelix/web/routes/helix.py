"""The Triple Helix pages for staff: actors and their co-participation network, synergy by
year and domain, and the smart-city scorecard (4 x 6 view, drill-down to each indicator's
provenance, XLSX and PDF). Thin over `cityhelix.helix.service`; the programme office's
pages are in `helix_programmes`, the public open-data page in `helix_open_data`."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.helix import service as helix
from cityhelix.web.kinds import N_
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.signin import StaffPage
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: how the pages name each kind of actor, each status and each framework value (translated
#: in the template through `_`)
ACTOR_KIND_LABELS = {
    "state": N_("State (government)"),
    "enterprise": N_("Enterprise"),
    "university": N_("University or institute"),
    "intermediary": N_("Intermediary"),
}
#: node colours of the network per actor kind; each passes 3:1 against white
ACTOR_KIND_COLOURS = {
    "state": "#b3261e",
    "enterprise": "#1f5f99",
    "university": "#1b7f3b",
    "intermediary": "#7a4fa0",
}
STATUS_LABELS = {
    "on_target": N_("On target"),
    "watch": N_("Watch"),
    "off_target": N_("Off target"),
    "no_target": N_("No target"),
    "no_data": N_("No data"),
}
TREND_LABELS = {"improving": N_("Improving"), "worsening": N_("Worsening"), "steady": N_("Steady")}
DOMAIN_LABELS = {
    "people": N_("People"),
    "technology": N_("Technology"),
    "business": N_("Business"),
    "basic_foundations": N_("Basic foundations"),
    "unassigned": N_("Unassigned"),
}
CRITERION_LABELS = {
    "broadband": N_("Broadband connectivity"),
    "knowledge_workforce": N_("Knowledge workforce"),
    "innovation": N_("Innovation"),
    "digital_equality": N_("Digital equality"),
    "sustainability": N_("Sustainability"),
    "advocacy": N_("Advocacy"),
}
#: inputs of an indicator listed on its drill-down at most (the XLSX has them all)
INPUTS_SHOWN = 50
#: actors listed under the network at most
ACTORS_SHOWN = 200


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def shown_value(value: float | None) -> float | None:
    """A value as the page shows it: 4 significant digits (the exact one is in data-value)."""
    return None if value is None else float(f"{value:.4g}")


def _day(request: Request, name: str) -> date | None:
    text = request.query_params.get(name) or None
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise helix.HelixError(f"{name}: expected a date YYYY-MM-DD", name) from None


@router.get("/helix")
async def network_page(request: Request, user: StaffPage) -> Response:
    """Actors, their co-participation network (ECharts graph) and synergy by year and domain."""
    context: dict[str, Any] = {
        "kind_names": ACTOR_KIND_LABELS,
        "domain_names": DOMAIN_LABELS,
        "start": request.query_params.get("from", ""),
        "end": request.query_params.get("to", ""),
    }
    try:
        start, end = _day(request, "from"), _day(request, "to")
        network = await helix.network_between(engine_of(request), start, end)
        synergy = await helix.synergy_between(engine_of(request), start, end)
        actors = await helix.list_actors(engine_of(request), user, limit=ACTORS_SHOWN)
    except helix.HelixError as error:
        return render(request, "helix/network.html", {**context, "error": error.message}, 400)
    graph = {
        "nodes": [
            {
                "id": str(node["id"]),
                "name": node["name"],
                "kind": node["kind"],
                "value": node["collaborations"],
            }
            for node in network["nodes"]
        ],
        "links": [
            {"source": str(e["source"]), "target": str(e["target"]), "value": e["weight"]}
            for e in network["edges"]
        ],
        "kinds": [{"kind": kind, "colour": ACTOR_KIND_COLOURS[kind]} for kind in ACTOR_KIND_LABELS],
    }
    years = list(synergy["by_year"].items())
    context.update(
        {
            "graph_json": orjson.dumps(graph).decode(),
            "synergy_json": orjson.dumps(
                {
                    "years": [year for year, _ in years],
                    "series": {
                        key: [figures[key] for _, figures in years]
                        for key in ("T_uig", "T_ui", "T_ug", "T_ig")
                    },
                }
            ).decode(),
            "network": network,
            "synergy": synergy,
            "actors": actors,
            "colours": ACTOR_KIND_COLOURS,
        }
    )
    return render(request, "helix/network.html", context)


@router.get("/helix/scorecard")
async def scorecard_page(request: Request, user: StaffPage) -> Response:
    """The scorecard of a period: the 4 x 6 view, every indicator, each one's provenance."""
    period = request.query_params.get("period") or None
    settings = request.app.state.settings
    context: dict[str, Any] = {
        "status_names": STATUS_LABELS,
        "trend_names": TREND_LABELS,
        "domain_names": DOMAIN_LABELS,
        "criterion_names": CRITERION_LABELS,
        "shown_value": shown_value,
        "inputs_shown": INPUTS_SHOWN,
        "writer": user.role in helix.WRITERS,
        "period": period or "",
    }
    try:
        card = await helix.scorecard(engine_of(request), settings, period)
    except helix.HelixError as error:
        return render(request, "helix/scorecard.html", {**context, "error": error.message}, 400)
    by_code = {indicator["code"]: indicator for indicator in card["indicators"]}
    return render(
        request,
        "helix/scorecard.html",
        {**context, "card": card, "by_code": by_code, "period": card["period"]},
    )


@router.post("/helix/scorecard/recompute")
async def recompute(request: Request, user: StaffPage) -> Response:
    """Recompute the period's computed indicators now (analysts), then show the scorecard."""
    form = await check_csrf(request)
    period = form.get("period") or None
    try:
        await helix.recompute_scorecard(
            engine_of(request), request.app.state.settings, user, period, request.url.path
        )
    except helix.HelixError as error:
        return render(
            request,
            "helix/scorecard.html",
            {"error": error.message, "period": period or "", "status_names": STATUS_LABELS},
            error.status,
        )
    return RedirectResponse(f"/helix/scorecard?period={period or ''}", status_code=303)


async def _export(request: Request, kind: str) -> Response:
    period = request.query_params.get("period") or None
    settings = request.app.state.settings
    try:
        if kind == "pdf":
            content = await helix.scorecard_pdf(engine_of(request), settings, period)
            media_type = "application/pdf"
        else:
            content = await helix.scorecard_xlsx(engine_of(request), settings, period)
            media_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    except helix.HelixError as error:
        return Response(error.message, status_code=error.status, media_type="text/plain")
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="scorecard-{period or "current"}.{kind}"'
        },
    )


@router.get("/helix/scorecard.pdf")
async def scorecard_pdf(request: Request, user: StaffPage) -> Response:
    """The printable report, for the signed-in staff (the API's twin needs a token)."""
    return await _export(request, "pdf")


@router.get("/helix/scorecard.xlsx")
async def scorecard_xlsx(request: Request, user: StaffPage) -> Response:
    return await _export(request, "xlsx")
