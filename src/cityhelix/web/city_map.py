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
from cityhelix.hub.model import OBSERVATION
from cityhelix.hub.query.options import parse_query_options
from cityhelix.hub.query.path import parse_path
from cityhelix.hub.store.read import Page
from cityhelix.hub.values import parse_time
from cityhelix.settings import Settings

#: Things read per page while building the map
_PAGE = 5_000
#: the SensorThings base URL handed to the hub's reader; the map never shows links
_BASE = "/v1.1"


@dataclass(frozen=True)
class MapThing:
    """One marker: where, what, and when its latest reading was taken."""

    id: int
    name: str
    kind: str
    district: str
    lon: float
    lat: float
    last_reading: datetime | None
    datastreams: tuple[int, ...]


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


async def _read(
    engine: AsyncEngine, settings: Settings, resource: str, params: dict[str, str]
) -> dict[str, Any]:
    """A SensorThings read through the hub's service (never over HTTP)."""
    options = parse_query_options(params, max_top=max(settings.max_top, _PAGE))
    page = Page(_BASE, f"{_BASE}/{resource}", params, max(settings.page_size, _PAGE))
    return await service.read(engine, parse_path(resource), options, page)


def _point(locations: Sequence[dict[str, Any]]) -> tuple[float, float] | None:
    for location in locations:
        geometry = location.get("location")
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            if isinstance(coordinates, list) and len(coordinates) >= 2:
                return float(coordinates[0]), float(coordinates[1])
    return None


def _latest(datastreams: Sequence[dict[str, Any]]) -> datetime | None:
    """The latest end of the Datastreams' phenomenonTime ("start/end" or one instant)."""
    ends = []
    for datastream in datastreams:
        text = datastream.get("phenomenonTime")
        if isinstance(text, str) and text:
            ends.append(parse_time(text.split("/")[-1], "phenomenonTime"))
    return max(ends, default=None)


def _text(properties: object, key: str) -> str:
    value = properties.get(key) if isinstance(properties, dict) else None
    return str(value)[:200] if value is not None else ""


async def map_things(engine: AsyncEngine, settings: Settings) -> list[MapThing]:
    """Every Thing that has a point Location, with its kind, district and latest reading."""
    things: list[MapThing] = []
    skip = 0
    while True:
        document = await _read(
            engine,
            settings,
            "Things",
            {
                "$select": "id,name,properties",
                "$expand": "Locations($select=location),Datastreams($select=id,phenomenonTime)",
                "$orderby": "id",
                "$top": str(_PAGE),
                "$skip": str(skip),
            },
        )
        rows = document.get("value", [])
        for row in rows:
            point = _point(row.get("Locations", []))
            if point is None:
                continue
            streams = row.get("Datastreams", [])
            things.append(
                MapThing(
                    id=int(row["@iot.id"]),
                    name=str(row.get("name", ""))[:200],
                    kind=_text(row.get("properties"), "kind") or "other",
                    district=_text(row.get("properties"), "district"),
                    lon=point[0],
                    lat=point[1],
                    last_reading=_latest(streams),
                    datastreams=tuple(int(s["@iot.id"]) for s in streams),
                )
            )
        if len(rows) < _PAGE:
            return things
        skip += _PAGE


async def thing_detail(engine: AsyncEngine, settings: Settings, thing_id: int) -> dict[str, Any]:
    """A Thing with each Datastream's unit and latest Observation (hub NotFound if none)."""
    return await _read(
        engine,
        settings,
        f"Things({thing_id})",
        {
            "$select": "id,name,description,properties",
            "$expand": (
                "Locations($select=location),"
                "Datastreams($select=id,name,unitOfMeasurement,phenomenonTime;$orderby=id;"
                "$expand=Observations($select=result,phenomenonTime;"
                "$orderby=phenomenonTime desc;$top=1))"
            ),
        },
    )


@dataclass(frozen=True)
class LiveReading:
    """A new Observation as the map needs it: which Datastream, when, what value."""

    datastream: int
    time: str | None
    result: Any


async def live_readings(engine: AsyncEngine, observation_ids: Sequence[int]) -> list[LiveReading]:
    """The committed Observations `observation_ids` (one query), for the live map."""
    snapshots = await service.read_snapshots(engine, OBSERVATION, observation_ids)
    readings = []
    for snapshot in snapshots.values():
        datastream = snapshot.links.get("Datastream")
        if datastream is None:
            continue  # an Observation of a MultiDatastream: not on the map yet
        document = snapshot.document(_BASE)
        time = document.get("phenomenonTime")
        readings.append(
            LiveReading(
                datastream, str(time).split("/")[-1] if time else None, document.get("result")
            )
        )
    return readings
