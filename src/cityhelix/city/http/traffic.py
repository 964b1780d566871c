"""`/api/city/traffic`: levels of service per segment, camera events listed and counted
per hour, and the cameras' alerting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from cityhelix.city import service
from cityhelix.city.const import API_PREFIX
from cityhelix.city.errors import BadRequest
from cityhelix.city.http.deps import Auth, PathThingId, QueryThingId, caller, engine_of, parse_time
from cityhelix.city.routes import CityRoute
from cityhelix.openapi_errors import plain_errors

router = APIRouter(
    prefix=f"{API_PREFIX}/traffic",
    route_class=CityRoute,
    tags=["city: traffic"],
    responses=plain_errors(401, 429),
)


@router.get("/levels", responses=plain_errors(404))
async def levels(
    request: Request, thing_id: QueryThingId | None = None, authorization: Auth = None
) -> dict[str, Any]:
    """Each counter's road segment with its level of service (free, busy, congested, jammed)."""
    await caller(request, authorization, write=False)
    return {"value": await service.traffic_levels(engine_of(request), thing_id)}


@router.post(
    "/segments/{thing_id}/rules", status_code=201, responses=plain_errors(400, 403, 404, 413, 422)
)
async def segment_rules(
    request: Request,
    thing_id: PathThingId,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    """`{"level": "jammed"}`: an ops rule while the segment is at that level or worse."""
    principal = await caller(request, authorization, write=True)
    if not isinstance(body, dict) or not isinstance(body.get("level"), str):
        raise BadRequest("level: expected busy, congested or jammed", field="level")
    return await service.add_traffic_rule(engine_of(request), principal, thing_id, body["level"])


def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    to = parse_time(end, "to") if end else datetime.now(UTC)
    return (parse_time(start, "from") if start else to - timedelta(hours=24)), to


@router.get("/cameras/{thing_id}/events", responses=plain_errors(400, 404, 422))
async def events(
    request: Request, thing_id: PathThingId, to: str | None = None, authorization: Auth = None
) -> dict[str, Any]:
    """The camera's events in [from, to) (default: the last 24 hours), oldest first."""
    await caller(request, authorization, write=False)
    begin, end = _period(request.query_params.get("from"), to)
    found = await service.camera_events(engine_of(request), thing_id, begin, end)
    return {"value": found, "count": len(found)}


@router.get("/cameras/{thing_id}/events/hourly", responses=plain_errors(400, 404, 422))
async def hourly(
    request: Request, thing_id: PathThingId, to: str | None = None, authorization: Auth = None
) -> dict[str, Any]:
    """The camera's events per hour and kind, vehicles per hour and class."""
    await caller(request, authorization, write=False)
    begin, end = _period(request.query_params.get("from"), to)
    return {"value": await service.camera_events_per_hour(engine_of(request), thing_id, begin, end)}


@router.post(
    "/cameras/{thing_id}/alerting", status_code=201, responses=plain_errors(400, 403, 404, 413, 422)
)
async def alerting(
    request: Request,
    thing_id: PathThingId,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    """Make the camera's events raise alerts: `{"events": [...], "min_confidence", "severity"}`."""
    principal = await caller(request, authorization, write=True)
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object", field="body")
    events = body.get("events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(e, str) for e in events)
    ):
        raise BadRequest("events: expected a list of event kinds", field="events")
    confidence = body.get("min_confidence")
    if confidence is not None:
        confidence = service.as_number(confidence, "min_confidence")
    severity = body.get("severity")
    if severity not in (None, "info", "warning", "critical"):
        raise BadRequest("severity: expected info, warning or critical", field="severity")
    made = await service.watch_camera(
        engine_of(request), principal, thing_id, events, confidence, severity
    )
    return {"value": made}
