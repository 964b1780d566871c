"""Time partitions of the Observation table on PostgreSQL: made ahead, split out, dropped.

The table is range-partitioned by `phenomenon_time_start`, one partition a month plus a
DEFAULT partition that catches readings of months without one (a late import, a device
with a wrong clock). `maintain` creates the months ahead, moves any month that gathered
in the default partition into a partition of its own, and drops whole months older than
the retention period — a DROP TABLE instead of a DELETE of millions of rows.
SQLite keeps one table; there `maintain` only applies the retention with a DELETE.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import bindparam, delete, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.db.metadata import metadata
from cityhelix.db.types import UtcDateTime

PARENT = "observations"
DEFAULT = "observations_default"
_NAME = re.compile(r"^observations_y(\d{4})m(\d{2})$")
_LOCK_KEY = 7_303_002
_FIRST_MONTH = date(1, 1, 1)
_LAST_MONTH = date(9999, 12, 1)
log = logging.getLogger(__name__)


def month_start(moment: date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + (month.month == 12), month.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"observations_y{month.year:04d}m{month.month:02d}"


def _bound(month: date) -> str:
    return f"{month.isoformat()} 00:00:00+00"


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    split_out: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    deleted_rows: int = 0


async def existing_months(connection: AsyncConnection) -> set[date]:
    rows = await connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"
        ),
        {"parent": PARENT},
    )
    months = set()
    for (name,) in rows:
        match = _NAME.match(name)
        if match:
            months.add(date(int(match.group(1)), int(match.group(2)), 1))
    return months


async def _add_month(connection: AsyncConnection, month: date) -> None:
    """Create the month's partition, first moving its rows out of the default partition."""
    name, low, high = partition_name(month), _bound(month), _bound(next_month(month))
    # identifiers and bounds come from dates we format ourselves, never from input
    await connection.execute(text(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)"))
    window = {"low": datetime.fromisoformat(low), "high": datetime.fromisoformat(high)}
    moved = text(
        f"WITH gone AS (DELETE FROM {DEFAULT} WHERE phenomenon_time_start >= :low "
        f"AND phenomenon_time_start < :high RETURNING *) INSERT INTO {name} SELECT * FROM gone"
    )
    await connection.execute(moved, window)
    await connection.execute(
        text(
            f"ALTER TABLE {PARENT} ATTACH PARTITION {name} FOR VALUES FROM ('{low}') TO ('{high}')"
        )
    )


async def maintain(
    engine: AsyncEngine,
    *,
    now: datetime | None = None,
    months_ahead: int = 2,
    retention_days: int | None = None,
) -> MaintenanceReport:
    """Make partitions ahead, split the default partition, apply retention."""
    now = now or datetime.now(UTC)
    report = MaintenanceReport()
    cutoff = now - timedelta(days=retention_days) if retention_days is not None else None
    async with engine.begin() as connection:
        if connection.dialect.name != "postgresql":
            if cutoff is not None:
                observations = metadata.tables[PARENT]  # registered by the hub's tables
                result = await connection.execute(
                    delete(observations).where(observations.c.phenomenon_time_start < cutoff)
                )
                report.deleted_rows = result.rowcount or 0
            return report
        await connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        have = await existing_months(connection)
        wanted = set()
        month = month_start(now.date())
        for _ in range(months_ahead + 1):
            wanted.add(month)
            month = next_month(month)
        stray = await connection.execute(
            text(
                f"SELECT DISTINCT date_trunc('month', phenomenon_time_start AT TIME ZONE 'UTC') "
                f"FROM {DEFAULT}"
            )
        )
        for (moment,) in stray:
            month = month_start(moment.date())
            # the first and last months of the calendar cannot be a partition: their outer
            # bound is -infinity/infinity to asyncpg or past year 9999 (their rows, stored
            # before the hub refused such times, stay in the default partition)
            if _FIRST_MONTH < month < _LAST_MONTH:
                wanted.add(month)
        for month in sorted(wanted - have):
            end = next_month(month)
            if cutoff is not None and datetime(end.year, end.month, 1, tzinfo=UTC) <= cutoff:
                continue  # about to be dropped anyway
            await _add_month(connection, month)
            (report.split_out if month < month_start(now.date()) else report.created).append(
                partition_name(month)
            )
        if cutoff is not None:
            for month in sorted(await existing_months(connection)):
                end = next_month(month)
                if datetime(end.year, end.month, 1, tzinfo=UTC) <= cutoff:
                    await connection.execute(text(f"DROP TABLE {partition_name(month)}"))
                    report.dropped.append(partition_name(month))
            statement = text(f"DELETE FROM {DEFAULT} WHERE phenomenon_time_start < :cutoff")
            statement = statement.bindparams(bindparam("cutoff", type_=UtcDateTime))
            result = await connection.execute(statement, {"cutoff": cutoff})
            report.deleted_rows = result.rowcount or 0
    return report


async def keep_partitions(
    engine: AsyncEngine,
    *,
    retention_days: int | None,
    interval_s: float = 3600.0,
    months_ahead: int = 2,
) -> None:
    """Run `maintain` every `interval_s` until cancelled (owned by the app's lifespan).

    A failed round is logged with its traceback and retried next round: a database that
    is briefly away must not end partition keeping for the life of the process.
    """
    while True:
        await asyncio.sleep(interval_s)
        try:
            report = await maintain(
                engine, months_ahead=months_ahead, retention_days=retention_days
            )
        except SQLAlchemyError:
            log.exception("observation partition maintenance failed; retrying next round")
            continue
        if report.created or report.split_out or report.dropped or report.deleted_rows:
            log.info("observation partitions: %s", report)
