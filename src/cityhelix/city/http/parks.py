"""`/api/city/parks`: monitoring stations against QCVN limits, a park's compliance overview,
the limit rules and their alerts (a tenant sees its own stations only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request

from cityhelix.city import service
from cityhelix.city.const import API_PREFIX
from cityhelix.city.days import zone_of
from cityhelix.city.http.deps import (
    Auth,
    PathThingId,
    caller,
    engine_of,
    parse_time,
    settings_of,
)
from cityhelix.city.routes import CityRoute
from cityhelix.openapi_errors import plain_errors

router = APIRouter(
    prefix=f"{API_PREFIX}/parks",
    route_class=CityRoute,
    tags=["city: parks"],
    responses=plain_errors(401, 403, 429),
)


def _period(request: Request) -> tuple[datetime, datetime]:
    """[from, to) from the query (default: the last 30 days)."""
    given_to = request.query_params.get("to")
    given_from = request.query_params.get("from")
    to = parse_time(given_to, "to") if given_to else datetime.now(UTC)
    return (parse_time(given_from, "from") if given_from else to - timedelta(days=30)), to


@router.get("/stations")
async def stations(request: Request, authorization: Auth = None) -> dict[str, Any]:
    """The monitoring stations the caller may see."""
    principal = await caller(request, authorization, write=True)
    return {"value": await service.park_stations_of(engine_of(request), principal)}


@router.get("/stations/{thing_id}", responses=plain_errors(400, 404, 422))
async def station(
    request: Request, thing_id: PathThingId, authorization: Auth = None
) -> dict[str, Any]:
    """A station's limits, latest values, exceedances by month and resource use."""
    principal = await caller(request, authorization, write=True)
    start, end = _period(request)
    return await service.park_station(
        engine_of(request), principal, thing_id, start, end, zone_of(settings_of(request))
    )


@router.post("/stations/{thing_id}/rules", status_code=201, responses=plain_errors(404, 422))
async def station_rules(
    request: Request, thing_id: PathThingId, authorization: Auth = None
) -> dict[str, Any]:
    """Make each limited parameter raise alerts above its applicable limit (ops rules)."""
    principal = await caller(request, authorization, write=True)
    return {"value": await service.watch_park_station(engine_of(request), principal, thing_id)}


@router.get("/alerts")
async def alerts(
    request: Request, park: str | None = None, authorization: Auth = None
) -> dict[str, Any]:
    """The limit rules' alerts, each with its tenant (a tenant: its own)."""
    principal = await caller(request, authorization, write=True)
    return {"value": await service.park_alerts(engine_of(request), principal, park)}


@router.get("/{park}", responses=plain_errors(400, 404, 422))
async def overview(request: Request, park: str, authorization: Auth = None) -> dict[str, Any]:
    """The park operator's view over [from, to)."""
    principal = await caller(request, authorization, write=True)
    start, end = _period(request)
    return await service.park_overview(
        engine_of(request), principal, park, start, end, zone_of(settings_of(request))
    )
