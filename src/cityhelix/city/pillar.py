"""The city services pillar as the app composes it: one router per domain (mounted from
`ROUTERS`, so a domain is one line), the camera-event consumer, its table and history."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from cityhelix.city.http import air, parks, traffic, water
from cityhelix.city.traffic.consumer import running
from cityhelix.pillar import Pillar

#: the domains' routers, in mounting order (parks last: its `/{park}` catches the rest)
ROUTERS: tuple[APIRouter, ...] = (
    air.router,
    traffic.router,
    water.router,
    parks.router,
)

PILLAR = Pillar(
    name="city",
    routers=ROUTERS,
    lifespan=running,
    table_modules=("cityhelix.city.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
