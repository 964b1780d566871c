"""`/api/city/water`: gauges against their alert levels, and the flood rules."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from cityhelix.city import service
from cityhelix.city.const import API_PREFIX
from cityhelix.city.errors import BadRequest
from cityhelix.city.http.deps import Auth, PathThingId, caller, engine_of
from cityhelix.city.routes import CityRoute
from cityhelix.openapi_errors import plain_errors

router = APIRouter(
    prefix=f"{API_PREFIX}/water",
    route_class=CityRoute,
    tags=["city: water"],
    responses=plain_errors(401, 429),
)


@router.get("/gauges")
async def gauges(request: Request, authorization: Auth = None) -> dict[str, Any]:
    """Every gauge with alert levels on record, with its state now."""
    await caller(request, authorization, write=False)
    return {"value": await service.water_gauges(engine_of(request))}


@router.get("/gauges/{thing_id}", responses=plain_errors(404, 422))
async def gauge(
    request: Request, thing_id: PathThingId, authorization: Auth = None
) -> dict[str, Any]:
    """A gauge's level, alert level reached, rising rate and time to the next level."""
    await caller(request, authorization, write=False)
    return await service.water_gauge(engine_of(request), thing_id)


@router.post(
    "/gauges/{thing_id}/rules", status_code=201, responses=plain_errors(400, 403, 404, 413, 422)
)
async def rules(
    request: Request,
    thing_id: PathThingId,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    """`{"level": "II"}` (level above II) or `{"rise_cm_per_h": X, "rain_mm_per_h": Y,
    "rain_thing_id": N?}` (rising faster than X while rain over Y), as ops rules."""
    principal = await caller(request, authorization, write=True)
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object", field="body")
    engine = engine_of(request)
    if "level" in body:
        level = body["level"]
        if not isinstance(level, str):
            raise BadRequest("level: expected I, II or III", field="level")
        return await service.add_level_rule(engine, principal, thing_id, level)
    if "rise_cm_per_h" not in body:
        raise BadRequest("level: give level, or rise_cm_per_h and rain_mm_per_h", field="level")
    rain_thing = body.get("rain_thing_id")
    if rain_thing is not None and (isinstance(rain_thing, bool) or not isinstance(rain_thing, int)):
        raise BadRequest("rain_thing_id: expected a Thing id", field="rain_thing_id")
    return await service.add_rise_rule(
        engine,
        principal,
        thing_id,
        service.as_number(body.get("rise_cm_per_h"), "rise_cm_per_h"),
        service.as_number(body.get("rain_mm_per_h"), "rain_mm_per_h"),
        rain_thing,
    )
