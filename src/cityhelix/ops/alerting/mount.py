"""What this part of the operations centre serves: routers and background work (`ops/mount.py`
composes the parts; `ops/pillar.py` names their commands and tables)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from cityhelix.ops.alerting import live
from cityhelix.ops.alerting.api import router as rules_router
from cityhelix.ops.alerting.cap import router as cap_router
from cityhelix.ops.alerting.sse import router as stream_router

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from cityhelix.settings import Settings

# CAP first: `/alerts/{id}.cap` would otherwise reach `/alerts/{id}`
ROUTERS: Sequence[APIRouter] = (cap_router, rules_router, stream_router)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """Rule evaluation on the durable stream and the stale/reminder scheduler."""
    async with live.running(app, settings):
        yield
