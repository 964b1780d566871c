"""Level of service per road segment from its counter's counts and speeds, by the thresholds
of `level_of_service.json` (HCM speed ratio; volume/capacity when there is no speed)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.const import KIND_TRAFFIC
from cityhelix.city.hourly import number
from cityhelix.city.recognition import is_one_of
from cityhelix.hub import service as hub

DATA_FILE = Path(__file__).with_name("level_of_service.json")


@dataclass(frozen=True)
class Level:
    key: str
    hcm: str
    min_speed_ratio: float
    max_volume_capacity: float | None
    colour: str


@functools.cache
def data() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return raw


@functools.cache
def levels() -> tuple[Level, ...]:
    """The levels from the freest down, checked (ratios must fall)."""
    found = tuple(
        Level(
            row["key"],
            row["hcm"],
            float(row["min_speed_ratio"]),
            None if row["max_volume_capacity"] is None else float(row["max_volume_capacity"]),
            row["colour"],
        )
        for row in data()["levels"]
    )
    ratios = [level.min_speed_ratio for level in found]
    if ratios != sorted(ratios, reverse=True) or ratios[-1] != 0:
        raise ValueError(f"{DATA_FILE.name}: min_speed_ratio must fall to 0")
    return found


def level_of_service(
    speed_kmh: float | None,
    volume_vph: float | None,
    free_flow_kmh: float,
    capacity_vph: float,
) -> Level | None:
    """The level for a mean speed against the free-flow speed; by volume/capacity when the
    speed is unknown; None with neither."""
    if speed_kmh is not None and free_flow_kmh > 0:
        ratio = speed_kmh / free_flow_kmh
        return next(
            level
            for level in levels()
            if ratio > level.min_speed_ratio or level.min_speed_ratio == 0
        )
    if volume_vph is not None and capacity_vph > 0:
        share = volume_vph / capacity_vph
        for level in levels():
            if level.max_volume_capacity is None or share <= level.max_volume_capacity:
                return level
    return None


@dataclass(frozen=True)
class SegmentLevel:
    """A counter's road segment with its level over the window before its newest reading."""

    thing_id: int
    name: str
    segment: str
    district: str
    lon: float | None
    lat: float | None
    at: datetime | None
    volume_vph: float | None
    speed_kmh: float | None
    level: Level | None


def _float(properties: dict[str, Any], key: str, default: float) -> float:
    value = number(properties.get(key))
    return value if value is not None and value > 0 else default


def free_flow_speed(thing: hub.ThingSummary) -> float:
    """The segment's free-flow speed (km/h): its property, else the data file's default."""
    return _float(
        thing.properties, "free_flow_speed_kmh", float(data()["defaults"]["free_flow_speed_kmh"])
    )


async def speed_stream(engine: AsyncEngine, thing_id: int) -> int | None:
    """The counter's speed Datastream, if it has one."""
    facts = await hub.datastreams_of_things(engine, [thing_id])
    return next((f.id for f in facts if is_one_of(f, data()["recognition"]["speed"])), None)


def _point(thing: hub.ThingSummary) -> tuple[float | None, float | None]:
    for geometry in thing.locations:
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            if isinstance(coordinates, list) and len(coordinates) >= 2:
                return float(coordinates[0]), float(coordinates[1])
    return None, None


async def segment_levels(
    engine: AsyncEngine, things: list[hub.ThingSummary] | None = None
) -> list[SegmentLevel]:
    """Each traffic counter's level of service now (its newest window of readings)."""
    counters = things if things is not None else await hub.things_of_kind(engine, KIND_TRAFFIC)
    recognition = data()["recognition"]
    defaults = data()["defaults"]
    window = timedelta(minutes=float(data()["window_minutes"]))
    facts = await hub.datastreams_of_things(engine, [t.id for t in counters])
    answer = []
    for thing in counters:
        own = [f for f in facts if f.thing_id == thing.id]
        count = next((f.id for f in own if is_one_of(f, recognition["count"])), None)
        speed = next((f.id for f in own if is_one_of(f, recognition["speed"])), None)
        latest = await hub.latest_readings(engine, [i for i in (count, speed) if i is not None])
        at = max((r.phenomenon_time for r in latest.values()), default=None)
        volume = speed_mean = None
        if at is not None:
            start, end = at - window + timedelta(microseconds=1), at + timedelta(microseconds=1)
            if count is not None:
                values = [
                    v
                    for r in await hub.readings_between(engine, count, start, end)
                    if (v := number(r.result)) is not None
                ]
                volume = sum(values) * (timedelta(hours=1) / window) if values else None
            if speed is not None:
                values = [
                    v
                    for r in await hub.readings_between(engine, speed, start, end)
                    if (v := number(r.result)) is not None
                ]
                speed_mean = sum(values) / len(values) if values else None
        properties = thing.properties
        lon, lat = _point(thing)
        answer.append(
            SegmentLevel(
                thing.id,
                thing.name,
                str(properties.get("road_segment") or thing.name),
                str(properties.get("district", "")),
                lon,
                lat,
                at,
                volume,
                speed_mean,
                level_of_service(
                    speed_mean,
                    volume,
                    _float(
                        properties, "free_flow_speed_kmh", float(defaults["free_flow_speed_kmh"])
                    ),
                    _float(properties, "capacity_vph", float(defaults["capacity_vph"])),
                ),
            )
        )
    return answer
