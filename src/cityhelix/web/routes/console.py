"""The city map: the page, its compact data, one Thing's panel and chart, the live stream."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from cityhelix.hub import service
from cityhelix.settings import Settings
from cityhelix.web.city_map import (
    MAX_ZOOM,
    POINTS_IN_VIEW,
    WORLD,
    Bounds,
    MapFilter,
    map_view,
    state_of,
)
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


def _bad(field: str, expected: str) -> JSONResponse:
    return JSONResponse({"detail": f"{field}: {expected}"}, status_code=400)


def _view_of(request: Request) -> tuple[MapFilter, Bounds, float, int] | JSONResponse:
    """The view's filter, bounding box and zoom from the query; a 400 naming the field."""
    query = request.query_params
    bounds = WORLD
    if query.get("bbox"):
        try:
            west, south, east, north = (float(v) for v in query["bbox"].split(","))
        except ValueError:
            return _bad("bbox", "expected west,south,east,north in degrees")
        if not all(math.isfinite(v) for v in (west, south, east, north)) or not (
            -90 <= south <= north <= 90 and -540 <= west <= 540 and -540 <= east <= 540
        ):
            return _bad("bbox", "expected west,south,east,north with south <= north")
        if east - west >= 360:
            west, east = -180.0, 180.0
        # a map panned past the antimeridian sends longitudes beyond 180: wrap them
        west, east = (west + 180) % 360 - 180, (east + 180) % 360 - 180
        bounds = Bounds(west, south, east, north)
    zoom = 0.0
    if query.get("zoom"):
        try:
            zoom = float(query["zoom"])
        except ValueError:
            return _bad("zoom", "expected a number from 0 to 24")
        if not 0 <= zoom <= MAX_ZOOM:
            return _bad("zoom", "expected a number from 0 to 24")
    points = POINTS_IN_VIEW
    if query.get("points"):
        if not query["points"].isdigit() or not 1 <= int(query["points"]) <= POINTS_IN_VIEW:
            return _bad("points", f"expected a whole number from 1 to {POINTS_IN_VIEW}")
        points = int(query["points"])
    states = frozenset(query.getlist("state"))
    if not states <= set(STATES):
        return _bad("state", f"expected one of {', '.join(STATES)}")
    chosen = MapFilter(
        kinds=frozenset(query.getlist("kind")),
        district=query.get("district", ""),
        states=states,
    )
    return chosen, bounds, zoom, points


@router.get("/console/things.json")
async def things_json(request: Request, user: StaffApi) -> Response:
    """What the map's view shows, as columns, not objects: each device in view as id, name,
    kind, district, state, lon, lat, last reading, Datastreams; when they are many, clusters
    as lon, lat, count, bounds, states. `bbox`, `zoom`, `kind`, `district`, `state` say the
    view (none: the whole city); `points` lowers the number of devices sent as themselves
    before the view is clustered (a small screen may want fewer)."""
    view = _view_of(request)
    if isinstance(view, JSONResponse):
        return view
    chosen, bounds, zoom, points = view
    settings = _settings(request)
    things = await _map(request).things()
    now = datetime.now(UTC)
    states = {t.id: state_of(t, settings, now) for t in things}
    shown = await asyncio.to_thread(map_view, things, states, chosen, bounds, zoom, points)
    kinds = sorted({t.kind for t in things})
    districts = sorted({t.district for t in things if t.district})
    kind_index = {kind: index for index, kind in enumerate(kinds)}
    district_index = {district: index for index, district in enumerate(districts)}
    body = {
        "kinds": kinds,
        "districts": districts,
        "stale_seconds": settings.web_stale_minutes * 60,
        "off_seconds": settings.web_off_hours * 3600,
        "now": now.timestamp(),
        "total": len(things),
        "matched": shown.matched,
        "extent": shown.extent,
        "things": [
            [
                t.id,
                t.name,
                kind_index[t.kind],
                district_index.get(t.district, -1),
                state,
                t.lon,
                t.lat,
                round(t.last_reading.timestamp()) if t.last_reading else None,
                list(t.datastreams),
            ]
            for t, state in shown.points
        ],
        "clusters": [
            [round(c.lon, 6), round(c.lat, 6), c.count, c.bounds, c.states] for c in shown.clusters
        ],
        "watched": shown.watched,
    }
    return Response(orjson.dumps(body), media_type="application/json")


#: devices a name search answers with at most
_FOUND_AT_MOST = 20


@router.get("/console/find.json")
async def find_device(request: Request, user: StaffApi, name: str = "") -> Response:
    """Devices whose name holds `name` (case-insensitive), as id, name, lon, lat."""
    wanted = name.strip().casefold()[:200]
    if not wanted:
        return _bad("name", "expected part of a device's name")
    found = [
        [t.id, t.name, t.lon, t.lat]
        for t in await _map(request).things()
        if wanted in t.name.casefold()
    ]
    found.sort(key=lambda row: (not str(row[1]).casefold().startswith(wanted), str(row[1])))
    return Response(orjson.dumps({"found": found[:_FOUND_AT_MOST]}), media_type="application/json")


def _latest_rows(thing: service.ThingDetail) -> list[dict[str, Any]]:
    return [
        {
            "id": datastream.id,
            "name": datastream.name,
            "symbol": datastream.unit_symbol,
            "result": datastream.latest.result if datastream.latest else None,
            "time": service.reading_time(datastream.latest) if datastream.latest else None,
        }
        for datastream in thing.datastreams
    ]


@router.get("/console/things/{thing_id}")
async def thing_panel(request: Request, thing_id: int, user: StaffPage) -> Response:
    """The side panel (an htmx fragment): latest values and a chart per Datastream."""
    try:
        thing = await service.thing_detail(request.app.state.engine, thing_id)
    except service.NotFound:
        return render(request, "panel_missing.html", {"thing_id": thing_id}, status=404)
    properties = thing.properties
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
        buckets = await service.minute_buckets(
            request.app.state.engine, datastream_id, end - timedelta(hours=24), end
        )
    except service.HubError as error:
        return JSONResponse({"detail": str(error)}, status_code=error.status)
    return Response(
        orjson.dumps(
            {
                "datastream": datastream_id,
                "points": [
                    [service.format_time(b.start), round(b.mean, 4), b.minimum, b.maximum]
                    for b in buckets
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
