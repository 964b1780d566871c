"""The industrial parks' compliance page (`/parks`): for the park's staff, a park's
compliance rate, exceedances per tenant and month, and tenants' water and energy per unit of
output; for everyone who may see them, each station's parameters against the limits that
judged them (regulation and edition, and whether the limit's value is verified). A tenant
sees only its own stations, as `GET /api/city/parks/...` allows it; thin over
`cityhelix.city.service`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.auth.principal import Principal
from cityhelix.city import service as city
from cityhelix.web.routes.city_common import (
    engine_of,
    province_days,
    province_zone,
    refused,
    render_city,
    time_text,
)
from cityhelix.web.security import SignInRequired, WebRoute
from cityhelix.web.signin import MaybeUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the period's default length, in the province's days up to today
DEFAULT_DAYS = 30


def _signed_in(user: Principal | None) -> Principal:
    if user is None:
        raise SignInRequired(api=False)
    return user


@router.get("/parks")
async def parks_page(request: Request, user: MaybeUser) -> Response:
    """A park's figures (`?park=`, staff) and the stations the user may see, over
    `?from=YYYY-MM-DD&to=YYYY-MM-DD` (the province's days, both included)."""
    principal = _signed_in(user)
    engine = engine_of(request)
    zone = province_zone(request)
    try:
        first, last, start, end = province_days(request, datetime.now(UTC), DEFAULT_DAYS)
        stations = await city.park_stations_of(engine, principal)
        staff = principal.role in city.PARK_STAFF
        parks = sorted({str(s["park"]) for s in stations if s["park"]})
        chosen = request.query_params.get("park") or (parks[0] if parks else None)
        overview: dict[str, Any] | None = None
        if staff and chosen is not None:
            overview = await city.park_overview(engine, principal, chosen, start, end, zone)
        shown = [s for s in stations if not staff or s["park"] == chosen]
        details = [
            await city.park_station(engine, principal, s["thing_id"], start, end, zone)
            for s in shown
        ]
    except city.CityError as error:
        return refused(request, error)
    return render_city(
        request,
        "city/parks.html",
        {
            "staff": staff,
            "parks": parks,
            "chosen": chosen,
            "overview": overview,
            "months": sorted(
                {
                    m
                    for counts in (overview or {}).get("exceedances_by_tenant", {}).values()
                    for m in counts
                }
            ),
            "stations": details,
            "first": first.isoformat(),
            "last": last.isoformat(),
            "start": time_text(start),
            "end": time_text(end),
        },
    )
