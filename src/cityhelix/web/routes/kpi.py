"""The KPI dashboard: the hub's figures (Things by kind and state, readings per minute,
devices gone quiet) and the operations centre's (`ops.service.key_figures`, what
`GET /api/ops/kpis` answers), as a page and as a wall screen (`?layout=wall`: big type, no
chrome, refreshed by htmx and by the live feed)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.auth.principal import Principal, Role
from cityhelix.city import service as city
from cityhelix.ops import service as ops
from cityhelix.settings import Settings
from cityhelix.web.city_map import state_of
from cityhelix.web.const import STATE_COLOURS, STATES
from cityhelix.web.i18n import choose_language
from cityhelix.web.kinds import N_, kind_label
from cityhelix.web.live import LiveFeed
from cityhelix.web.map_cache import MapCache
from cityhelix.web.security import WebRoute
from cityhelix.web.signin import StaffPage
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)


def _map(request: Request) -> MapCache:
    cache: MapCache = request.app.state.web_map
    return cache


#: quiet devices listed on the page at most
_QUIET_LISTED = 50
#: who sees the operations centre's figures (as `GET /api/ops/kpis` allows)
OPS_FIGURE_ROLES = frozenset({Role.ADMIN, Role.OPERATOR})
#: alert severities as the UI names them (the keys are the rules' severities)
SEVERITY_LABELS: dict[str, str] = {
    "info": N_("Information"),
    "warning": N_("Warning"),
    "critical": N_("Critical"),
}


@dataclass(frozen=True)
class DistrictAirQuality:
    """One district's air quality for the wall: its VN_AQI value, band and band colour."""

    district: str
    aqi: int
    #: the band's name in the page's language, as Decision 1459/QĐ-TCMT names it
    band: str
    #: the band's colour (VN_AQI, Decision 1459/QĐ-TCMT), e.g. "#00e400"
    colour: str


async def air_quality_by_district(request: Request) -> list[DistrictAirQuality]:
    """The panel "Air quality by district": each district's current VN_AQI (its worst
    station's hourly index, from the city services), with the Decision's own category name
    in the page's language; drawn only when some district has an index."""
    vietnamese = choose_language(request) == "vi"
    districts = await city.current_aqi_by_district(request.app.state.engine)
    return [
        DistrictAirQuality(
            row.district,
            row.aqi,
            (row.category_vi if vietnamese else row.category_en) or row.category or "",
            row.colour,
        )
        for row in districts.values()
        if row.aqi is not None and row.colour is not None
    ]


def _duration_parts(seconds: float | None) -> dict[str, int] | None:
    """Hours and minutes of a duration (rounded to the minute), for the templates."""
    if seconds is None:
        return None
    minutes = round(seconds / 60)
    return {"hours": minutes // 60, "minutes": minutes % 60}


async def ops_figures(request: Request, catalogue: ops.Catalogue) -> dict[str, Any]:
    """The operations centre's key figures of the last 24 hours, laid out for the page."""
    window = ops.key_figures_window(None, None)
    figures = await ops.key_figures(request.app.state.engine, window)
    open_by = figures["open_by_department"]
    overdue_by = figures["overdue_by_department"]
    codes = list(catalogue.departments) + sorted(
        (set(open_by) | set(overdue_by)) - set(catalogue.departments)
    )
    departments = [
        {
            "code": code,
            "name": catalogue.departments[code].name if code in catalogue.departments else code,
            "open": sum(open_by.get(code, {}).values()),
            "overdue": sum(overdue_by.get(code, {}).values()),
        }
        for code in codes
    ]
    durations = {
        name: {key: figures[name][key] for key in ("count", "mean_seconds", "p90_seconds")}
        | {
            "mean": _duration_parts(figures[name]["mean_seconds"]),
            "p90": _duration_parts(figures[name]["p90_seconds"]),
        }
        for name in ("time_to_acknowledge", "time_to_resolve")
    }
    return {
        "from": figures["from"],
        "to": figures["to"],
        "departments": departments,
        "open_total": sum(d["open"] for d in departments),
        "overdue": figures["overdue"],
        "durations": durations,
        "alerts": list(figures["alerts_by_severity"].items()),
        "severity_labels": SEVERITY_LABELS,
        "readings": figures["readings"],
        "readings_per_minute": figures["readings_per_minute"],
    }


def _sees_ops(user: Principal) -> bool:
    return user.role in OPS_FIGURE_ROLES


@router.get("/console/kpi")
async def kpi(request: Request, user: StaffPage) -> Response:
    """The page; `?fragment=1` answers only its figures (htmx refreshes them);
    `?layout=wall` the wall screen."""
    settings: Settings = request.app.state.settings
    feed: LiveFeed = request.app.state.web_live
    now = datetime.now(UTC)
    things = await _map(request).things()
    states = {t.id: state_of(t, settings, now) for t in things}
    by_kind: Counter[str] = Counter(t.kind for t in things)
    by_state: Counter[str] = Counter(states.values())
    quiet = sorted(
        (t for t in things if states[t.id] != "normal"),
        key=lambda t: t.last_reading or datetime.min.replace(tzinfo=UTC),
    )
    per_minute = feed.readings_per_minute()
    context = {
        "total": len(things),
        "by_kind": [(kind_label(kind), count) for kind, count in by_kind.most_common()],
        "by_state": [(state, by_state.get(state, 0), STATE_COLOURS[state]) for state in STATES[1:]],
        "quiet": quiet[:_QUIET_LISTED],
        "quiet_count": len(quiet),
        "quiet_states": states,
        "per_minute_json": orjson.dumps(
            [[minute * 60_000, count] for minute, count in per_minute]
        ).decode(),
        "last_minute": per_minute[-2][1] if len(per_minute) > 1 else 0,
        "ingest_total": getattr(request.app.state.ingest, "readings", 0),
    }
    catalogue = ops.load_catalogue(settings.ops_catalogue)
    context["ops"] = await ops_figures(request, catalogue) if _sees_ops(user) else None
    context["air_quality"] = await air_quality_by_district(request)
    wall = request.query_params.get("layout") == "wall"
    fragment = bool(request.query_params.get("fragment"))
    if wall:
        template = "wall_figures.html" if fragment else "wall.html"
    else:
        template = "kpi_figures.html" if fragment else "kpi.html"
    return render(request, template, context)
