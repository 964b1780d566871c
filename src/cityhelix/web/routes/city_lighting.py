"""The street-lighting page of the console: the schedules with their groups and next
switching, the open faults (kind, lamp, since), and the energy per district for a chosen
period of the province's days with the savings against full power; thin over
`cityhelix.city.service`."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.city import service as city
from cityhelix.web.routes.city_common import (
    engine_of,
    province_days,
    province_zone,
    refused,
    render_city,
    time_text,
)
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the energy period's default length, in the province's days up to today
DEFAULT_DAYS = 7


@router.get("/console/lighting")
async def lighting_page(request: Request, user: StaffPage) -> Response:
    """Schedules, open faults and energy by district (`?from=YYYY-MM-DD&to=YYYY-MM-DD`)."""
    now = datetime.now(UTC)
    engine = engine_of(request)
    try:
        first, last, start, end = province_days(request, now, DEFAULT_DAYS)
        energy = await city.lighting_energy(engine, start, end, province_zone(request))
    except city.CityError as error:
        return refused(request, error)
    return render_city(
        request,
        "city/lighting.html",
        {
            "schedules": await city.lighting_schedules_now(engine, now),
            "faults": await city.lighting_open_faults(engine),
            "energy": energy,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "start": time_text(start),
            "end": time_text(end),
        },
    )
