"""Per-Datastream 1-minute, 1-hour and 1-day aggregates, kept exact as Observations change.

A write names the minutes it touched; before it commits, those minutes are rebuilt from the
raw rows, their hours from the minutes and their days from the hours, so late data, deletes
and updates leave every bucket equal to an aggregate over the raw rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from cityhelix.hub.errors import BadRequest, NotFound
from cityhelix.hub.rollup_tables import observation_rollups
from cityhelix.hub.tables import datastreams, observations

MINUTE, HOUR, DAY = "1m", "1h", "1d"
#: the intervals, finest first: each level is rebuilt from the one before it
WIDTHS: dict[str, timedelta] = {
    MINUTE: timedelta(minutes=1),
    HOUR: timedelta(hours=1),
    DAY: timedelta(days=1),
}
#: the widest time range one rebuild query reads, so that a bulk load keeps memory bounded
_SPAN_LIMIT: dict[str, timedelta] = {
    MINUTE: timedelta(days=1),
    HOUR: timedelta(days=31),
    DAY: timedelta(days=366),
}
#: touched buckets at most this many buckets apart are rebuilt by one query, not two
_JOIN_GAP = 16
#: the most buckets one aggregates answer carries; more asks for a narrower range
MAX_BUCKETS = 100_000
_BACKFILL_BATCH = 5_000

#: a (Datastream id, UTC minute) bucket that a write changed
MinuteKey = tuple[int, datetime]

_rollup = observation_rollups.c


def bucket_start(moment: datetime, interval: str) -> datetime:
    """The UTC start of the `interval` bucket holding `moment`."""
    moment = moment.astimezone(UTC)
    if interval == MINUTE:
        return moment.replace(second=0, microsecond=0)
    if interval == HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


# ---------------------------------------------------------------------- what a write touched


def minute_of(columns: Mapping[str, Any]) -> MinuteKey | None:
    """The bucket a new Observation's columns fall in; None when it does not count."""
    stream_id = columns.get("datastream_id")
    if stream_id is None or columns.get("result_number") is None:
        return None
    return int(stream_id), bucket_start(columns["phenomenon_time_start"], MINUTE)


async def numeric_minutes(
    connection: AsyncConnection, condition: ColumnElement[bool]
) -> set[MinuteKey]:
    """The buckets of the stored numeric Observations matching `condition` (before a change)."""
    rows = await connection.execute(
        select(observations.c.datastream_id, observations.c.phenomenon_time_start)
        .where(
            condition,
            observations.c.datastream_id.is_not(None),
            observations.c.result_number.is_not(None),
        )
        .distinct()
    )
    return {
        (int(row.datastream_id), bucket_start(row.phenomenon_time_start, MINUTE)) for row in rows
    }


# ---------------------------------------------------------------------- rebuilding


class _Part(NamedTuple):
    """One raw reading, or one finer bucket, on its way into a coarser bucket."""

    time: datetime
    size: int  # how many readings ("count" is taken by tuple)
    minimum: float
    maximum: float
    total: float
    last: float
    last_time: datetime


@dataclass
class _Aggregate:
    """One bucket being built; the sum's parts are added once, exactly rounded, by fsum."""

    count: int = 0
    minimum: float = math.inf
    maximum: float = -math.inf
    parts: list[float] = field(default_factory=list)
    last: float = 0.0
    last_time: datetime | None = None

    def add(self, part: _Part) -> None:
        """Fold in one part; parts come in time order, so a tie goes to the later one."""
        self.count += part.size
        self.minimum = min(self.minimum, part.minimum)
        self.maximum = max(self.maximum, part.maximum)
        self.parts.append(part.total)
        if self.last_time is None or part.last_time >= self.last_time:
            self.last, self.last_time = part.last, part.last_time

    def summary(self, start: datetime) -> _Part:
        assert self.last_time is not None
        return _Part(
            start,
            self.count,
            self.minimum,
            self.maximum,
            math.fsum(self.parts),
            self.last,
            self.last_time,
        )


