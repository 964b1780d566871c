"""The public air-quality page: every station's current VN_AQI on a map and in a table, in
the Decision's colours, with its health advice; thin over `cityhelix.city.service`."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.city import service as city
from cityhelix.settings import Settings
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import MaybeUser
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/air")
async def air_page(request: Request, user: MaybeUser) -> Response:
    """The page: the table is rendered here, the map draws the same rows (`air.js`)."""
    settings: Settings = request.app.state.settings
    stations = await city.air_stations_now(request.app.state.engine)
    return render(
        request,
        "city/air.html",
        {
            "stations": stations,
            "categories": city.aqi_categories(),
            "source": city.aqi_source(),
            "style_url": settings.web_map_style_url,
        },
    )


@router.get("/air/stations.json")
async def air_stations(request: Request) -> Response:
    """The map's rows: each station's place, index and colour (public data)."""
    stations = await city.air_stations_now(request.app.state.engine)
    rows = [
        {
            key: station.get(key)
            for key in ("thing_id", "name", "district", "lon", "lat", "aqi", "colour", "category")
        }
        for station in stations
    ]
    return Response(orjson.dumps({"stations": rows}), media_type="application/json")
