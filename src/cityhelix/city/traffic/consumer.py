"""The consumer group that turns committed camera events and park stations' readings into
alerts: each reading of a Datastream with a camera rule or a park-limit rule is judged once
(the operations centre's state makes a second delivery a no-op), in stream order, and the
group's position is committed after it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.background import stop_tasks
from cityhelix.city import service
from cityhelix.city.const import CAMERA_GROUP
from cityhelix.events.stream import EventStream, GroupTaken
from cityhelix.ops import service as ops
from cityhelix.settings import Settings

log = logging.getLogger(__name__)


async def consume_forever(stream: EventStream, engine: AsyncEngine, settings: Settings) -> None:
    """Read, judge, commit; on a lost group or a failure, reopen and read again."""
    while True:
        try:
            async with stream.consumer(CAMERA_GROUP, start="latest") as consumer:
                while True:
                    readings: list[tuple[int, dict[str, Any]]] = [
                        (event.id, dict(event.payload))
                        for change in await consumer.read(limit=100, timeout=None)
                        for event in change.events
                        if event.topic == "hub.Observation.create"
                    ]
                    await service.judge_camera_readings(engine, settings, readings)
                    await service.judge_park_readings(engine, settings, readings)
                    await consumer.commit()
        except (GroupTaken, IntegrityError, ops.OpsError) as error:
            # another reader took the group or won a rule state's race: read again
            log.info("city camera events: reading again after %s", error)
        except (DBAPIError, OSError) as error:
            log.warning("city camera events: failed (%s); retrying", error)
            await asyncio.sleep(1.0)  # a database that went away: do not spin
        except Exception:
            log.exception("city camera events: failed; reading again in 5 s")
            await asyncio.sleep(5.0)


@contextlib.asynccontextmanager
async def running(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The consumer for the life of the app, when rules are evaluated live (`ops_rules_live`)."""
    if not settings.ops_rules_live:
        yield
        return
    task = asyncio.create_task(consume_forever(app.state.stream, app.state.engine, settings))
    try:
        yield
    finally:
        await stop_tasks((task,))
