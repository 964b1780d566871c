"""The city map: the page, its compact data, one Thing's panel and chart, the live stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from cityhelix.hub.errors import HubError, NotFound
from cityhelix.hub.rollups import MINUTE, read_buckets
from cityhelix.hub.values import format_time
from cityhelix.settings import Settings
from cityhelix.web.city_map import state_of, thing_detail
from cityhelix.web.const import STATE_COLOURS, STATES
from cityhelix.web.kinds import kind_label
from cityhelix.web.live import LiveFeed, TooManyListeners
from cityhelix.web.map_cache import MapCache
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import StaffApi, StaffPage
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _map(request: Request) -> MapCache:
    cache: MapCache = request.app.state.web_map
    return cache


#: a comment line every this many seconds keeps proxies from closing a quiet stream
_KEEPALIVE_SECONDS = 15.0


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get("/console")
async def console(request: Request, user: StaffPage) -> Response:
    settings = _settings(request)
    return render(
        request,
        "console.html",
        {
            "states": STATES[1:],  # "alert" arrives with the operations centre
            "state_colours": STATE_COLOURS,
            "stale_minutes": settings.web_stale_minutes,
            "off_hours": settings.web_off_hours,
            "style_url": settings.web_map_style_url,
        },
    )


@router.get("/console/things.json")
async def things_json(request: Request, user: StaffApi) -> Response:
    """Columns, not objects: id, kind, district, state, lon, lat, last reading, Datastreams."""
    settings = _settings(request)
    things = await _map(request).things()
    now = datetime.now(UTC)
    kinds = sorted({t.kind for t in things})
    districts = sorted({t.district for t in things if t.district})
    body = {
        "kinds": kinds,
        "districts": districts,
        "stale_seconds": settings.web_stale_minutes * 60,
        "off_seconds": settings.web_off_hours * 3600,
        "now": now.timestamp(),
        "things": [
            [
                t.id,
                t.name,
                kinds.index(t.kind),
                districts.index(t.district) if t.district else -1,
                state_of(t, settings, now),
                t.lon,
                t.lat,
                round(t.last_reading.timestamp()) if t.last_reading else None,
                list(t.datastreams),
            ]
            for t in things
        ],
    }
    return Response(orjson.dumps(body), media_type="application/json")


def _latest_rows(thing: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for datastream in thing.get("Datastreams", []):
        observations = datastream.get("Observations") or [{}]
        unit = datastream.get("unitOfMeasurement") or {}
        rows.append(
            {
                "id": datastream["@iot.id"],
                "name": datastream.get("name", ""),
                "symbol": unit.get("symbol", "") if isinstance(unit, dict) else "",
                "result": observations[0].get("result"),
                "time": observations[0].get("phenomenonTime"),
            }
        )
    return rows


@router.get("/console/things/{thing_id}")
async def thing_panel(request: Request, thing_id: int, user: StaffPage) -> Response:
    """The side panel (an htmx fragment): latest values and a chart per Datastream."""
    try:
        thing = await thing_detail(request.app.state.engine, _settings(request), thing_id)
    except NotFound:
        return render(request, "panel_missing.html", {"thing_id": thing_id}, status=404)
    properties = thing.get("properties") or {}
    kind = str(properties.get("kind", "other"))
    return render(
        request,
        "panel.html",
        {
            "thing": thing,
            "kind_label": kind_label(kind),
            "district": properties.get("district", ""),
            "rows": _latest_rows(thing),
        },
    )


@router.get("/console/datastreams/{datastream_id}/day")
async def datastream_day(request: Request, datastream_id: int, user: StaffApi) -> Response:
    """The last 24 hours of a Datastream as minute means, from the hub's aggregates."""
    end = datetime.now(UTC)
    try:
        buckets = await read_buckets(
            request.app.state.engine, datastream_id, MINUTE, end - timedelta(hours=24), end
        )
    except HubError as error:
        return JSONResponse({"detail": str(error)}, status_code=error.status)
    return Response(
        orjson.dumps(
            {
                "datastream": datastream_id,
                "points": [
                    [format_time(b.start), round(b.mean, 4), b.minimum, b.maximum] for b in buckets
                ],
            }
        ),
        media_type="application/json",
    )


@router.get("/console/events")
async def events(request: Request, user: StaffApi) -> Response:
    """Server-sent events: one `readings` message per tick with [Datastream, time, result]."""
    feed: LiveFeed = request.app.state.web_live

    async def stream() -> AsyncIterator[bytes]:
        try:
            async with feed.listen() as queue:
                yield b"retry: 2000\n: connected\n\n"
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), _KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    yield b"event: readings\ndata: " + message + b"\n\n"
        except TooManyListeners:
            yield b"retry: 30000\nevent: busy\ndata: {}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
