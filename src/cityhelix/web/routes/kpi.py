"""The hub's KPIs: Things by kind and state, readings per minute, devices gone quiet."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.settings import Settings
from cityhelix.web.city_map import state_of
from cityhelix.web.const import STATE_COLOURS, STATES
from cityhelix.web.kinds import kind_label
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


@router.get("/console/kpi")
async def kpi(request: Request, user: StaffPage) -> Response:
    """The page; `?fragment=1` answers only its figures (htmx refreshes them)."""
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
    template = "kpi_figures.html" if request.query_params.get("fragment") else "kpi.html"
    return render(request, template, context)
