"""The traffic page of the console: each counter's road segment with its level of service,
and each camera's analytics events of the last hours (kind, time, confidence, a link to the
gateway's clip: never the video itself) with its counts per hour; thin over
`cityhelix.city.service`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.city import service as city
from cityhelix.web.routes.city_common import engine_of, refused, render_city, time_text, web_link
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the hours of camera events the page offers, the default first
HOURS = (6, 1, 3, 12, 24)
#: a camera's events listed on the page at most (newest first); the counts cover them all
LISTED = 50


def _hours(request: Request) -> int:
    text = request.query_params.get("hours")
    if text is None:
        return HOURS[0]
    if not text.isdigit() or int(text) not in HOURS:
        raise city.BadRequest(
            f"hours: expected one of {', '.join(str(h) for h in sorted(HOURS))}", "hours"
        )
    return int(text)


async def _camera(request: Request, camera: dict[str, Any], start: datetime, end: datetime) -> None:
    engine = engine_of(request)
    events = await city.camera_events(engine, camera["thing_id"], start, end)
    for event in events:
        event["clip_link"] = web_link(event.get("clip_url"))
        event["snapshot_link"] = web_link(event.get("snapshot_url"))
    camera["event_count"] = len(events)
    camera["events"] = list(reversed(events))[:LISTED]
    hourly = await city.camera_events_per_hour(engine, camera["thing_id"], start, end)
    camera["hourly"] = list(reversed(hourly))


@router.get("/console/traffic")
async def traffic_page(request: Request, user: StaffPage) -> Response:
    """Segments by level of service, then each camera's events and counts per hour."""
    try:
        hours = _hours(request)
    except city.CityError as error:
        return refused(request, error)
    end = datetime.now(UTC)
    start = end - timedelta(hours=hours)
    engine = engine_of(request)
    segments = await city.traffic_levels(engine)
    cameras = await city.traffic_cameras(engine)
    for camera in cameras:
        await _camera(request, camera, start, end)
    return render_city(
        request,
        "city/traffic.html",
        {
            "segments": segments,
            "cameras": cameras,
            "hours": hours,
            "hour_choices": sorted(HOURS),
            "listed": LISTED,
            "start": time_text(start),
            "end": time_text(end),
        },
    )
