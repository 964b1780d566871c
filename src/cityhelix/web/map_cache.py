"""The map's rows kept between console loads, per process: read through the hub's service
once, then kept true by the event bus.

The cache has its own bus subscription and looks at it on every request, so it knows of
every commit made before the request: a Thing, Location or Datastream written (or events
lost) makes it read everything again; new Observations only move their Thing's latest
reading, read in one query.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EventBus, Subscription
from cityhelix.hub.values import parse_time
from cityhelix.settings import Settings
from cityhelix.web.city_map import MapThing, live_readings, map_things

#: entities whose writes change what the map shows (an Observation only moves a time)
MAP_ENTITIES = frozenset({"Thing", "Location", "HistoricalLocation", "Datastream"})
#: past this many new Observations, reading the map again is cheaper than reading them
_MOST_READINGS = 20_000


class MapCache:
    """Every Thing's map row, read again only when the bus says the read is out of date."""

    def __init__(self, engine: AsyncEngine, settings: Settings, subscription: Subscription):
        self._engine = engine
        self._settings = settings
        self._subscription = subscription
        self._dropped = subscription.dropped
        self._things: dict[int, MapThing] | None = None
        self._thing_of: dict[int, int] = {}
        self._lock = asyncio.Lock()

    @classmethod
    @asynccontextmanager
    async def following(
        cls, engine: AsyncEngine, settings: Settings, bus: EventBus
    ) -> AsyncIterator[MapCache]:
        """A cache subscribed to `bus` while the `async with` lasts."""
        async with bus.subscribe() as subscription:
            yield cls(engine, settings, subscription)

    def _pending(self) -> tuple[bool, list[int]]:
        """(whether the map must be read again, the new Observations) since the last look."""
        stale = self._subscription.dropped != self._dropped
        self._dropped = self._subscription.dropped
        observations: list[int] = []
        queue = self._subscription.queue
        while not queue.empty():
            event = queue.get_nowait()
            if event.entity_type in MAP_ENTITIES:
                stale = True
            elif event.entity_type == "Observation" and event.action == "create":
                observations.append(event.id)
        return stale or len(observations) > _MOST_READINGS, observations

    async def things(self) -> list[MapThing]:
        """The rows as of now: every commit before this call is in them."""
        async with self._lock:
            stale, observations = self._pending()
            if self._things is None or stale:
                read = await map_things(self._engine, self._settings)
                self._things = {thing.id: thing for thing in read}
                self._thing_of = {ds: thing.id for thing in read for ds in thing.datastreams}
            elif observations:
                await self._move_latest(self._things, observations)
            return list(self._things.values())

    async def _move_latest(self, things: dict[int, MapThing], observations: list[int]) -> None:
        newest: dict[int, datetime] = {}
        for reading in await live_readings(self._engine, observations):
            thing_id = self._thing_of.get(reading.datastream)
            if thing_id is None or not reading.time:
                continue
            moment = parse_time(reading.time, "phenomenonTime")
            if thing_id not in newest or moment > newest[thing_id]:
                newest[thing_id] = moment
        for thing_id, moment in newest.items():
            thing = things[thing_id]
            if thing.last_reading is None or moment > thing.last_reading:
                things[thing_id] = dataclasses.replace(thing, last_reading=moment)
