"""What the Triple Helix pillar serves (its `Mount`, named by `helix/pillar.py`): its routers
(`/api/helix`, `/api/open-data`) and the scorecard's scheduled recomputation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.background import stop_tasks
from cityhelix.helix import http, service
from cityhelix.helix.scorecard.catalogue import catalogue
from cityhelix.pillar import Mount
from cityhelix.settings import Settings

log = logging.getLogger(__name__)


async def _recompute_forever(engine: AsyncEngine, settings: Settings) -> None:
    """The current year's computed indicators, every `scorecard_recompute_seconds`."""
    while True:
        await asyncio.sleep(settings.scorecard_recompute_seconds)
        try:
            await service.recompute_scorecard(engine, settings, None, None)
        except Exception:  # one failed run (a database restart) must not end the schedule
            log.exception("the scheduled scorecard recomputation failed; retrying next period")


@contextlib.asynccontextmanager
async def running_helix(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    catalogue()  # a bad indicators.json stops the start, naming the indicator
    if settings.scorecard_recompute_seconds <= 0:
        yield
        return
    schedule = asyncio.create_task(_recompute_forever(app.state.engine, settings))
    try:
        yield
    finally:
        await stop_tasks((schedule,))


MOUNT = Mount(routers=(http.router,), lifespan=running_helix)
