"""What a pillar adds to the running system, as data the composition (`app`, `cli`) reads.

Each pillar package has a `pillar.py` exposing `PILLAR: Pillar`; `app.py` and the CLI know
the list of pillars and nothing of their insides. A `pillar.py` imports nothing heavy: what
it serves (its `Mount`) and its command groups are named as "module:attribute" and imported
only by who needs them, so that `cityhelix users list` does not import every router of
every pillar (seconds of each command's start). A pillar's routers carry their own error
format (a `route_class` that renders its errors), so SensorThings errors stay on `/v1.1`,
GeoReport errors on `/open311` and `{"detail": ...}` everywhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI
    from starlette.routing import BaseRoute

    from cityhelix.settings import Settings

#: a pillar's background work for the life of the app: entered after the ground (engine,
#: event bus, durable stream) is up, left in reverse order of the pillars at shutdown
Lifespan = Callable[["FastAPI", "Settings"], AbstractAsyncContextManager[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class Mount:
    """What a pillar serves: its routers and background work, imported by the app only."""

    #: HTTP routers, mounted in this order
    routers: Sequence[APIRouter] = ()
    #: routes written into /openapi.json only, ahead of the served ones: their paths are
    #: served by a catch-all route of `routers` (SensorThings), and FastAPI walks every
    #: mounted route on each request (hundreds of them cost 0.08 ms a request)
    described: Sequence[BaseRoute] = ()
    #: background tasks the pillar owns (None: it has none)
    lifespan: Lifespan | None = None


@dataclass(frozen=True)
class Pillar:
    """One pillar's contribution: what it serves, its CLI commands, tables and migrations."""

    name: str
    #: its `Mount`, or "module:attribute" of it (imported when an app is made); None: the
    #: pillar serves nothing
    mount: Mount | str | None = None
    #: Typer sub-apps mounted on `cityhelix`, by command name, each "module:attribute" of a
    #: `typer.Typer` (e.g. {"invest": "cityhelix.invest.cli:invest_app"}), imported when
    #: the command line reaches that group
    commands: Mapping[str, str] = field(default_factory=dict)
    #: modules whose import registers the pillar's tables on `db.metadata.metadata`
    table_modules: Sequence[str] = ()
    #: the pillar's own Alembic version location (one history per pillar), or None
    migrations: Path | None = None

    def mounted(self) -> Mount:
        """The pillar's `Mount`, imported now if named."""
        if self.mount is None:
            return Mount()
        if isinstance(self.mount, Mount):
            return self.mount
        return load(self.mount, Mount)

    def command(self, name: str) -> typer.Typer:
        """The command group `name`, imported now."""
        import typer

        return load(self.commands[name], typer.Typer)


def load(reference: str, kind: type[T]) -> T:
    """The object "module:attribute" names, checked to be a `kind`."""
    module, _, attribute = reference.partition(":")
    found = getattr(importlib.import_module(module), attribute)
    if not isinstance(found, kind):
        raise TypeError(f"{reference} is a {type(found).__name__}, not a {kind.__name__}")
    return found
