"""What the web layer serves (its `Mount`, named by `web/pillar.py`): its routers (pages,
console, static files) and the live feed it owns for the life of the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from cityhelix.pillar import Mount
from cityhelix.settings import Settings
from cityhelix.web.live import LiveFeed
from cityhelix.web.map_cache import MapCache
from cityhelix.web.routes import (
    account,
    city_air,
    city_lighting,
    city_parks,
    city_traffic,
    city_water,
    console,
    helix,
    helix_open_data,
    helix_programmes,
    invest_import,
    invest_policies,
    invest_portal,
    invest_staff,
    kpi,
    ops_alerts,
    ops_common,
    ops_incidents,
    ops_rules,
    public,
    report,
)

STATIC = Path(__file__).with_name("static")

static_router = APIRouter()
# vendor/ is filled by `make install` (npm ci); check_dir=False so the app starts without it
static_router.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")


@asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The live feed of the console, subscribed to the event bus while the app runs, and the
    map's rows it keeps true."""
    feed = LiveFeed(app.state.engine, app.state.bus)
    await feed.start()
    app.state.web_live = feed
    try:
        async with MapCache.following(app.state.engine, app.state.bus) as cache:
            app.state.web_map = cache
            yield
    finally:
        await feed.stop()


MOUNT = Mount(
    routers=(
        public.router,
        account.router,
        console.router,
        kpi.router,
        city_air.router,
        city_water.router,
        city_traffic.router,
        city_lighting.router,
        city_parks.router,
        invest_portal.router,
        invest_staff.router,
        invest_policies.router,
        invest_import.router,
        report.router,
        helix.router,
        helix_programmes.router,
        helix_open_data.router,
        ops_common.router,
        ops_alerts.router,
        ops_incidents.router,
        ops_rules.router,
        static_router,
    ),
    lifespan=lifespan,
)
