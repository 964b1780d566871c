"""The water-level page of the console: every flood gauge against its official alert levels
(I, II, III), its rising rate, the time to the next level and the rain, with a 24-hour chart
per gauge (`city-water.js`); thin over `cityhelix.city.service`."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from cityhelix.city import service as city
from cityhelix.web.routes.city_common import engine_of, render_city
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import StaffApi, StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the alert levels in order, as the gauges' data name them
LEVELS = ("I", "II", "III")


def _bar_range(gauge: dict[str, object]) -> tuple[float, float]:
    """The span (m) the gauge's bar shows: from twice the I-III gap below level I (not below
    0) to half that gap above level III, stretched to hold the level itself."""
    levels = gauge["alert_levels_m"]
    assert isinstance(levels, dict)
    low, high = float(levels["I"]), float(levels["III"])
    gap = max(high - low, 0.1)
    floor, top = max(0.0, low - 2 * gap), high + gap / 2
    level = gauge.get("level_m")
    if isinstance(level, int | float):
        floor, top = min(floor, float(level)), max(top, float(level))
    return round(floor, 4), round(top, 4)


@router.get("/console/water")
async def water_page(request: Request, user: StaffPage) -> Response:
    """Every gauge: the table of figures, a bar against its levels and its day's chart."""
    gauges = await city.water_gauges(engine_of(request))
    for gauge in gauges:
        gauge["bar_floor_m"], gauge["bar_top_m"] = _bar_range(gauge)
    source = gauges[0]["source"] if gauges else None
    return render_city(
        request,
        "city/water.html",
        {"gauges": gauges, "levels": LEVELS, "source": source},
    )


@router.get("/console/water/{thing_id}/day.json")
async def water_day(request: Request, thing_id: int, user: StaffApi) -> Response:
    """The gauge's last 24 hours in metres (minute means) with its alert levels."""
    try:
        body = await city.water_level_day(engine_of(request), thing_id, datetime.now(UTC))
    except city.CityError as error:
        return JSONResponse({"detail": error.message}, status_code=error.status)
    return Response(orjson.dumps(body), media_type="application/json")
