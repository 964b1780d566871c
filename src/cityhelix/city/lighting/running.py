"""Street lighting's background work: schedules, Task outcomes and fault watch, every few
seconds, for the life of the app. Every step is safe in N processes at once (claims and
conditional updates in the database), so nothing here assumes it runs alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI

from cityhelix.background import stop_tasks
from cityhelix.city.lighting import service
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)
#: how often the schedules and the Task outcomes are looked at
TICK_SECONDS = 2.0
#: faults are looked for over this much of the latest readings, once a minute
FAULT_WINDOW = timedelta(minutes=15)


async def _loop(app: FastAPI, settings: Settings) -> None:
    engine = app.state.engine
    bus = getattr(app.state, "bus", None)
    last_faults = datetime.min.replace(tzinfo=UTC)
    while True:
        try:
            now = datetime.now(UTC)
            await service.run_schedules(engine, bus, now)
            await service.reconcile_tasks(engine, settings, now, bus)
            if now - last_faults >= timedelta(minutes=1):
                await service.detect_faults(engine, settings, now - FAULT_WINDOW, now)
                last_faults = now
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad run must not stop the lights; the next tick retries
            logger.exception("street lighting run failed")
        await asyncio.sleep(TICK_SECONDS)


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(app, settings), name="street lighting")
    try:
        yield
    finally:
        await stop_tasks([task])
