"""What the city map shows, read through the data hub's service: each Thing's place, kind,
district and state, one Thing's latest values, and the live readings of the event bus.

Only what the view needs goes to the browser: the devices in its bounding box, a compact
row each, or, when they are many, clusters on a grid of the view's zoom (`map_view`).
A Thing's state comes from its Datastreams' phenomenonTime (kept current by the hub at
write time), so the map never scans Observations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub import service
from cityhelix.hub.service import MapThing
from cityhelix.settings import Settings

__all__ = [
    "STATE_HOOKS",
    "WORLD",
    "Bounds",
    "Cluster",
    "LiveReading",
    "MapFilter",
    "MapThing",
    "MapView",
    "live_readings",
    "map_things",
    "map_view",
    "state_of",
]

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


# --- the view: only what the browser's map shows -------------------------------------------

#: up to this many devices in view, each is sent as itself; past it, the view is aggregated
#: on a grid (a phone or a CPU-drawn map stays smooth; BENCHMARKS.md section 6)
POINTS_IN_VIEW = 1000
#: a grid cell's side on screen, in pixels: a cluster's bubble fits in it
CELL_PIXELS = 64
#: MapLibre's world is 512 pixels wide at zoom 0
WORLD_PIXELS = 512
#: from this zoom on, every device is sent as itself (a street's worth of view)
POINTS_FROM_ZOOM = 17.0
#: the last zoom MapLibre reaches
MAX_ZOOM = 24.0


@dataclass(frozen=True)
class MapFilter:
    """What the operator chose to see: kinds, one district, states (empty: all)."""

    kinds: frozenset[str] = frozenset()
    district: str = ""
    states: frozenset[str] = frozenset()

    def admits(self, thing: MapThing, state: str) -> bool:
        return (
            (not self.kinds or thing.kind in self.kinds)
            and (not self.district or thing.district == self.district)
            and (not self.states or state in self.states)
        )


@dataclass(frozen=True)
class Bounds:
    """A view's bounding box in degrees (west may exceed east across the antimeridian)."""

    west: float
    south: float
    east: float
    north: float

    def holds(self, lon: float, lat: float) -> bool:
        if not self.south <= lat <= self.north:
            return False
        if self.west <= self.east:
            return self.west <= lon <= self.east
        return lon >= self.west or lon <= self.east


WORLD = Bounds(-180.0, -90.0, 180.0, 90.0)


@dataclass
class Cluster:
    """Several devices close together at this zoom: where, how many, in which states."""

    lon: float
    lat: float
    count: int
    #: the members' bounding box: a click zooms to it
    bounds: tuple[float, float, float, float]
    states: dict[str, int]


@dataclass(frozen=True)
class MapView:
    """The devices a view shows: each as itself, or aggregated into clusters."""

    #: devices that pass the filter, in the whole city (the "shown" count)
    matched: int
    #: the bounding box of those devices (None: none), for fitting the map to them
    extent: tuple[float, float, float, float] | None
    points: list[tuple[MapThing, str]]
    clusters: list[Cluster]
    #: the Datastreams of devices inside clusters that are not "normal": a reading for one
    #: of them changes a cluster's states, so the browser asks for the view again
    watched: list[int]


def _world_xy(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator position in [0, 1] (x east, y south), as the map draws it."""
    lat = max(min(lat, 85.05112878), -85.05112878)
    sin = math.sin(math.radians(lat))
    return (lon + 180.0) / 360.0, 0.5 - math.log((1 + sin) / (1 - sin)) / (4 * math.pi)


def map_view(
    things: Sequence[MapThing],
    states: Mapping[int, str],
    chosen: MapFilter,
    bounds: Bounds,
    zoom: float,
    points_in_view: int = POINTS_IN_VIEW,
) -> MapView:
    """What a map at `bounds` and `zoom` shows of `things` (their `states` as of now).

    A few devices in view are sent as themselves; many are aggregated on a grid of
    CELL_PIXELS cells at this zoom (a cell of one device still sends the device), so the
    browser draws hundreds of shapes whatever the city's size.
    """
    matched = [(t, states[t.id]) for t in things if chosen.admits(t, states[t.id])]
    extent = None
    if matched:
        extent = (
            min(t.lon for t, _ in matched),
            min(t.lat for t, _ in matched),
            max(t.lon for t, _ in matched),
            max(t.lat for t, _ in matched),
        )
    in_view = [(t, s) for t, s in matched if bounds.holds(t.lon, t.lat)]
    if len(in_view) <= points_in_view or zoom >= POINTS_FROM_ZOOM:
        return MapView(len(matched), extent, in_view, [], [])
    cells_across = WORLD_PIXELS * 2.0 ** min(max(zoom, 0.0), MAX_ZOOM) / CELL_PIXELS
    cells: dict[tuple[int, int], list[tuple[MapThing, str]]] = {}
    for thing, state in in_view:
        x, y = _world_xy(thing.lon, thing.lat)
        cells.setdefault((int(x * cells_across), int(y * cells_across)), []).append((thing, state))
    points: list[tuple[MapThing, str]] = []
    clusters: list[Cluster] = []
    watched: list[int] = []
    for members in cells.values():
        if len(members) == 1:
            points.append(members[0])
            continue
        counted: dict[str, int] = {}
        for thing, state in members:
            counted[state] = counted.get(state, 0) + 1
            if state != "normal":
                watched.extend(thing.datastreams)
        lons = [t.lon for t, _ in members]
        lats = [t.lat for t, _ in members]
        clusters.append(
            Cluster(
                lon=sum(lons) / len(lons),
                lat=sum(lats) / len(lats),
                count=len(members),
                bounds=(min(lons), min(lats), max(lons), max(lats)),
                states=counted,
            )
        )
    return MapView(len(matched), extent, points, clusters, watched)
