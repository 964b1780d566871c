"""Street lighting's background work: schedules, Task outcomes and fault watch, every few
seconds, and a consumer group of the durable stream that tracks every new Task, for the
life of the app. Every step is safe in N processes at once (claims and conditional updates
in the database), so nothing here assumes it runs alone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError

from cityhelix.background import stop_tasks
from cityhelix.city.const import LIGHTING_TASKS_GROUP
from cityhelix.city.lighting import service
from cityhelix.events.stream import EventStream, GroupTaken
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)
#: how often the schedules and the Task outcomes are looked at
TICK_SECONDS = 2.0
#: faults are looked for over this much of the latest readings, once a minute
FAULT_WINDOW = timedelta(minutes=15)
#: the topic of a new Task's event
TASK_CREATED = "hub.Task.create"


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


async def _follow_tasks(app: FastAPI) -> None:
    """Every committed Task, tracked (`service.track_tasks`), then the group's position
    committed; on a lost group or a failure, reopen and read again (tracking is idempotent)."""
    stream: EventStream = app.state.stream
    while True:
        try:
            async with stream.consumer(LIGHTING_TASKS_GROUP, start="latest") as consumer:
                while True:
                    changes = await consumer.read(limit=100, timeout=None)
                    created = [
                        event.id
                        for change in changes
                        for event in change.events.by_topic.get(TASK_CREATED, ())
                    ]
                    if created:
                        await service.track_tasks(app.state.engine, created, app.state.bus)
                    await consumer.commit()
        except GroupTaken as error:
            logger.info("street lighting Tasks: reading again after %s", error)
        except (DBAPIError, OSError) as error:
            logger.warning("street lighting Tasks: failed (%s); retrying", error)
            await asyncio.sleep(1.0)  # a database that went away: do not spin
        except Exception:
            logger.exception("street lighting Tasks: failed; reading again in 5 s")
            await asyncio.sleep(5.0)


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    tasks = [
        asyncio.create_task(_loop(app, settings), name="street lighting"),
        asyncio.create_task(_follow_tasks(app), name="street lighting Tasks"),
    ]
    try:
        yield
    finally:
        await stop_tasks(tasks)
