"""The live feed of the console: new readings from the event bus, read once per tick and
fanned out to every browser's event stream (SSE).

One subscriber per process, not one per browser: a thousand open consoles cost one query
per tick, and a browser that falls behind loses its oldest messages, never the writers'
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from operator import itemgetter

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EventBus, Subscription
from cityhelix.events.stream import as_events
from cityhelix.web.city_map import live_readings
from cityhelix.web.const import LIVE_MAX_CLIENTS, LIVE_MAX_PER_TICK, LIVE_TICK_SECONDS

log = logging.getLogger(__name__)

#: messages a browser may have waiting; past this its oldest are dropped
_CLIENT_QUEUE = 64
#: events taken from the bus between two turns of the event loop (a few ms of work)
_EVENTS_PER_TURN = 5_000
#: an event's id (`EntityEvent.id`), taken in C
_id = itemgetter(2)


class TooManyListeners(Exception):
    """More browsers than LIVE_MAX_CLIENTS on this process."""


class LiveFeed:
    """Gathers Observation events for a tick, reads them once, sends one message per tick."""

    def __init__(self, engine: AsyncEngine, bus: EventBus) -> None:
        self._engine = engine
        self._bus = bus
        self._listeners: set[asyncio.Queue[bytes]] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        #: Observations created per minute (epoch minute -> count), the last hour
        self.per_minute: dict[int, int] = {}

    @property
    def listeners(self) -> int:
        return len(self._listeners)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="web-live-feed")
        await self._ready.wait()  # subscribed: nothing committed from now on is missed

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[asyncio.Queue[bytes]]:
        """A queue of encoded messages for one browser, while the `async with` lasts."""
        if len(self._listeners) >= LIVE_MAX_CLIENTS:
            raise TooManyListeners(f"more than {LIVE_MAX_CLIENTS} live consoles")
        queue: asyncio.Queue[bytes] = asyncio.Queue(_CLIENT_QUEUE)
        self._listeners.add(queue)
        try:
            yield queue
        finally:
            self._listeners.discard(queue)

    async def _run(self) -> None:
        async with self._bus.subscribe() as subscription:
            self._ready.set()
            while True:
                ids = await self._gather(subscription)
                self._count(len(ids))
                if ids and self._listeners:
                    try:
                        await self._send(ids)
                    except Exception:  # a failed read must not end the feed for everyone
                        log.exception("live feed: reading %d Observations failed", len(ids))

    def _count(self, readings: int) -> None:
        minute = int(time.time() // 60)
        self.per_minute[minute] = self.per_minute.get(minute, 0) + readings
        for old in [m for m in self.per_minute if m <= minute - 60]:
            del self.per_minute[old]

    def readings_per_minute(self) -> list[tuple[int, int]]:
        """(epoch minute, Observations created) for each of the last 60 minutes."""
        now = int(time.time() // 60)
        return [(m, self.per_minute.get(m, 0)) for m in range(now - 59, now + 1)]

    async def _gather(self, subscription: Subscription) -> list[int]:
        """The Observation ids created during one tick (waiting for the first event)."""
        ids: list[int] = []
        batch = await subscription.take()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LIVE_TICK_SECONDS
        taken = 0
        while True:
            if as_events(batch).only_readings:
                ids += map(_id, batch)  # only new readings (a bulk write): no test per event
            else:
                ids += [
                    event.id
                    for event in batch
                    if event.entity_type == "Observation" and event.action == "create"
                ]
            # a write of 100,000 readings leaves 20 batches waiting: a turn of the event
            # loop every `_EVENTS_PER_TURN` events
            taken += len(batch)
            if taken >= _EVENTS_PER_TURN:
                taken = 0
                await asyncio.sleep(0)
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            # what waits already is taken without waiting
            batch = subscription.take_nowait()
            if not batch:
                try:
                    batch = await asyncio.wait_for(subscription.take(), remaining)
                except TimeoutError:
                    break
        return ids

    async def _send(self, ids: list[int]) -> None:
        # the newest: a marker shows its latest reading
        readings = await live_readings(self._engine, ids[-LIVE_MAX_PER_TICK:])
        if not readings:
            return
        message = orjson.dumps({"readings": [[r.datastream, r.time, r.result] for r in readings]})
        for queue in self._listeners:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)
