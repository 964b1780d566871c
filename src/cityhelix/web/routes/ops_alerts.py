"""The alerts panel: open alerts by severity, kept live by the operations centre's stream,
acknowledged or resolved with a comment, each a link to its device on the city map; and the
open alerts as compact JSON for the map's alert markers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.auth.principal import Principal
from cityhelix.ops import service as ops
from cityhelix.web.map_cache import MapCache
from cityhelix.web.routes.ops_common import MAX_COMMENT, engine_of, refusal_page, render_ops
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.signin import StaffApi, StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the panel's groups, most urgent first
SEVERITY_ORDER = ("critical", "warning", "info")


async def _thing_names(request: Request) -> dict[int, str]:
    cache: MapCache = request.app.state.web_map
    return {thing.id: thing.name for thing in await cache.things()}


async def _panel_context(request: Request, error: str | None = None) -> dict[str, Any]:
    alerts = await ops.open_alerts(engine_of(request))
    names = await _thing_names(request)
    for alert in alerts:
        alert["thing_name"] = names.get(alert["thing_id"]) if alert["thing_id"] else None
    groups = [(s, [a for a in alerts if a["severity"] == s]) for s in SEVERITY_ORDER]
    return {"groups": groups, "total": len(alerts), "error": error}


@router.get("/console/alerts")
async def alerts_page(request: Request, user: StaffPage) -> Response:
    """The panel; `?fragment=1` answers only the list (the page's script swaps it in)."""
    context = await _panel_context(request)
    context["may_act"] = ops.may_change_rules(user)
    template = "ops/alert_list.html" if request.query_params.get("fragment") else "ops/alerts.html"
    return render_ops(request, template, context)


@router.get("/console/alerts.json")
async def alerts_json(request: Request, user: StaffApi) -> Response:
    """[alert id, Thing id, severity, state, [lon, lat] or null] of every open alert, for the
    map's markers (the place: the map draws only the devices in view as points)."""
    alerts = await ops.open_alerts(engine_of(request))
    rows = [
        [a["id"], a["thing_id"], a["severity"], a["state"], a["location"]]
        for a in alerts
        if a["thing_id"]
    ]
    return Response(orjson.dumps({"alerts": rows}), media_type="application/json")


async def _step(request: Request, user: Principal, alert_id: int, step: str) -> Response:
    form = await check_csrf(request)
    comment = form.get("comment", "").strip()
    if len(comment) > MAX_COMMENT:
        context = await _panel_context(
            request, f"comment: at most {MAX_COMMENT} characters, got {len(comment)}"
        )
        context["may_act"] = ops.may_change_rules(user)
        return render_ops(request, "ops/alerts.html", context, status=400)
    change = ops.acknowledge_alert if step == "acknowledge" else ops.resolve_alert
    try:
        await change(engine_of(request), request.app.state.stream, user, alert_id, comment or None)
    except ops.OpsError as error:
        return refusal_page(request, error)
    return RedirectResponse(f"/console/alerts#alert-{alert_id}", status_code=303)


@router.post("/console/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: int, user: StaffPage) -> Response:
    return await _step(request, user, alert_id, "acknowledge")


@router.post("/console/alerts/{alert_id}/resolve")
async def resolve(request: Request, alert_id: int, user: StaffPage) -> Response:
    return await _step(request, user, alert_id, "resolve")
