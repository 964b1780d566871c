"""What a pillar adds to the running system, as data the composition (`app`, `cli`) reads.

Each pillar package has a `pillar.py` exposing `PILLAR: Pillar`; `app.py` and the CLI know
the list of pillars and nothing of their insides. A pillar's routers carry their own error
format (a `route_class` that renders its errors), so SensorThings errors stay on `/v1.1`,
GeoReport errors on `/open311` and `{"detail": ...}` everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI
    from starlette.routing import BaseRoute

    from cityhelix.settings import Settings

#: a pillar's background work for the life of the app: entered after the ground (engine,
#: event bus, durable stream) is up, left in reverse order of the pillars at shutdown
Lifespan = Callable[["FastAPI", "Settings"], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class Pillar:
    """One pillar's contribution: routers, lifespan, CLI commands, tables and migrations."""

    name: str
    #: HTTP routers, mounted in this order
    routers: Sequence[APIRouter] = ()
    #: routes written into /openapi.json only, ahead of the served ones: their paths are
    #: served by a catch-all route of `routers` (SensorThings), and FastAPI walks every
    #: mounted route on each request (hundreds of them cost 0.08 ms a request)
    described: Sequence[BaseRoute] = ()
    #: background tasks the pillar owns (None: it has none)
    lifespan: Lifespan | None = None
    #: Typer sub-apps mounted on `cityhelix`, by command name (e.g. {"users": users_app})
    commands: dict[str, typer.Typer] = field(default_factory=dict)
    #: modules whose import registers the pillar's tables on `db.metadata.metadata`
    table_modules: Sequence[str] = ()
    #: the pillar's own Alembic version location (one history per pillar), or None
    migrations: Path | None = None
