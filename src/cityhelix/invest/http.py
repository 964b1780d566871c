"""HTTP for the investment pillar under `/api/invest`: translation to `service` and back.

`InvestRoute` renders the pillar's errors and request-validation errors as FastAPI's plain
`{"detail": ...}` on these routes only (422 with the field's location for a body or query
that does not validate; 400/403/404/409 with the field named for the service's errors).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import NotAuthenticated, principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.invest import service
from cityhelix.invest.errors import BadInput, InvestError, Unprocessable
from cityhelix.invest.exchange import XLSX
from cityhelix.invest.matching import SiteNeeds
from cityhelix.invest.schemas import (
    ActivityIn,
    AdminUnitMappingIn,
    EnquiryIn,
    InvestorIn,
    LeadIn,
    ParkIn,
    ParkPatch,
    PlotIn,
    PlotPatch,
    PolicyIn,
    ProjectChange,
    ProjectIn,
    RankIn,
    ScreenIn,
    StageMove,
)
from cityhelix.openapi_errors import file_body, plain_errors

#: ids in paths: past 2**62 nothing exists, and the database is never asked (no overflow)
PathId = Annotated[int, Path(ge=1, le=2**62)]
PolicyVersion = Annotated[int, Path(ge=1, le=2**31 - 1)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=10**9)]


def _error(status: int, detail: Any, field: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status)


class InvestRoute(APIRoute):
    """A route whose errors answer `{"detail": ...}`, whatever the app's global handlers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                detail = [
                    {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                    for e in error.errors()
                ]
                return _error(422, jsonable_encoder(detail))
            except Unprocessable as error:
                return JSONResponse(
                    {"detail": error.message, "problems": error.problems}, status_code=422
                )
            except InvestError as error:
                return _error(error.status, error.message, error.field)
            except NotAuthenticated as error:
                response = _error(401, str(error))
                response.headers["WWW-Authenticate"] = "Bearer"
                return response

        return answer


#: every route may be rate-limited; all but the public enquiry form read credentials (401)
router = APIRouter(
    prefix="/api/invest",
    tags=["investment"],
    route_class=InvestRoute,
    responses=plain_errors(429),
)
#: an import's body is the file itself
_TABLE_FILE = file_body("text/csv", XLSX, description="The table: a header row, a row each")


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def _caller(request: Request, *, staff: bool) -> Principal:
    """The caller; staff routes need a token whatever the public-read setting."""
    return await principal_from_header(
        _engine(request),
        request.app.state.settings,
        request.headers.get("authorization"),
        write=staff,
    )


def _path(request: Request) -> str:
    return request.url.path


# -- parks and plots ----------------------------------------------------------------------


