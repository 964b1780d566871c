"""A water-level gauge against its official alert levels (I, II, III, from
`alert_levels.json` by the gauge's `properties.station_code`): the current level, the level
reached, the rising rate over the last hour and the time to the next level at that rate."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.errors import NotFound, Unprocessable
from cityhelix.city.hourly import number
from cityhelix.city.recognition import is_one_of
from cityhelix.hub import service as hub

DATA_FILE = Path(__file__).with_name("alert_levels.json")
LEVEL_NAMES = ("I", "II", "III")
#: the span the rising rate is measured over
RATE_SPAN = timedelta(hours=1)
#: a gauge's level Datastream may report in these units (to metres)
TO_METRES = {"m": 1.0, "cm": 0.01, "mm": 0.001}


@functools.cache
def data() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    for code, gauge in raw["gauges"].items():
        values = [float(gauge[name]) for name in LEVEL_NAMES]
        if values != sorted(values):
            raise ValueError(f"{DATA_FILE.name}: gauge {code}: levels I < II < III expected")
    return raw


def alert_levels(thing: hub.ThingSummary) -> dict[str, float]:
    """The gauge's official levels in metres (Unprocessable when it has none on record)."""
    code = thing.properties.get("station_code")
    gauge = data()["gauges"].get(code) if isinstance(code, str) else None
    if gauge is None:
        raise Unprocessable(
            f"thing_id: gauge {thing.id} has no alert levels on record "
            f"(properties.station_code {code!r} is not in {DATA_FILE.name})",
            field="thing_id",
        )
    return {name: float(gauge[name]) for name in LEVEL_NAMES}


@dataclass(frozen=True)
class GaugeStreams:
    thing: hub.ThingSummary
    level: hub.DatastreamFacts | None
    rain: hub.DatastreamFacts | None


async def gauge_streams(engine: AsyncEngine, thing_id: int) -> GaugeStreams:
    """The Thing with its level and rain Datastreams (NotFound when there is no Thing)."""
    found = await hub.things_by_id(engine, [thing_id])
    if not found:
        raise NotFound(f"thing_id: no Thing {thing_id}", field="thing_id")
    recognition = data()["recognition"]
    facts = await hub.datastreams_of_things(engine, [thing_id])
    level = next((f for f in facts if is_one_of(f, recognition["level"])), None)
    rain = next((f for f in facts if is_one_of(f, recognition["rain"])), None)
    return GaugeStreams(found[0], level, rain)


def reached(level: float, levels: dict[str, float]) -> str | None:
    """The highest alert level at or below `level` ("II"), or None below level I."""
    above = [name for name in LEVEL_NAMES if level >= levels[name]]
    return above[-1] if above else None


def rate_per_hour(points: list[tuple[datetime, float]]) -> float | None:
    """The rising rate (units per hour) between the oldest and newest points, None with
    fewer than two points or no time between them."""
    if len(points) < 2:
        return None
    (t0, v0), (t1, v1) = points[0], points[-1]
    hours = (t1 - t0) / timedelta(hours=1)
    return None if hours <= 0 else (v1 - v0) / hours


async def gauge_status(engine: AsyncEngine, thing_id: int) -> dict[str, Any]:
    """The gauge's state for the map, the rules and the API."""
    streams = await gauge_streams(engine, thing_id)
    levels = alert_levels(streams.thing)
    if streams.level is None:
        raise Unprocessable(
            f"thing_id: Thing {thing_id} has no water-level Datastream", field="thing_id"
        )
    scale = TO_METRES.get(streams.level.unit_symbol, 1.0)
    latest = (await hub.latest_readings(engine, [streams.level.id])).get(streams.level.id)
    answer: dict[str, Any] = {
        "thing_id": thing_id,
        "name": streams.thing.name,
        "alert_levels_m": levels,
        "level_m": None,
        "time": None,
        "reached": None,
        "rate_cm_per_h": None,
        "next_level": None,
        "hours_to_next_level": None,
        "rain_mm_per_h": None,
        "source": data()["source"],
    }
    if latest is None or (value := number(latest.result)) is None:
        return answer
    level = value * scale
    end = latest.phenomenon_time + timedelta(microseconds=1)
    points = [
        (r.phenomenon_time, v * scale)
        for r in await hub.readings_between(
            engine, streams.level.id, latest.phenomenon_time - RATE_SPAN, end
        )
        if (v := number(r.result)) is not None
    ]
    rate = rate_per_hour(points)
    current = reached(level, levels)
    upcoming = next((name for name in LEVEL_NAMES if level < levels[name]), None)
    answer |= {
        "level_m": round(level, 4),
        "time": hub.reading_time(latest),
        "reached": current,
        "rate_cm_per_h": None if rate is None else round(rate * 100, 2),
        "next_level": upcoming,
    }
    if upcoming is not None and rate is not None and rate > 0:
        answer["hours_to_next_level"] = round((levels[upcoming] - level) / rate, 2)
    if streams.rain is not None:
        rain = (await hub.latest_readings(engine, [streams.rain.id])).get(streams.rain.id)
        answer["rain_mm_per_h"] = None if rain is None else number(rain.result)
    return answer
