"""The investment promotion centre's staff pages under /invest/staff: the pipeline board,
the FDI registry (list, detail with history and as-of), screening with each criterion
explained, and the map of parks and free plots. Analysts and admins only.

Thin over `cityhelix.invest.service`, the same functions `/api/invest` calls: a page shows
what the API answers and a form posts what the API takes.
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cityhelix.auth.principal import Principal
from cityhelix.invest import service
from cityhelix.invest.service import STAGES, InvestError, ScreenIn, StageMove
from cityhelix.web.i18n import choose_language, translations
from cityhelix.web.routes.invest_forms import (
    N_,
    SECTOR_CHOICES,
    FormProblem,
    RowId,
    body_of,
    filled,
)
from cityhelix.web.security import Forbidden, WebRoute, check_csrf
from cityhelix.web.signin import staff_page
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: pipeline stages as the board shows them, in order (`lost` last)
STAGE_LABELS: dict[str, str] = {
    "lead": N_("Lead"),
    "first_contact": N_("First contact"),
    "site_visit": N_("Site visit"),
    "proposal": N_("Proposal"),
    "application": N_("Application"),
    "certificate_issued": N_("Certificate issued"),
    "construction": N_("Construction"),
    "operating": N_("Operating"),
    "aftercare": N_("Aftercare"),
    "lost": N_("Lost"),
}

#: screening verdicts
VERDICT_LABELS: dict[str, str] = {
    "priority": N_("Priority"),
    "acceptable": N_("Acceptable"),
    "review": N_("Review"),
    "not_recommended": N_("Not recommended"),
}


async def invest_staff(request: Request) -> Principal:
    """A signed-in analyst or admin (other staff roles may not read the registry)."""
    user = await staff_page(request)
    if user.role not in service.STAFF:
        raise Forbidden(f"the role {user.role.value} may not open the investment pages")
    return user


InvestStaff = Annotated[Principal, Depends(invest_staff)]

#: registry rows per page
_PAGE = 50
#: the screening form's number fields, in the order of `ScreenIn` (all but its codes)
SCREEN_NUMBERS = [
    name
    for name in ScreenIn.model_fields
    if name not in ("sector_vsic", "pollution_type", "pollution_band")
]
#: the longest registry search text
_SEARCH_CHARS = 200


def _staff_context(request: Request) -> dict[str, Any]:
    catalogue = translations(choose_language(request))
    return {
        "stage_labels": {k: catalogue.gettext(v) for k, v in STAGE_LABELS.items()},
        "verdict_labels": {k: catalogue.gettext(v) for k, v in VERDICT_LABELS.items()},
        "sector_choices": [(code, catalogue.gettext(name)) for code, name in SECTOR_CHOICES],
    }


def render_staff_page(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    """A staff page with the stage, verdict and sector labels in the visitor's language."""
    return render(request, template, {**_staff_context(request), **context}, status)


