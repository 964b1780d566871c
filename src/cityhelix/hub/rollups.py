"""Per-Datastream 1-minute, 1-hour and 1-day aggregates, kept in step as Observations change.

A write names the minutes it touched; before it commits, the database rebuilds those minutes
from the raw rows, their hours from the minutes and their days from the hours (in SQL, so no
row travels to Python), and late data, deletes and updates leave every bucket equal to an
aggregate over the raw rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, case, delete, func, insert, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement, Executable

from cityhelix.db.time_buckets import utc_bucket_start
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

#: a (Datastream id, UTC minute start) bucket that a write changed
MinuteKey = tuple[int, datetime]

_rollup = observation_rollups.c


def bucket_start(moment: datetime, interval: str) -> datetime:
    """The UTC start of the `interval` bucket holding `moment`."""
    if moment.tzinfo is not UTC:
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


def minutes_of(stream_id: int, moments: Iterable[datetime]) -> set[MinuteKey]:
    """The buckets of a Datastream's new numeric Observations at `moments`.

    Consecutive readings mostly share a minute, so a moment inside the last minute found
    costs two comparisons; working out a minute (`bucket_start`) is the dear part.
    """
    found: set[MinuteKey] = set()
    start = end = None
    for moment in moments:
        if start is None or end is None or not start <= moment < end:
            start = bucket_start(moment, MINUTE)
            end = start + WIDTHS[MINUTE]
            found.add((stream_id, start))
    return found


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


async def refresh(connection: AsyncConnection, minutes: Iterable[MinuteKey]) -> None:
    """Rebuild every minute in `minutes`, then the hours and days that hold them.

    Runs inside the caller's transaction, after its writes: what is committed is rolled up.
    """
    by_stream: dict[int, set[datetime]] = {}
    for stream_id, minute in minutes:  # already minute starts (see MinuteKey)
        by_stream.setdefault(stream_id, set()).add(minute)
    levels = list(WIDTHS)
    for stream_id in sorted(by_stream):
        await _lock_stream(connection, stream_id)
        starts = sorted(by_stream[stream_id])
        for interval, coarser in zip(levels, [*levels[1:], None], strict=True):
            due: set[datetime] = set()
            for start, end in _spans(starts, interval):
                await _rebuild(connection, stream_id, interval, start, end)
                # every bucket of the span was rebuilt, so every coarser one holding it is due
                if coarser is not None:
                    bucket = bucket_start(start, coarser)
                    while bucket < end:
                        due.add(bucket)
                        bucket += WIDTHS[coarser]
            starts = sorted(due)


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
    for statement in _rebuild_statements(stream_id, interval, start, end):
        await connection.execute(statement)


def _rebuild_statements(
    stream_id: int, interval: str, start: datetime, end: datetime
) -> tuple[Executable, Executable]:
    """Recompute one Datastream's `interval` buckets in [start, end) from the finer level.

    The database aggregates (a DELETE of the range, then one INSERT ... SELECT ... GROUP
    BY), so the rows never travel to Python: a 10,000-row write costs a range scan, not
    10,000 rows read back and folded one by one.
    """
    cleared = delete(observation_rollups).where(
        _rollup.datastream_id == stream_id,
        _rollup.interval == interval,
        _rollup.bucket_start >= start,
        _rollup.bucket_start < end,
    )
    parts = _finer_parts(stream_id, interval, start, end).subquery("parts")
    bucket = utc_bucket_start(interval, parts.c.time)
    # rank 1 is the bucket's last part: greatest time, then greatest id (for the raw rows)
    ranked = select(
        bucket.label("bucket"),
        parts,
        func.row_number()
        .over(partition_by=bucket, order_by=(parts.c.last_time.desc(), parts.c.tie.desc()))
        .label("rank"),
    ).subquery("ranked")
    built = select(
        literal(stream_id, _rollup.datastream_id.type),
        literal(interval, _rollup.interval.type),
        ranked.c.bucket,
        func.sum(ranked.c.size),
        func.min(ranked.c.minimum),
        func.max(ranked.c.maximum),
        func.sum(ranked.c.total),
        func.max(case((ranked.c.rank == 1, ranked.c.last))),
        func.max(ranked.c.last_time),
    ).group_by(ranked.c.bucket)
    filled = insert(observation_rollups).from_select(
        [column.name for column in observation_rollups.columns], built
    )
    return cleared, filled


def _finer_parts(stream_id: int, interval: str, start: datetime, end: datetime) -> Select[Any]:
    """What [start, end) is built from, one row a part: the raw numeric rows for minutes (a
    range scan of `ix_observations_datastream_time`), the finer rollups for hours and days."""
    if interval == MINUTE:
        time = observations.c.phenomenon_time_start
        value = observations.c.result_number
        return select(
            time.label("time"),
            literal(1).label("size"),
            value.label("minimum"),
            value.label("maximum"),
            value.label("total"),
            value.label("last"),
            time.label("last_time"),
            observations.c.id.label("tie"),
        ).where(
            observations.c.datastream_id == stream_id,
            time >= start,
            time < end,
            value.is_not(None),
        )
    finer = MINUTE if interval == HOUR else HOUR
    return select(
        _rollup.bucket_start.label("time"),
        _rollup["count"].label("size"),
        _rollup["min"].label("minimum"),
        _rollup["max"].label("maximum"),
        _rollup["sum"].label("total"),
        _rollup["last"].label("last"),
        _rollup.last_time.label("last_time"),
        _rollup.bucket_start.label("tie"),
    ).where(
        _rollup.datastream_id == stream_id,
        _rollup.interval == finer,
        _rollup.bucket_start >= start,
        _rollup.bucket_start < end,
    )


# ---------------------------------------------------------------------- backfill


def backfill_sync(connection: Connection, stream_id: int) -> None:
    """Roll up every stored numeric Observation of one Datastream (the migration's backfill).

    The statements `refresh` runs, over the Datastream's whole time range in windows of
    bounded width (all minutes, then the hours, then the days), so a later refresh
    changes nothing and a year of readings never sits in memory at once.
    """
    time, value = observations.c.phenomenon_time_start, observations.c.result_number
    first, last = connection.execute(
        select(func.min(time), func.max(time)).where(
            observations.c.datastream_id == stream_id, value.is_not(None)
        )
    ).one()
    if first is None:
        return
    for interval in WIDTHS:
        start = bucket_start(first, interval)
        while start <= last:
            end = bucket_start(start + _SPAN_LIMIT[interval], interval)
            for statement in _rebuild_statements(stream_id, interval, start, end):
                connection.execute(statement)
            start = end


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
