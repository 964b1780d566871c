"""What this part of the operations centre adds to the pillar: routers, background work,
commands and table modules (`ops/pillar.py` composes the parts)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from cityhelix.ops.alerting import live
from cityhelix.ops.alerting.api import router as rules_router
from cityhelix.ops.alerting.cap import router as cap_router
from cityhelix.ops.alerting.sse import router as stream_router

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter, FastAPI

    from cityhelix.settings import Settings

# CAP first: `/alerts/{id}.cap` would otherwise reach `/alerts/{id}`
ROUTERS: Sequence[APIRouter] = (cap_router, rules_router, stream_router)
COMMANDS: dict[str, typer.Typer] = {}
TABLE_MODULES: Sequence[str] = ("cityhelix.ops.alerting.tables",)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Rule evaluation on the durable stream and the stale/reminder scheduler."""
    async with live.running(app, settings):
        yield
