"""Hourly means of a Datastream read through the hub's service: the unit every domain's
method starts from (VN_AQI, level of service, rain intensity)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub import service as hub

HOUR = timedelta(hours=1)


def hour_of(time: datetime) -> datetime:
    """The start of the UTC hour holding `time`."""
    return time.replace(minute=0, second=0, microsecond=0)


def number(value: object) -> float | None:
    """A reading's result as a finite number, or None (text, booleans, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


async def hourly_means(
    engine: AsyncEngine, datastream_id: int, start: datetime, hours: int
) -> list[float | None]:
    """The mean of each hour from `start` (an hour's start) for `hours` hours, oldest first;
    None for an hour without a numeric reading."""
    end = start + hours * HOUR
    sums = [0.0] * hours
    counts = [0] * hours
    for reading in await hub.readings_between(engine, datastream_id, start, end):
        value = number(reading.result)
        if value is None:
            continue
        index = int((reading.phenomenon_time - start) / HOUR)
        if 0 <= index < hours:
            sums[index] += value
            counts[index] += 1
    return [s / c if c else None for s, c in zip(sums, counts, strict=True)]
