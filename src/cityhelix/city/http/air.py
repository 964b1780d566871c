"""`/api/city/air`: VN_AQI per station (hourly, daily) and every station's current index."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from cityhelix.city import service
from cityhelix.city.const import API_PREFIX
from cityhelix.city.days import zone_of
from cityhelix.city.errors import BadRequest
from cityhelix.city.http.deps import (
    Auth,
    QueryThingId,
    caller,
    engine_of,
    parse_date,
    parse_hour,
    settings_of,
)
from cityhelix.city.routes import CityRoute
from cityhelix.openapi_errors import plain_errors

router = APIRouter(
    prefix=f"{API_PREFIX}/air",
    route_class=CityRoute,
    tags=["city: air quality"],
    responses=plain_errors(401, 429),
)


@router.get("/aqi", responses=plain_errors(400, 404, 422))
async def aqi(
    request: Request,
    thing_id: QueryThingId,
    date: str | None = None,
    hour: str | None = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    """The station's daily (`date=YYYY-MM-DD`) or hourly (`hour=YYYY-MM-DDTHH`, UTC) VN_AQI."""
    await caller(request, authorization, write=False)
    if (date is None) == (hour is None):
        raise BadRequest("date: give exactly one of date (daily) or hour (hourly)", field="date")
    if date is not None:
        return await service.daily_aqi(
            engine_of(request), thing_id, parse_date(date), zone_of(settings_of(request))
        )
    assert hour is not None
    return await service.hourly_aqi(engine_of(request), thing_id, parse_hour(hour))


@router.get("/stations")
async def stations(request: Request, authorization: Auth = None) -> dict[str, Any]:
    """Every air-quality station with its current hourly index (the map's data)."""
    await caller(request, authorization, write=False)
    return {"value": await service.air_stations_now(engine_of(request))}


@router.get("/districts")
async def districts(request: Request, authorization: Auth = None) -> dict[str, Any]:
    """Each district's current index (its worst station)."""
    await caller(request, authorization, write=False)
    found = await service.current_aqi_by_district(engine_of(request))
    return {"value": [vars(d) for d in found.values()]}
