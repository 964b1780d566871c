"""A station's VN_AQI from its Datastreams, read through the hub's service: which Datastream
is which pollutant (by ObservedProperty), their hourly means, the index for an hour or a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.air.index import (
    POLLUTANTS,
    AqiResult,
    daily_aqi,
    hourly_aqi,
    recognise,
    table,
)
from cityhelix.city.days import day_start
from cityhelix.city.hourly import HOUR, hour_of, hourly_means
from cityhelix.hub import service as hub


async def pollutant_streams(engine: AsyncEngine, thing_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per Thing, the Datastream of each pollutant it measures (the lowest id when several)."""
    found: dict[int, dict[str, int]] = {thing_id: {} for thing_id in thing_ids}
    for facts in await hub.datastreams_of_things(engine, thing_ids):
        pollutant = recognise(facts.observed_property_name, facts.observed_property_definition)
        if pollutant is not None:
            found[facts.thing_id].setdefault(pollutant, facts.id)
    return found


async def station_hourly(engine: AsyncEngine, streams: dict[str, int], hour: datetime) -> AqiResult:
    """The hourly VN_AQI for the hour starting at `hour` (UTC)."""
    span = table().nowcast_hours
    series: dict[str, list[float | None]] = {}
    for pollutant in POLLUTANTS:
        if pollutant not in streams:
            continue
        hours = span if pollutant in ("PM2.5", "PM10") else 1
        means = await hourly_means(engine, streams[pollutant], hour - (hours - 1) * HOUR, hours)
        series[pollutant] = list(reversed(means))  # latest first
    return hourly_aqi(series)


async def station_daily(
    engine: AsyncEngine, streams: dict[str, int], day: date, zone: tzinfo
) -> AqiResult:
    """The daily VN_AQI of the province's day `day` (24 hours from its midnight in `zone`)."""
    aqi = table()
    start = day_start(day, zone)
    series: dict[str, list[float | None]] = {}
    o3_before: list[float | None] = []
    for pollutant in POLLUTANTS:
        if pollutant not in streams:
            continue
        series[pollutant] = await hourly_means(engine, streams[pollutant], start, aqi.daily_hours)
        if pollutant == "O3":
            before = aqi.o3_8h_hours - 1
            o3_before = await hourly_means(
                engine, streams[pollutant], start - before * HOUR, before
            )
    return daily_aqi(series, o3_before)


@dataclass(frozen=True)
class StationIndex:
    """A station's current hourly index (at the hour of its newest PM reading)."""

    thing_id: int
    name: str
    district: str
    lon: float | None
    lat: float | None
    hour: datetime | None
    result: AqiResult | None


async def current_indices(
    engine: AsyncEngine, stations: list[hub.ThingSummary]
) -> list[StationIndex]:
    """Each station's hourly index at the hour of its newest PM2.5 or PM10 reading."""
    streams = await pollutant_streams(engine, [s.id for s in stations])
    pm_ids = [ids[p] for ids in streams.values() for p in ("PM2.5", "PM10") if p in ids]
    latest = await hub.latest_readings(engine, pm_ids)
    answer = []
    for station in stations:
        own = streams.get(station.id, {})
        times = [
            latest[own[p]].phenomenon_time
            for p in ("PM2.5", "PM10")
            if p in own and own[p] in latest
        ]
        hour = hour_of(max(times)) if times else None
        result = await station_hourly(engine, own, hour) if hour is not None else None
        lon, lat = _point(station)
        answer.append(
            StationIndex(
                station.id,
                station.name,
                str(station.properties.get("district", "")),
                lon,
                lat,
                hour,
                result,
            )
        )
    return answer


def _point(thing: hub.ThingSummary) -> tuple[float | None, float | None]:
    for geometry in thing.locations:
        if isinstance(geometry, dict) and geometry.get("type") == "Point":
            coordinates = geometry.get("coordinates")
            if isinstance(coordinates, list) and len(coordinates) >= 2:
                return float(coordinates[0]), float(coordinates[1])
    return None, None