def _row(stream_id: int, interval: str, bucket: _Part) -> dict[str, Any]:
    return {
        "datastream_id": stream_id,
        "interval": interval,
        "bucket_start": bucket.time,
        "count": bucket.size,
        "min": bucket.minimum,
        "max": bucket.maximum,
        "sum": bucket.total,
        "last": bucket.last,
        "last_time": bucket.last_time,
    }


async def refresh(connection: AsyncConnection, minutes: Iterable[MinuteKey]) -> None:
    """Rebuild every minute in `minutes`, then the hours and days that hold them.

    Runs inside the caller's transaction, after its writes: what is committed is rolled up.
    """
    by_stream: dict[int, set[datetime]] = {}
    for stream_id, moment in minutes:
        by_stream.setdefault(stream_id, set()).add(bucket_start(moment, MINUTE))
    for stream_id in sorted(by_stream):
        await _lock_stream(connection, stream_id)
        touched = by_stream[stream_id]
        for interval in WIDTHS:
            width = WIDTHS[interval]
            spans = _spans(sorted({bucket_start(t, interval) for t in touched}), interval)
            touched = set()
            for start, end in spans:
                await _rebuild(connection, stream_id, interval, start, end)
                # every bucket of the span was rebuilt, so every coarser one holding it is due
                touched.update(start + width * i for i in range((end - start) // width))


async def _lock_stream(connection: AsyncConnection, stream_id: int) -> None:
    # On PostgreSQL two transactions rebuilding one Datastream take turns, so a rebuild
    # always reads the rows the other committed; SQLite has one writer at a time anyway.
    # FOR NO KEY UPDATE, the lock an UPDATE takes: FOR UPDATE would also wait for the key
    # share locks that inserting Observations take, and two writers would deadlock.
    await connection.execute(
        select(datastreams.c.id)
        .where(datastreams.c.id == stream_id)
        .with_for_update(key_share=True)
    )


def _spans(starts: Sequence[datetime], interval: str) -> list[tuple[datetime, datetime]]:
    """Sorted bucket starts grouped into few [start, end) ranges of bounded width."""
    width, limit = WIDTHS[interval], _SPAN_LIMIT[interval]
    spans: list[tuple[datetime, datetime]] = []
    for start in starts:
        if spans:
            first, end = spans[-1]
            if start <= end + width * _JOIN_GAP and start + width - first <= limit:
                spans[-1] = (first, start + width)
                continue
        spans.append((start, start + width))
    return spans


async def _rebuild(
    connection: AsyncConnection, stream_id: int, interval: str, start: datetime, end: datetime
) -> None:
    """Recompute one Datastream's `interval` buckets in [start, end) from the finer level."""
    built: dict[datetime, _Aggregate] = {}
    for part in await _finer_parts(connection, stream_id, interval, start, end):
        built.setdefault(bucket_start(part.time, interval), _Aggregate()).add(part)
    await connection.execute(
        delete(observation_rollups).where(
            _rollup.datastream_id == stream_id,
            _rollup.interval == interval,
            _rollup.bucket_start >= start,
            _rollup.bucket_start < end,
        )
    )
    if built:
        await connection.execute(
            insert(observation_rollups),
            [
                _row(stream_id, interval, aggregate.summary(bucket))
                for bucket, aggregate in sorted(built.items())
            ],
        )


async def _finer_parts(
    connection: AsyncConnection, stream_id: int, interval: str, start: datetime, end: datetime
) -> list[_Part]:
    """The parts of [start, end) in time order: the raw numeric rows for minutes (a range
    scan of `ix_observations_datastream_time`), the finer rollups for hours and days."""
    if interval == MINUTE:
        time = observations.c.phenomenon_time_start
        value = observations.c.result_number
        raw = await connection.execute(
            select(time, value)
            .where(
                observations.c.datastream_id == stream_id,
                time >= start,
                time < end,
                value.is_not(None),
            )
            .order_by(time, observations.c.id)
        )
        return [_Part(t, 1, v, v, v, v, t) for t, v in raw]
    finer = MINUTE if interval == HOUR else HOUR
    rows = await connection.execute(
        select(
            _rollup.bucket_start,
            _rollup["count"],
            _rollup["min"],
            _rollup["max"],
            _rollup["sum"],
            _rollup["last"],
            _rollup.last_time,
        )
        .where(
            _rollup.datastream_id == stream_id,
            _rollup.interval == finer,
            _rollup.bucket_start >= start,
            _rollup.bucket_start < end,
        )
        .order_by(_rollup.bucket_start)
    )
    return [_Part(*row) for row in rows]


# ---------------------------------------------------------------------- backfill


def backfill_sync(connection: Connection, stream_id: int) -> None:
    """Roll up every stored numeric Observation of one Datastream (the migration's backfill).

    One pass over the raw rows in time order: a minute closes into its hour and an hour into
    its day, folded exactly as `refresh` folds them, so a later refresh changes nothing.
    """
    time, value = observations.c.phenomenon_time_start, observations.c.result_number
    raw = connection.execute(
        select(time, value)
        .where(observations.c.datastream_id == stream_id, value.is_not(None))
        .order_by(time, observations.c.id)
        .execution_options(yield_per=_BACKFILL_BATCH)  # this statement only, not the connection
    )
    levels = list(WIDTHS)
    building: dict[int, tuple[datetime, _Aggregate]] = {}
    finished: list[dict[str, Any]] = []

    def close(level: int) -> None:
        start, aggregate = building.pop(level)
        bucket = aggregate.summary(start)
        finished.append(_row(stream_id, levels[level], bucket))
        if level + 1 < len(levels):
            fold(level + 1, bucket)

    def fold(level: int, part: _Part) -> None:
        start = bucket_start(part.time, levels[level])
        if level in building and building[level][0] != start:
            close(level)
        building.setdefault(level, (start, _Aggregate()))[1].add(part)

    for moment, number in raw:
        fold(0, _Part(moment, 1, number, number, number, number, moment))
        if len(finished) >= _BACKFILL_BATCH:
            connection.execute(insert(observation_rollups), finished)
            finished.clear()
    for level in range(len(levels)):
        if level in building:
            close(level)
    if finished:
        connection.execute(insert(observation_rollups), finished)


# ---------------------------------------------------------------------- reading


@dataclass(frozen=True)
class Bucket:
    """One aggregate as the API answers it."""

    start: datetime
    end: datetime
    count: int
    minimum: float
    maximum: float
    total: float
    last: float

    @property
    def mean(self) -> float:
        return self.total / self.count


async def read_buckets(
    engine: AsyncEngine,
    datastream_id: int,
    interval: str,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[Bucket]:
    """The `interval` buckets of a Datastream whose start lies in [start, end), in time order."""
    if interval not in WIDTHS:
        raise BadRequest(
            f"interval: expected one of {', '.join(WIDTHS)}, got {interval!r}", field="interval"
        )
    if start is not None and end is not None and end <= start:
        raise BadRequest("end: must be later than start", field="end")
    query = (
        select(observation_rollups)
        .where(_rollup.datastream_id == datastream_id, _rollup.interval == interval)
        .order_by(_rollup.bucket_start)
        .limit(MAX_BUCKETS + 1)
    )
    if start is not None:
        query = query.where(_rollup.bucket_start >= start)
    if end is not None:
        query = query.where(_rollup.bucket_start < end)
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(datastreams.c.id).where(datastreams.c.id == datastream_id)
        )
        if found is None:
            raise NotFound(f"no Datastream with id {datastream_id}")
        rows = (await connection.execute(query)).all()
    if len(rows) > MAX_BUCKETS:
        raise BadRequest(
            f"more than {MAX_BUCKETS} buckets; narrow start/end or choose a coarser interval",
            field="interval",
        )
    width = WIDTHS[interval]
    return [
        Bucket(
            row.bucket_start,
            row.bucket_start + width,
            row._mapping["count"],
            row.min,
            row.max,
            row.sum,
            row.last,
        )
        for row in rows
    ]
