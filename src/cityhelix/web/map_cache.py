"""The map's rows kept between console loads, per process: read through the hub's service
once, then kept true by the event bus.

The cache has its own bus subscription and looks at it on every request, so it knows of
every commit made before the request: a Thing, Location or Datastream written (or events
lost) makes it read everything again; new Observations only move their Thing's latest
reading, read from their Datastreams in one query (a bulk write of 10,000 readings into
one Datastream reads one row).

A background task does the same look between requests, so the first console load after a
start or after devices were added finds the rows read already (10,000 Things take seconds
to read): it rests at least `_WARM_SECONDS`, and three times as long as its last read, so
keeping warm never takes more than a quarter of a core.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.background import stop_tasks
from cityhelix.events.bus import EventBus, Subscription
from cityhelix.events.stream import Events, as_events
from cityhelix.hub import service
from cityhelix.web.city_map import MapThing, map_things

#: entities whose writes change what the map shows (an Observation only moves a time)
MAP_ENTITIES = frozenset({"Thing", "Location", "HistoricalLocation", "Datastream"})
#: past this many Datastreams with new readings, reading the map again is cheaper
_MOST_DATASTREAMS = 5_000
#: the shortest rest of the task that keeps the rows read between requests
_WARM_SECONDS = 2.0
#: events taken from the bus between two turns of the event loop (a few ms of work)
_EVENTS_PER_TURN = 5_000

logger = logging.getLogger(__name__)


class MapCache:
    """Every Thing's map row, read again only when the bus says the read is out of date."""

    def __init__(self, engine: AsyncEngine, subscription: Subscription):
        self._engine = engine
        self._subscription = subscription
        self._dropped = subscription.dropped
        self._things: dict[int, MapThing] | None = None
        self._thing_of: dict[int, int] = {}
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def following(cls, engine: AsyncEngine, bus: EventBus) -> AsyncIterator[MapCache]:
        """A cache subscribed to `bus`, kept warm, while the `async with` lasts."""
        async with bus.subscribe() as subscription:
            cache = cls(engine, subscription)
            warm = asyncio.create_task(cache._keep_warm(), name="web-map-warm")
            try:
                yield cache
            finally:
                await stop_tasks([warm])

    def _behind(self) -> bool:
        return (
            self._things is None
            or self._subscription.dropped != self._dropped
            or not self._subscription.empty()
        )

    async def _keep_warm(self) -> None:
        rest = _WARM_SECONDS
        while True:
            await asyncio.sleep(rest)
            if not self._behind():
                continue
            started = time.monotonic()
            try:
                await self.things()
            except Exception:  # a failed read is tried again; the next request reads anyway
                logger.exception("reading the map's rows ahead of a request failed")
            rest = max(_WARM_SECONDS, 3 * (time.monotonic() - started))

    async def _pending(self) -> tuple[bool, set[int]]:
        """(whether the map must be read again, the Datastreams with new readings) since
        the last look.

        The subscription is emptied a few batches at a time, a turn of the event loop
        between: after a write of 100,000 readings it holds as many events, which would
        take one step of the event loop well over 100 ms."""
        stale = self._subscription.dropped != self._dropped
        self._dropped = self._subscription.dropped
        streams: set[int] = set()
        taken = 0
        while batch := self._subscription.take_nowait():
            taken += len(batch)
            events = as_events(batch)
            if events.only_readings:
                # a bulk write's or the ingest's readings: their streams, looked up once for
                # every subscriber and consumer group (`Events.readings_by_datastream`)
                by_stream = events.readings_by_datastream
                streams |= by_stream.keys()
                # a MultiDatastream's reading has no Datastream: read everything
                stale |= sum(map(len, by_stream.values())) != len(events)
            else:
                stale |= self._note(events, streams)
            if taken >= _EVENTS_PER_TURN:
                taken = 0
                await asyncio.sleep(0)
        return stale or len(streams) > _MOST_DATASTREAMS, streams

    @staticmethod
    def _note(events: Events, streams: set[int]) -> bool:
        """Add to `streams` those with new readings among `events`; whether the map must be
        read again (a mapped entity changed, or a reading came without its Datastream)."""
        stale = False
        for event in events:
            if event.entity_type in MAP_ENTITIES:
                stale = True
            elif event.entity_type == "Observation" and event.action == "create":
                datastream = event.payload.get("datastream_id")
                if isinstance(datastream, int):
                    streams.add(datastream)
                else:
                    stale = True
        return stale

    async def things(self) -> list[MapThing]:
        """The rows as of now: every commit before this call is in them."""
        async with self._lock:
            stale, streams = await self._pending()
            if self._things is None or stale:
                read = await map_things(self._engine)
                self._things = {thing.id: thing for thing in read}
                self._thing_of = {ds: thing.id for thing in read for ds in thing.datastreams}
            elif streams:
                await self._move_latest(self._things, streams)
            return list(self._things.values())

    async def _move_latest(self, things: dict[int, MapThing], streams: set[int]) -> None:
        newest: dict[int, datetime] = {}
        for datastream, moment in (
            await service.newest_reading_times(self._engine, streams)
        ).items():
            thing_id = self._thing_of.get(datastream)
            if thing_id is not None and (thing_id not in newest or moment > newest[thing_id]):
                newest[thing_id] = moment
        for thing_id, moment in newest.items():
            thing = things[thing_id]
            if thing.last_reading is None or moment > thing.last_reading:
                things[thing_id] = dataclasses.replace(thing, last_reading=moment)
