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
from cityhelix.events.stream import READING, Change, EventStream, GroupTaken
from cityhelix.ops import service as ops
from cityhelix.settings import Settings

log = logging.getLogger(__name__)

#: readings judged together: their rules are read once, and it is a few ms of work
_READINGS_PER_SLICE = 2_000


async def consume_forever(stream: EventStream, engine: AsyncEngine, settings: Settings) -> None:
    """Read, judge, commit; on a lost group or a failure, reopen and read again."""
    while True:
        try:
            async with stream.consumer(CAMERA_GROUP, start="latest") as consumer:
                while True:
                    changes = await consumer.read(limit=100, timeout=None)
                    # a large write's readings a slice at a time, each judged in a turn of
                    # the event loop of its own; the position is committed after them all
                    judged = await service.judged_datastreams(engine, _datastreams_of(changes))
                    async for readings in _reading_slices(changes, judged):
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


def _datastreams_of(changes: list[Change]) -> set[int]:
    return {datastream for change in changes for datastream in change.events.readings_by_datastream}


async def _reading_slices(
    changes: list[Change], judged: set[int]
) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
    """The (Observation id, payload) of the readings `changes` created on the Datastreams
    `judged`, in stream order, in slices of at most `_READINGS_PER_SLICE` (none empty),
    yielding the loop between them."""
    if not judged:
        return  # a bulk write on Datastreams without camera or park rules: nothing to judge
    readings: list[tuple[int, dict[str, Any]]] = []
    for change in changes:
        for event in change.events.by_topic.get(READING, ()):
            if event.payload.get("datastream_id") in judged:
                readings.append((event.id, dict(event.payload)))
                if len(readings) == _READINGS_PER_SLICE:
                    yield readings
                    readings = []
                    await asyncio.sleep(0)
        await asyncio.sleep(0)
    if readings:
        yield readings


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
