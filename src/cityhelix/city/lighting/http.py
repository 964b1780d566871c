"""Street lighting over HTTP under /api/city/lighting: translate requests to the service.

Errors are `{"detail": ..., "field": ...}`; writes need an operator's or admin's token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import NotAuthenticated, principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.city.days import zone_of
from cityhelix.city.lighting import service
from cityhelix.city.lighting.errors import BadRequest, LightingError
from cityhelix.events.bus import EventBus
from cityhelix.openapi_errors import object_body, plain_errors
from cityhelix.settings import Settings

router = APIRouter(
    prefix="/api/city/lighting",
    tags=["City: street lighting"],
    responses=plain_errors(401, 429),
)
#: the service checks a lamp's and a schedule's fields one by one (docs/city-services.md)
_LAMP = object_body("A lamp or cabinet (docs/city-services.md, street lighting)")
_SCHEDULE = object_body("A schedule: its group, dusk/dawn or times, profile, exceptions")
Auth = Annotated[str | None, Header(alias="Authorization")]
#: an id in a path: past 2**62 nothing exists, and the database is never asked (no overflow)
PathId = Annotated[int, Path(ge=1, le=2**62)]


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _bus(request: Request) -> EventBus | None:
    bus: EventBus | None = getattr(request.app.state, "bus", None)
    return bus


def _error(error: LightingError) -> JSONResponse:
    return JSONResponse({"detail": error.message, "field": error.field}, error.status)


async def _caller(request: Request, header: str | None, *, write: bool) -> Principal:
    return await principal_from_header(_engine(request), _settings(request), header, write=write)


def _time(text: str | None, field: str) -> datetime:
    if text is None:
        raise BadRequest(f"{field}: required, an ISO 8601 time", field=field)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{field}: expected an ISO 8601 time, got {text[:40]!r}", field=field
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def _body(request: Request) -> object:
    try:
        return await request.json()
    except ValueError:
        raise BadRequest("body: expected a JSON object", field="body") from None


async def _answer(request: Request, header: str | None, write: bool, work: Any) -> Response:
    try:
        principal = await _caller(request, header, write=write)
        result, status = await work(principal)
    except NotAuthenticated as error:
        return JSONResponse({"detail": str(error)}, 401, {"WWW-Authenticate": "Bearer"})
    except LightingError as error:
        return _error(error)
    return JSONResponse(result, status)


@router.post(
    "/lamps",
    responses=plain_errors(400, 403, 404, 413),
    openapi_extra=_LAMP,
    summary="Register a lamp or cabinet (Thing, Datastreams, TaskingCapability)",
)
async def post_lamp(request: Request, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        made = await service.register_lamp(
            _engine(request), principal, await _body(request), _bus(request)
        )
        return made, 201

    return await _answer(request, authorization, True, work)


@router.get("/lamps", summary="Every lamp and cabinet with its ids")
async def get_lamps(request: Request, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        return [service.lamp_json(lamp) for lamp in await service.lamps(_engine(request))], 200

    return await _answer(request, authorization, False, work)


@router.post(
    "/schedules",
    responses=plain_errors(400, 403, 404, 413),
    openapi_extra=_SCHEDULE,
    summary="Create a schedule for a group (dusk/dawn, profile, exceptions)",
)
async def post_schedule(request: Request, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        return await service.create_schedule(_engine(request), principal, await _body(request)), 201

    return await _answer(request, authorization, True, work)


@router.get("/schedules", summary="Every schedule")
async def get_schedules(request: Request, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        return await service.list_schedules(_engine(request)), 200

    return await _answer(request, authorization, False, work)


@router.get(
    "/schedules/{schedule_id}",
    responses=plain_errors(404),
    summary="A schedule and the switchings it issued",
)
async def get_schedule(
    request: Request, schedule_id: PathId, authorization: Auth = None
) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        return await service.schedule_detail(_engine(request), schedule_id), 200

    return await _answer(request, authorization, False, work)


@router.get(
    "/tasks",
    responses=plain_errors(400),
    summary="The newest lighting Tasks' outcomes (?status=failed ...)",
)
async def get_tasks(request: Request, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        status = request.query_params.get("status")
        return await service.task_outcomes(
            _engine(request), _settings(request), status, bus=_bus(request)
        ), 200

    return await _answer(request, authorization, False, work)


@router.get(
    "/tasks/{task_id}",
    responses=plain_errors(404),
    summary="A lighting Task's outcome: pending, confirmed or failed",
)
async def get_task(request: Request, task_id: PathId, authorization: Auth = None) -> Response:
    async def work(principal: Principal) -> tuple[Any, int]:
        return await service.task_outcome(
            _engine(request), _settings(request), task_id, bus=_bus(request)
        ), 200

    return await _answer(request, authorization, False, work)


@router.get(
    "/faults",
    responses=plain_errors(400),
    summary="Faults in the readings of from-to raised, ended ones cleared",
)
async def get_faults(request: Request, authorization: Auth = None) -> Response:
    params = request.query_params

    async def work(principal: Principal) -> tuple[Any, int]:
        found = await service.scan_faults(
            _engine(request),
            _settings(request),
            _time(params.get("from"), "from"),
            _time(params.get("to"), "to"),
        )
        return found | {"alerts": await service.fault_alerts(_engine(request))}, 200

    return await _answer(request, authorization, False, work)


@router.get(
    "/energy",
    responses=plain_errors(400),
    summary="kWh per lamp, group and day; savings against full power",
)
async def get_energy(request: Request, authorization: Auth = None) -> Response:
    params = request.query_params

    async def work(principal: Principal) -> tuple[Any, int]:
        answer = await service.energy(
            _engine(request),
            _time(params.get("from"), "from"),
            _time(params.get("to"), "to"),
            params.get("group", "district"),
            zone_of(_settings(request)),
        )
        return answer, 200

    return await _answer(request, authorization, False, work)
