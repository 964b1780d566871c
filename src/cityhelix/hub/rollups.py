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

from sqlalchemy import (
    Select,
    Subquery,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement, Executable

from cityhelix.db.time_buckets import span_parameters, span_rows, utc_bucket_start
from cityhelix.hub.errors import BadRequest, NotFound
from cityhelix.hub.model import EntityType
from cityhelix.hub.rollup_tables import observation_rollups
from cityhelix.hub.store import write  # noqa: F401 - the built-in hooks register first
from cityhelix.hub.store.hooks import EntityHooks, register_hooks
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
#: a Datastream id and a bucket-aligned [start, end) range of it that a rebuild covers
Span = tuple[int, datetime, datetime]

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
    The statements cover every touched Datastream at once (a DELETE and an INSERT ... SELECT
    per level), so a batch of readings spread over a thousand Datastreams costs as many
    round trips as a batch for one.
    """
    starts: dict[int, list[datetime]] = {}
    for stream_id, minute in minutes:  # already minute starts (see MinuteKey)
        starts.setdefault(stream_id, []).append(minute)
    if not starts:
        return
    await _lock_streams(connection, sorted(starts))
    levels = list(WIDTHS)
    for interval, coarser in zip(levels, [*levels[1:], None], strict=True):
        spans: list[Span] = []
        due: dict[int, list[datetime]] = {}
        for stream_id in sorted(starts):
            for start, end in _spans(sorted(set(starts[stream_id])), interval):
                spans.append((stream_id, start, end))
                # every bucket of the span is rebuilt, so every coarser one holding it is due
                if coarser is not None:
                    bucket = bucket_start(start, coarser)
                    while bucket < end:
                        due.setdefault(stream_id, []).append(bucket)
                        bucket += WIDTHS[coarser]
        if spans:
            await connection.execute(_CLEARED[interval], _span_parameters(spans))
            await connection.execute(
                _filled(connection.dialect, interval), span_parameters(connection.dialect, spans)
            )
        starts = due


async def _lock_streams(connection: AsyncConnection, stream_ids: Sequence[int]) -> None:
    # On PostgreSQL two transactions rebuilding one Datastream take turns, so a rebuild
    # always reads the rows the other committed; SQLite has one writer at a time anyway.
    # The rows are locked in id order (the sort is below the lock in the plan), so two
    # rebuilds of overlapping sets of Datastreams never wait for each other in a circle.
    # FOR NO KEY UPDATE, the lock an UPDATE takes: FOR UPDATE would also wait for the key
    # share locks that inserting Observations take, and two writers would deadlock.
    await connection.execute(
        select(datastreams.c.id)
        .where(datastreams.c.id.in_(stream_ids))
        .order_by(datastreams.c.id)
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


def _cleared(interval: str) -> Executable:
    """Empty the `interval` buckets of one span: run once per span in one executemany (on
    PostgreSQL one round trip), each an index range of the primary key."""
    return delete(observation_rollups).where(
        _rollup.datastream_id == bindparam("span_stream"),
        _rollup.interval == interval,
        _rollup.bucket_start >= bindparam("span_start", type_=_rollup.bucket_start.type),
        _rollup.bucket_start < bindparam("span_end", type_=_rollup.bucket_start.type),
    )


_CLEARED = {interval: _cleared(interval) for interval in WIDTHS}


def _span_parameters(spans: Sequence[Span]) -> list[dict[str, Any]]:
    return [
        {"span_stream": stream_id, "span_start": start, "span_end": end}
        for stream_id, start, end in spans
    ]


#: the rebuild INSERTs, by backend and interval: built once, so compiled once
_FILLED: dict[tuple[str, str], Executable] = {}


def _filled(dialect: Dialect, interval: str) -> Executable:
    """Recompute the `interval` buckets of each span bound by `span_parameters` from the
    finer level, once `_cleared` emptied them; the spans are bucket-aligned and disjoint.

    The database aggregates (one INSERT ... SELECT ... GROUP BY), so the rows never travel
    to Python: a 10,000-row write costs a range scan, not 10,000 rows read back and folded
    one by one. The spans are joined as rows (`span_rows`), so the statement is the same
    for one span or thousands: built once per backend and interval, compiled once.
    """
    key = (dialect.name, interval)
    if key not in _FILLED:
        _FILLED[key] = _filled_statement(dialect, interval)
    return _FILLED[key]


def _filled_statement(dialect: Dialect, interval: str) -> Executable:
    parts = _finer_parts(interval, span_rows(dialect)).subquery("parts")
    bucket = utc_bucket_start(interval, parts.c.time)
    # rank 1 is the bucket's last part: greatest time, then greatest id (for the raw rows)
    ranked = select(
        bucket.label("bucket"),
        parts,
        func.row_number()
        .over(
            partition_by=(parts.c.stream, bucket),
            order_by=(parts.c.last_time.desc(), parts.c.tie.desc()),
        )
        .label("rank"),
    ).subquery("ranked")
    built = select(
        ranked.c.stream,
        literal(interval, _rollup.interval.type),
        ranked.c.bucket,
        func.sum(ranked.c.size),
        func.min(ranked.c.minimum),
        func.max(ranked.c.maximum),
        func.sum(ranked.c.total),
        func.max(case((ranked.c.rank == 1, ranked.c.last))),
        func.max(ranked.c.last_time),
    ).group_by(ranked.c.stream, ranked.c.bucket)
    return insert(observation_rollups).from_select(
        [column.name for column in observation_rollups.columns], built
    )


def _finer_parts(interval: str, spans: Subquery) -> Select[Any]:
    """What the spans are built from, one row a part: the raw numeric rows for minutes (range
    scans of `ix_observations_datastream_time`), the finer rollups for hours and days."""
    if interval == MINUTE:
        time = observations.c.phenomenon_time_start
        value = observations.c.result_number
        return (
            select(
                observations.c.datastream_id.label("stream"),
                time.label("time"),
                literal(1).label("size"),
                value.label("minimum"),
                value.label("maximum"),
                value.label("total"),
                value.label("last"),
                time.label("last_time"),
                observations.c.id.label("tie"),
            )
            .select_from(
                spans.join(
                    observations,
                    and_(
                        observations.c.datastream_id == spans.c.stream_id,
                        time >= spans.c.span_start,
                        time < spans.c.span_end,
                    ),
                )
            )
            .where(value.is_not(None))
        )
    finer = MINUTE if interval == HOUR else HOUR
    return (
        select(
            _rollup.datastream_id.label("stream"),
            _rollup.bucket_start.label("time"),
            _rollup["count"].label("size"),
            _rollup["min"].label("minimum"),
            _rollup["max"].label("maximum"),
            _rollup["sum"].label("total"),
            _rollup["last"].label("last"),
            _rollup.last_time.label("last_time"),
            _rollup.bucket_start.label("tie"),
        )
        .select_from(
            spans.join(
                observation_rollups,
                and_(
                    _rollup.datastream_id == spans.c.stream_id,
                    _rollup.bucket_start >= spans.c.span_start,
                    _rollup.bucket_start < spans.c.span_end,
                ),
            )
        )
        .where(_rollup.interval == finer)
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
            spans = [(stream_id, start, end)]
            connection.execute(_CLEARED[interval], _span_parameters(spans))
            connection.execute(
                _filled(connection.dialect, interval), span_parameters(connection.dialect, spans)
            )
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


# ---------------------------------------------------------------------- the writer's hook


class ObservationRollups(EntityHooks):
    """Keeps the rollups in step with the Observations a transaction writes: the minutes a
    change touches are gathered, and rebuilt (with their hours and days) before the commit.

    Registered from here, above the store: the writer only knows it as an Observation hook.
    """

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.minutes: set[MinuteKey] = set()

    def condition(self, entity_id: int) -> ColumnElement[bool]:
        """The stored Observations an entity's change moves between buckets."""
        return observations.c.id == entity_id

    async def inserted(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        minute = minute_of(columns)
        if minute is not None:
            self.minutes.add(minute)

    async def rows_inserted(
        self, stream_type: EntityType, stream_id: int, rows: list[dict[str, Any]]
    ) -> None:
        if rows[0].get("datastream_id") is None:
            return  # MultiDatastreams have no rollups
        numeric = (
            row["phenomenon_time_start"] for row in rows if row.get("result_number") is not None
        )
        self.minutes |= minutes_of(stream_id, numeric)

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        await self._note(entity_id)  # the buckets it leaves

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        await self._note(entity_id)  # the buckets it enters

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        await self._note(entity_id)

    async def deleted(self, entity_type: EntityType, entity_id: int) -> None:
        await self.finish()  # a delete does not end with the writer's finish()

    async def finish(self) -> None:
        await refresh(self.writer.connection, self.minutes)
        self.minutes.clear()

    async def _note(self, entity_id: int) -> None:
        self.minutes |= await numeric_minutes(self.writer.connection, self.condition(entity_id))


class FeatureRollups(ObservationRollups):
    """A deleted FeatureOfInterest takes its Observations, and their buckets change; an
    updated one moves none (Datastreams and Things take their rollups by cascade)."""

    def condition(self, entity_id: int) -> ColumnElement[bool]:
        return observations.c.feature_of_interest_id == entity_id

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        return None

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        return None


register_hooks(ObservationRollups, "Observation")
register_hooks(FeatureRollups, "FeatureOfInterest")
