"""What the city-services pages share: the labels of the city's codes (source strings for
the catalogues), a period of the province's days read from the query, and the city
service's refusals as an HTML page.

The pages are thin over `cityhelix.city.service`: every number they show is computed there,
the same as behind `/api/city`.
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city import service as city
from cityhelix.settings import Settings
from cityhelix.web.kinds import N_
from cityhelix.web.templating import render_labelled

#: the longest period a page reads at once (the city service's own bound is 366 days)
MAX_DAYS = 92

#: how the pages name the city services' codes
CITY_LABELS: dict[str, str] = {
    # levels of service (level_of_service.json)
    "free": N_("Free"),
    "busy": N_("Busy"),
    "congested": N_("Congested"),
    "jammed": N_("Jammed"),
    # camera events (camera_events.json)
    "vehicle_count": N_("Vehicle count"),
    "speeding": N_("Speeding"),
    "red_light": N_("Red-light running"),
    "wrong_way": N_("Wrong-way driving"),
    "fire_smoke": N_("Fire or smoke"),
    "crowding": N_("Crowding"),
    "abandoned_object": N_("Abandoned object"),
    "unknown": N_("Unknown"),
    # vehicle classes
    "motorbike": N_("Motorbike"),
    "car": N_("Car"),
    "bus": N_("Bus"),
    "truck": N_("Truck"),
    "bicycle": N_("Bicycle"),
    # lighting faults (faults.json) and lamp kinds
    "lamp_failure": N_("Lamp failure"),
    "day_burner": N_("Day-burner"),
    "flicker": N_("Flicker"),
    "cabinet_offline": N_("Cabinet offline"),
    "lamp": N_("Lamp"),
    "district": N_("District"),
    "road": N_("Road"),
    "cabinet": N_("Control cabinet"),
    # alert states
    "active": N_("Active"),
    "acknowledged": N_("Acknowledged"),
    # park monitoring stations
    "park_outlet": N_("Park outlet (central plant)"),
    "park_tenant": N_("Tenant connection"),
    "park_stack": N_("Stack emissions"),
    # eco-industrial-park indicators (eip_indicators.json)
    "wastewater_compliance_rate": N_("Share of wastewater readings within the applicable limits"),
    "tenants_monitored_share": N_(
        "Share of tenants with a continuously monitored wastewater connection"
    ),
    "water_per_output": N_("Water use per unit of output"),
    "energy_per_output": N_("Energy use per unit of output"),
}


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def province_zone(request: Request) -> tzinfo:
    settings: Settings = request.app.state.settings
    return city.province_zone(settings)


def city_label(gettext: Any, code: object) -> str:
    """The translated label of a city code, or the code itself (escaped by the template)."""
    text = CITY_LABELS.get(str(code))
    return str(gettext(text)) if text is not None else str(code)


def web_link(url: object) -> str | None:
    """`url` when it is an absolute http(s) link (a gateway's clip), else None: a link the
    page renders must not run script (`javascript:`) or point nowhere."""
    if not isinstance(url, str) or len(url) > 2000:
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _day(text: str | None, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise city.BadRequest(f"{field}: expected YYYY-MM-DD, got {text[:40]!r}", field) from None


def province_days(
    request: Request, now: datetime, default_days: int
) -> tuple[date, date, datetime, datetime]:
    """The query's `from` and `to` (province days, both included; default: the last
    `default_days` days up to today) and the UTC instants [start, end) they span."""
    settings: Settings = request.app.state.settings
    return city.province_days(
        settings,
        _day(request.query_params.get("from"), "from"),
        _day(request.query_params.get("to"), "to"),
        now,
        default_days,
        MAX_DAYS,
    )


def render_city(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """`render` with `label(code)`: a city code's name in the page's language."""
    return render_labelled(request, template, context, city_label, status)


def refused(request: Request, error: city.CityError) -> HTMLResponse:
    """The city service's refusal as a page with its status and message."""
    return render_city(
        request, "city/refused.html", {"status": error.status, "message": error.message},
        status=error.status,
    )  # fmt: skip


def time_text(value: datetime) -> str:
    """A UTC instant as the wire writes it (`...Z`)."""
    return value.isoformat().replace("+00:00", "Z")
