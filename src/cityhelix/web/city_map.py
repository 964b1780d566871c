"""What the city map shows, read through the data hub's service: each Thing's place, kind,
district and state, one Thing's latest values, and the live readings of the event bus.

Only what the view needs goes to the browser: a compact row per Thing, not its SensorThings
document. A Thing's state comes from its Datastreams' phenomenonTime (kept current by the
hub at write time), so the map never scans Observations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub import service
from cityhelix.hub.service import MapThing
from cityhelix.settings import Settings

__all__ = ["STATE_HOOKS", "LiveReading", "MapThing", "live_readings", "map_things", "state_of"]

#: extra state rules ahead of the hub's own (the operations centre adds "alert": a Thing
#: with an open alert). Each returns a state for the Thing, or None to pass.
STATE_HOOKS: list[Callable[[MapThing], str | None]] = []


def state_of(thing: MapThing, settings: Settings, now: datetime | None = None) -> str:
    """normal, stale (silent for `web_stale_minutes`) or off (silent for `web_off_hours`)."""
    for hook in STATE_HOOKS:
        state = hook(thing)
        if state is not None:
            return state
    now = now or datetime.now(UTC)
    if thing.last_reading is None or now - thing.last_reading > timedelta(
        hours=settings.web_off_hours
    ):
        return "off"
    if now - thing.last_reading > timedelta(minutes=settings.web_stale_minutes):
        return "stale"
    return "normal"


async def map_things(engine: AsyncEngine) -> list[MapThing]:
    """Every Thing that has a point Location, with its kind, district and latest reading."""
    return await service.map_things(engine)


@dataclass(frozen=True)
class LiveReading:
    """A new Observation as the map needs it: which Datastream, when, what value."""

    datastream: int
    #: the end of its phenomenonTime (the instant, or an interval's end)
    taken: datetime
    result: Any

    @property
    def time(self) -> str | None:
        """`taken` as the wire writes it (what the browser gets)."""
        return service.format_time(self.taken)


async def live_readings(engine: AsyncEngine, observation_ids: Sequence[int]) -> list[LiveReading]:
    """The committed Observations `observation_ids` (one query), for the live map."""
    return [
        LiveReading(
            reading.datastream_id,
            reading.phenomenon_time_end or reading.phenomenon_time,
            reading.result,
        )
        for reading in await service.readings_by_id(engine, observation_ids)
    ]