@router.get("/parks", responses=plain_errors(400, 401))
async def list_parks(
    request: Request,
    admin_unit: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[str | None, Query(pattern="^(operating|under_construction|planned)$")] = None,
    sector_vsic: Annotated[str | None, Query(pattern=r"^[0-9]{2,5}$")] = None,
    min_free_ha: Annotated[float | None, Query(ge=0)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    await _caller(request, staff=False)
    return await service.list_parks(
        _engine(request),
        admin_unit=admin_unit,
        status=status,
        sector_vsic=sector_vsic,
        min_free_ha=min_free_ha,
        limit=limit,
        offset=offset,
    )


@router.post("/parks", status_code=201, responses=plain_errors(400, 401, 403, 409, 413))
async def create_park(request: Request, body: ParkIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_park(_engine(request), principal, body, _path(request))


@router.get("/parks/{park_id}", responses=plain_errors(401, 404))
async def get_park(request: Request, park_id: PathId) -> Any:
    await _caller(request, staff=False)
    return await service.get_park(_engine(request), park_id)


@router.patch("/parks/{park_id}", responses=plain_errors(400, 401, 403, 404, 409, 413))
async def update_park(request: Request, park_id: PathId, body: ParkPatch) -> Any:
    principal = await _caller(request, staff=True)
    changes = body.model_dump(mode="json", exclude_unset=True)
    return await service.update_park(_engine(request), principal, park_id, changes, _path(request))


@router.delete("/parks/{park_id}", status_code=204, responses=plain_errors(401, 403, 404, 409))
async def delete_park(request: Request, park_id: PathId) -> Response:
    principal = await _caller(request, staff=True)
    await service.delete_park(_engine(request), principal, park_id, _path(request))
    return Response(status_code=204)


@router.get("/plots", responses=plain_errors(400, 401))
async def list_plots(
    request: Request,
    park_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    status: Annotated[str | None, Query(pattern="^(free|reserved|leased)$")] = None,
    min_area_ha: Annotated[float | None, Query(ge=0)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    await _caller(request, staff=False)
    return await service.list_plots(
        _engine(request),
        park_id=park_id,
        status=status,
        min_area_ha=min_area_ha,
        limit=limit,
        offset=offset,
    )


@router.post("/plots", status_code=201, responses=plain_errors(400, 401, 403, 404, 409, 413))
async def create_plot(request: Request, body: PlotIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_plot(_engine(request), principal, body, _path(request))


@router.get("/plots/{plot_id}", responses=plain_errors(401, 404))
async def get_plot(request: Request, plot_id: PathId) -> Any:
    await _caller(request, staff=False)
    return await service.get_plot(_engine(request), plot_id)


@router.patch("/plots/{plot_id}", responses=plain_errors(400, 401, 403, 404, 409, 413))
async def update_plot(request: Request, plot_id: PathId, body: PlotPatch) -> Any:
    principal = await _caller(request, staff=True)
    changes = body.model_dump(mode="json", exclude_unset=True)
    return await service.update_plot(_engine(request), principal, plot_id, changes, _path(request))


@router.delete("/plots/{plot_id}", status_code=204, responses=plain_errors(401, 403, 404, 409))
async def delete_plot(request: Request, plot_id: PathId) -> Response:
    principal = await _caller(request, staff=True)
    await service.delete_plot(_engine(request), principal, plot_id, _path(request))
    return Response(status_code=204)


# -- the registry ---------------------------------------------------------------------------


@router.get("/projects", responses=plain_errors(400, 401, 403))
async def list_projects(
    request: Request,
    as_of: date | None = None,
    park_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    sector_vsic: Annotated[str | None, Query(pattern=r"^[0-9]{1,5}$")] = None,
    country: Annotated[str | None, Query(pattern="^[A-Z]{2}$")] = None,
    status: Annotated[str | None, Query(pattern="^(active|suspended|terminated)$")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    """The registry; `q` finds text in the project's name, its first investor's name or its
    certificate number, ignoring case."""
    principal = await _caller(request, staff=True)
    return await service.list_projects(
        _engine(request),
        principal,
        as_of=as_of,
        park_id=park_id,
        sector_vsic=sector_vsic,
        country=country,
        status=status,
        q=q,
        limit=limit,
        offset=offset,
    )


@router.post("/projects", status_code=201, responses=plain_errors(400, 401, 403, 404, 409, 413))
async def create_project(request: Request, body: ProjectIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_project(_engine(request), principal, body, _path(request))


@router.get("/projects/{project_id}", responses=plain_errors(400, 401, 403, 404))
async def get_project(request: Request, project_id: PathId, as_of: date | None = None) -> Any:
    principal = await _caller(request, staff=True)
    return await service.get_project(_engine(request), principal, project_id, as_of)


@router.patch("/projects/{project_id}", responses=plain_errors(400, 401, 403, 404, 409, 413))
async def change_project(request: Request, project_id: PathId, body: ProjectChange) -> Any:
    principal = await _caller(request, staff=True)
    return await service.change_project(
        _engine(request), principal, project_id, body, _path(request)
    )


@router.delete(
    "/projects/{project_id}", status_code=204, responses=plain_errors(401, 403, 404, 409)
)
async def delete_project(request: Request, project_id: PathId) -> Response:
    principal = await _caller(request, staff=True)
    await service.delete_project(_engine(request), principal, project_id, _path(request))
    return Response(status_code=204)


@router.get("/projects/{project_id}/history", responses=plain_errors(401, 403, 404))
async def project_history(request: Request, project_id: PathId) -> Any:
    principal = await _caller(request, staff=True)
    return await service.project_history(_engine(request), principal, project_id)


@router.post(
    "/projects/{project_id}/screenings", status_code=201, responses=plain_errors(400, 401, 403, 404)
)
async def screen_project(
    request: Request,
    project_id: PathId,
    policy_version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> Any:
    principal = await _caller(request, staff=True)
    return await service.screen_project(
        _engine(request), principal, project_id, _path(request), policy_version
    )


@router.get("/projects/{project_id}/screenings", responses=plain_errors(401, 403, 404))
async def project_screenings(request: Request, project_id: PathId) -> Any:
    principal = await _caller(request, staff=True)
    return await service.project_screenings(_engine(request), principal, project_id)


# -- screening and policies ----------------------------------------------------------------


@router.post("/screen", responses=plain_errors(400, 401, 404, 413))
async def screen(
    request: Request,
    body: ScreenIn,
    policy_version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
) -> Any:
    await _caller(request, staff=False)
    return await service.screen_proposal(_engine(request), body, policy_version)


@router.get("/policies", responses=plain_errors(401))
async def list_policies(request: Request) -> Any:
    await _caller(request, staff=False)
    return await service.list_policies(_engine(request))


@router.get("/policies/current", responses=plain_errors(401, 404))
async def policy_in_force(request: Request) -> Any:
    await _caller(request, staff=False)
    return await service.get_policy(_engine(request), None)


@router.get("/policies/{version}", responses=plain_errors(401, 404))
async def get_policy(request: Request, version: PolicyVersion) -> Any:
    await _caller(request, staff=False)
    return await service.get_policy(_engine(request), version)


@router.get("/policies/{version}/portfolio", responses=plain_errors(401, 403, 404))
async def portfolio(request: Request, version: PolicyVersion) -> Any:
    """The registry's verdict mix under the policy in force and under `version`."""
    principal = await _caller(request, staff=True)
    return await service.portfolio(_engine(request), principal, version)


@router.post("/policies", status_code=201, responses=plain_errors(400, 401, 403, 413))
async def create_policy(request: Request, body: PolicyIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_policy(_engine(request), principal, body, _path(request))


@router.post("/policies/{version}/adopt", responses=plain_errors(401, 403, 404, 409))
async def adopt_policy(request: Request, version: PolicyVersion) -> Any:
    principal = await _caller(request, staff=True)
    return await service.adopt_policy(_engine(request), principal, version, _path(request))


# -- the pipeline ---------------------------------------------------------------------------


@router.get("/leads", responses=plain_errors(400, 401, 403))
async def list_leads(
    request: Request,
    stage: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Any:
    principal = await _caller(request, staff=True)
    return await service.list_leads(
        _engine(request), principal, stage=stage, limit=limit, offset=offset
    )


@router.post("/leads", status_code=201, responses=plain_errors(400, 401, 403, 404, 413))
async def create_lead(request: Request, body: LeadIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_lead(_engine(request), principal, body, _path(request))


@router.get("/leads/overdue", responses=plain_errors(400, 401, 403))
async def overdue(request: Request, at: datetime | None = None) -> Any:
    principal = await _caller(request, staff=True)
    if at is not None and at.tzinfo is None:
        raise BadInput("at: give a time zone (e.g. 2026-01-01T00:00:00Z)", field="at")
    return await service.overdue(_engine(request), principal, at)


@router.get("/leads/stages", responses=plain_errors(401))
async def stage_deadlines(request: Request) -> Any:
    await _caller(request, staff=False)
    return service.stage_deadlines()


@router.get("/leads/{lead_id}", responses=plain_errors(401, 403, 404))
async def get_lead(request: Request, lead_id: PathId) -> Any:
    principal = await _caller(request, staff=True)
    return await service.get_lead(_engine(request), principal, lead_id)


@router.post("/leads/{lead_id}/stage", responses=plain_errors(400, 401, 403, 404, 409, 413))
async def move_lead(request: Request, lead_id: PathId, body: StageMove) -> Any:
    principal = await _caller(request, staff=True)
    return await service.move_lead(_engine(request), principal, lead_id, body, _path(request))


@router.post(
    "/leads/{lead_id}/activities", status_code=201, responses=plain_errors(400, 401, 403, 404, 413)
)
async def add_activity(request: Request, lead_id: PathId, body: ActivityIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.add_activity(_engine(request), principal, lead_id, body, _path(request))


# -- investors, administrative units, enquiries -----------------------------------------------


@router.get("/investors", responses=plain_errors(401, 403))
async def list_investors(request: Request, limit: Limit = 100, offset: Offset = 0) -> Any:
    principal = await _caller(request, staff=True)
    return await service.list_investors(_engine(request), principal, limit=limit, offset=offset)


@router.post("/investors", status_code=201, responses=plain_errors(400, 401, 403, 409, 413))
async def create_investor(request: Request, body: InvestorIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.create_investor(_engine(request), principal, body, _path(request))


@router.get("/admin-units", responses=plain_errors(401))
async def admin_unit_mappings(
    request: Request, name: Annotated[str | None, Query(max_length=200)] = None
) -> Any:
    """Units before the 1 July 2025 reorganisation and the units they became part of."""
    await _caller(request, staff=False)
    return await service.admin_unit_mappings(_engine(request), name=name)


@router.post("/admin-units", status_code=201, responses=plain_errors(400, 401, 403, 409, 413))
async def add_admin_unit_mapping(request: Request, body: AdminUnitMappingIn) -> Any:
    principal = await _caller(request, staff=True)
    return await service.add_admin_unit_mapping(_engine(request), principal, body, _path(request))


@router.post("/enquiries", status_code=202, responses=plain_errors(400, 413))
async def submit_enquiry(request: Request, body: EnquiryIn) -> Any:
    """The public portal's enquiry form: creates a lead; nothing of it is shown back."""
    client = request.client.host if request.client else "unknown"
    wait = service.enquiry_retry_after(request.app.state, client)
    if wait:
        response = _error(429, f"too many enquiries from this address; retry in {wait} s")
        response.headers["Retry-After"] = str(wait)
        return response
    return await service.submit_enquiry(_engine(request), body, _path(request))


# -- import and export -----------------------------------------------------------------------


@router.post(
    "/import/{kind}",
    status_code=201,
    responses=plain_errors(400, 401, 403, 413, 422),
    openapi_extra=_TABLE_FILE,
)
async def import_table(
    request: Request,
    kind: Annotated[str, Path(pattern="^(parks|plots|projects|leads)$")],
    dry_run: bool = False,
) -> Any:
    """The request body is the file itself: Content-Type text/csv or the XLSX type."""
    principal = await _caller(request, staff=True)
    content = await request.body()
    return await service.import_table(
        _engine(request),
        principal,
        kind,
        content,
        request.headers.get("content-type", ""),
        _path(request),
        dry_run=dry_run,
    )


@router.get("/export/projects.{file_format}", responses=plain_errors(400, 401, 403))
async def export_registry(
    request: Request,
    file_format: Annotated[str, Path(pattern="^(csv|xlsx|geojson)$")],
    as_of: date | None = None,
) -> Response:
    principal = await _caller(request, staff=True)
    content, media_type = await service.export_registry(
        _engine(request), principal, file_format, as_of
    )
    name = f"registry{'-' + as_of.isoformat() if as_of else ''}.{file_format}"
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# -- analytics ---------------------------------------------------------------------------------


@router.get("/analytics", responses=plain_errors(400, 401, 403))
async def fdi_analytics(
    request: Request,
    status: Annotated[list[str] | None, Query(max_length=3)] = None,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    """FDI figures over the registry; `status` (repeatable) limits the projects counted."""
    principal = await _caller(request, staff=True)
    for value in status or []:
        if value not in ("active", "suspended", "terminated"):
            raise BadInput(
                f"status: expected active, suspended or terminated, got {value!r}", field="status"
            )
    return await service.fdi_analytics(_engine(request), principal, status, top)


# -- site matching --------------------------------------------------------------------------


def _weights(text: str | None) -> dict[str, float] | None:
    """`land_price:3,seaport_km:1` -> {"land_price": 3.0, "seaport_km": 1.0}."""
    if not text:
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        code, _, number = part.partition(":")
        try:
            weight = float(number)
        except ValueError:
            raise BadInput(
                f"weights: expected code:number pairs separated by commas, got {part!r}",
                field="weights",
            ) from None
        if not weight >= 0 or weight == float("inf"):
            raise BadInput(f"weights: {code} needs a finite weight >= 0", field="weights")
        weights[code.strip()] = weight
    return weights


def _pairwise(text: str | None) -> list[list[float]] | None:
    if text is None:
        return None
    try:
        matrix = json.loads(text)
    except ValueError:
        raise BadInput(
            "pairwise: expected a JSON array of arrays of numbers", field="pairwise"
        ) from None
    if not (
        isinstance(matrix, list)
        and all(
            isinstance(row, list)
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
            for row in matrix
        )
    ):
        raise BadInput("pairwise: expected a JSON array of arrays of numbers", field="pairwise")
    return [[float(v) for v in row] for row in matrix]


@router.get("/sites/match", responses=plain_errors(400, 401, 403, 404))
async def match_sites(
    request: Request,
    lead_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    land_ha: Annotated[float | None, Query(ge=0, le=100_000)] = None,
    power_mw: Annotated[float | None, Query(ge=0, le=100_000)] = None,
    wastewater_m3_day: Annotated[float | None, Query(ge=0, le=10**7)] = None,
    sector_vsic: Annotated[str | None, Query(pattern=r"^[0-9]{2,5}$")] = None,
    ready_by: date | None = None,
    method: Annotated[str, Query(pattern="^(topsis|ahp)$")] = "topsis",
    weights: Annotated[str | None, Query(max_length=2000)] = None,
    pairwise: Annotated[str | None, Query(max_length=4000)] = None,
) -> Any:
    """Rank free plots for a lead (`lead_id`, staff) or for needs given here (anyone)."""
    if lead_id is not None:
        principal = await _caller(request, staff=True)
        needs = await service.lead_needs(_engine(request), principal, lead_id)
    else:
        await _caller(request, staff=False)
        needs = SiteNeeds(land_ha, power_mw, wastewater_m3_day, sector_vsic, ready_by)
    return await service.match_sites(
        _engine(request),
        needs,
        weights=_weights(weights),
        method=method,
        pairwise=_pairwise(pairwise),
    )


@router.post("/sites/rank", responses=plain_errors(400, 401, 413))
async def rank(request: Request, body: RankIn) -> Any:
    await _caller(request, staff=False)
    return service.rank(body)