def _as_of(request: Request) -> date | None:
    text = request.query_params.get("as_of", "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormProblem("as_of", "expected a day as YYYY-MM-DD") from None


@router.get("/invest/staff")
async def staff_home(user: InvestStaff) -> Response:
    return RedirectResponse("/invest/staff/pipeline", status_code=302)


@router.get("/invest/staff/pipeline")
async def pipeline_board(request: Request, user: InvestStaff) -> Response:
    """The board: a column per stage, overdue leads marked, and the overdue activities."""
    engine = request.app.state.engine
    leads = await service.list_leads(engine, user, limit=1000)
    late = await service.overdue(engine, user)
    columns = [
        (stage, [lead for lead in leads if lead["stage"] == stage]) for stage in STAGE_LABELS
    ]
    return render_staff_page(
        request,
        "invest/staff/pipeline.html",
        {
            "columns": columns,
            "overdue_leads": late["leads"],
            "overdue_activities": late["activities"],
            "lead_names": {lead["id"]: lead["organisation"] for lead in leads},
            "stage_days": service.stage_deadlines(),
            "moved": request.query_params.get("moved"),
        },
    )


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/invest/staff/leads/{lead_id}/stage")
async def move_lead(request: Request, lead_id: RowId, user: InvestStaff) -> Response:
    """Move a lead (the board's form, or its drag and drop with `Accept: application/json`)."""
    form = await check_csrf(request)
    values = filled(form, ["stage", "reason"])
    try:
        move = body_of(StageMove, values)
        await service.move_lead(
            request.app.state.engine, user, lead_id, move, f"/api/invest/leads/{lead_id}/stage"
        )
    except (FormProblem, InvestError) as error:
        field = error.field if isinstance(error, FormProblem) else (error.field or "stage")
        status = 400 if isinstance(error, FormProblem) else error.status
        if _wants_json(request):
            return JSONResponse({"detail": error.message, "field": field}, status_code=status)
        return render_staff_page(
            request,
            "invest/staff/problem.html",
            {"field": field, "message": error.message, "back": "/invest/staff/pipeline"},
            status,
        )
    if _wants_json(request):
        return JSONResponse({"id": lead_id, "stage": move.stage})
    return RedirectResponse(f"/invest/staff/pipeline?moved={lead_id}", status_code=303)


@router.get("/invest/staff/leads/{lead_id}")
async def lead_page(request: Request, lead_id: RowId, user: InvestStaff) -> Response:
    """A lead and its timeline: stage moves and activities."""
    try:
        lead = await service.get_lead(request.app.state.engine, user, lead_id)
    except InvestError as error:
        return render_staff_page(
            request,
            "invest/staff/problem.html",
            {"field": "id", "message": error.message, "back": "/invest/staff/pipeline"},
            error.status,
        )
    forward = (
        [s for s in STAGES if STAGES.index(s) > STAGES.index(lead["stage"])]
        if (lead["stage"] in STAGES)
        else []
    )
    return render_staff_page(request, "invest/staff/lead.html", {"lead": lead, "forward": forward})


@router.get("/invest/staff/registry")
async def registry(request: Request, user: InvestStaff) -> Response:
    """The registry, now or as of a day, filtered by country, sector and status, searched by
    project name, investor or certificate number."""
    query = dict(request.query_params)
    try:
        as_of = _as_of(request)
        offset = int(query.get("offset") or 0)
        if not 0 <= offset <= 10**9:
            raise FormProblem("offset", "expected a whole number from 0")
        country = query.get("country", "").strip().upper() or None
        if country is not None and not (len(country) == 2 and country.isalpha()):
            raise FormProblem("country", "expected a two-letter country code")
        sector = query.get("sector_vsic", "").strip() or None
        if sector is not None and not (sector.isdigit() and 1 <= len(sector) <= 5):
            raise FormProblem("sector_vsic", "expected a VSIC code of 1 to 5 digits")
        status = query.get("status", "").strip() or None
        if status not in (None, "active", "suspended", "terminated"):
            raise FormProblem("status", "expected active, suspended or terminated")
        search = query.get("q", "").strip() or None
        if search is not None and len(search) > _SEARCH_CHARS:
            raise FormProblem("q", f"expected at most {_SEARCH_CHARS} characters")
    except ValueError:
        return _problem(request, FormProblem("offset", "expected a whole number from 0"))
    except FormProblem as problem:
        return _problem(request, problem)
    rows = await service.list_projects(
        request.app.state.engine,
        user,
        as_of=as_of,
        country=country,
        sector_vsic=sector,
        status=status,
        q=search,
        limit=_PAGE + 1,
        offset=offset,
    )
    return render_staff_page(
        request,
        "invest/staff/registry.html",
        {
            "rows": rows[:_PAGE],
            "more": len(rows) > _PAGE,
            "offset": offset,
            "page_size": _PAGE,
            "query": query,
            "as_of": as_of,
            # the filters again, for the pager's links (encoded: they are the visitor's text)
            "filters": urlencode({k: v for k, v in query.items() if k != "offset"}),
        },
    )


def _problem(
    request: Request, problem: FormProblem, back: str = "/invest/staff/registry"
) -> Response:
    return render_staff_page(
        request,
        "invest/staff/problem.html",
        {"field": problem.field, "message": problem.message, "back": back},
        400,
    )


@router.get("/invest/staff/registry/{project_id}")
async def project_page(request: Request, project_id: RowId, user: InvestStaff) -> Response:
    """One project as of a day (or now), every version of it, and its stored screenings."""
    engine = request.app.state.engine
    try:
        as_of = _as_of(request)
    except FormProblem as problem:
        return _problem(request, problem, f"/invest/staff/registry/{project_id}")
    try:
        project = await service.get_project(engine, user, project_id, as_of)
        history = await service.project_history(engine, user, project_id)
        screenings = await service.project_screenings(engine, user, project_id)
    except InvestError as error:
        return render_staff_page(
            request,
            "invest/staff/problem.html",
            {
                "field": error.field or "id",
                "message": error.message,
                "back": "/invest/staff/registry",
            },
            error.status,
        )
    changed = [_changed_fields(None, history[0])] if history else []
    changed += [_changed_fields(a, b) for a, b in pairwise(history)]
    return render_staff_page(
        request,
        "invest/staff/project.html",
        {
            "project": project,
            "history": history,
            "changed": changed,
            "screenings": screenings,
            "as_of": as_of,
        },
    )


#: fields of a version that say when and by whom, not what the project is
_VERSION_FIELDS = {"version", "effective_on", "recorded_at", "recorded_by", "change_note"}


def _changed_fields(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The project's fields that a version changed (none for the first: it is the start)."""
    if before is None:
        return []
    return sorted(
        key for key in after if key not in _VERSION_FIELDS and before.get(key) != after.get(key)
    )


@router.get("/invest/staff/screening")
async def screening(request: Request, user: InvestStaff) -> Response:
    """Screen a proposal (nothing stored): the verdict and each criterion with its reason."""
    query = dict(request.query_params)
    context: dict[str, Any] = {"query": query, "result": None, "problem": None}
    if "run" in query:
        values: dict[str, Any] = filled(query, [*SCREEN_NUMBERS, "sector_vsic", "pollution_band"])
        pollution = query.get("pollution_type", "").strip()
        if pollution == "none":
            values["pollution_type"] = None
        elif pollution:
            values["pollution_type"] = pollution
        try:
            body = body_of(ScreenIn, values)
            context["result"] = await service.screen_proposal(request.app.state.engine, body, None)
        except FormProblem as problem:
            context["problem"] = problem
            return render_staff_page(request, "invest/staff/screening.html", context, 400)
        except InvestError as error:
            context["problem"] = FormProblem(error.field or "form", error.message)
            return render_staff_page(request, "invest/staff/screening.html", context, error.status)
    policy = await service.get_policy(request.app.state.engine, None)
    context["pollution_types"] = next(
        (
            rule.get("types", [])
            for rule in policy["document"]["rules"]
            if rule["kind"] == "pollution"
        ),
        [],
    )
    context["policy"] = policy
    return render_staff_page(request, "invest/staff/screening.html", context)


@router.get("/invest/staff/map")
async def parks_map(request: Request, user: InvestStaff) -> Response:
    """Parks and their free plots on the offline map (the same GeoJSON as the portal)."""
    engine = request.app.state.engine
    parks = await service.list_parks(engine, limit=1000)
    parks.sort(key=lambda park: park["name"])
    free_plots: dict[int, list[dict[str, Any]]] = {}
    for plot in await service.list_plots(engine, status="free", limit=1000):
        free_plots.setdefault(plot["park_id"], []).append(plot)
    return render_staff_page(
        request,
        "invest/staff/map.html",
        {"parks": parks, "free_plots": free_plots},
    )
