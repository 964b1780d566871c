"""The city services pillar as the app composes it: one router per domain (mounted from
`ROUTERS`, so a domain is one line), its background work, its tables and history.

Minimal on the lighting branch; the other domains (air, traffic, water, parks) add their
routers and lifespan here when the branches merge.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter

from cityhelix.city.lighting import http as lighting
from cityhelix.city.lighting.running import running
from cityhelix.pillar import Pillar

#: the domains' routers, in mounting order
ROUTERS: tuple[APIRouter, ...] = (lighting.router,)

PILLAR = Pillar(
    name="city",
    routers=ROUTERS,
    lifespan=running,
    table_modules=("cityhelix.city.lighting.tables",),
    migrations=Path(__file__).with_name("migrations") / "versions",
)
