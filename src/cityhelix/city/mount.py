"""What the city services pillar serves (its `Mount`, named by `city/pillar.py`): one router
per domain and one lifespan per domain that runs background work, each mounted from its
list (adding a domain, as lighting, is a line in each list it needs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI

from cityhelix.city.http import air, parks, traffic, water
from cityhelix.city.lighting import http as lighting
from cityhelix.city.lighting import running as lighting_running
from cityhelix.city.traffic import consumer
from cityhelix.pillar import Lifespan, Mount
from cityhelix.settings import Settings

#: the domains' routers, in mounting order (parks last: its `/{park}` catches the rest)
ROUTERS: tuple[APIRouter, ...] = (
    air.router,
    traffic.router,
    water.router,
    lighting.router,
    parks.router,
)

#: the domains' background work, entered in this order and left in reverse
LIFESPANS: tuple[Lifespan, ...] = (consumer.running, lighting_running.running)


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Every domain's lifespan for the life of the app."""
    async with contextlib.AsyncExitStack() as stack:
        for lifespan in LIFESPANS:
            await stack.enter_async_context(lifespan(app, settings))
        yield


MOUNT = Mount(routers=ROUTERS, lifespan=running)
