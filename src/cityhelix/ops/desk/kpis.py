"""The operations centre's key figures for a time window, each computed by one SQL query:
open and overdue incidents by department and priority, mean and 90th percentile of time to
acknowledge and to resolve, readings per minute into the hub (through `hub.service`).

The 90th percentile is the nearest-rank one (the smallest value with at least 90 % of the
values at or below it: `cume_dist() >= 0.9`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

import cityhelix.hub.service as hub
from cityhelix.db.dialect import seconds_between
from cityhelix.ops.alerting.kpis import alert_counts
from cityhelix.ops.desk.incidents import OPEN_STATUSES, overdue_condition
from cityhelix.ops.desk.tables import incident_departments, incidents
from cityhelix.ops.errors import BadRequest

MAX_WINDOW = timedelta(days=366)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window_from(start_text: str | None, end_text: str | None) -> Window:
    """`from`/`to` (ISO 8601 with a zone); default the last 24 hours; at most 366 days."""
    now = datetime.now(UTC)

    def moment(text: str, name: str) -> datetime:
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise BadRequest(f"{name}: expected an ISO 8601 time with a zone", name) from None
        if value.tzinfo is None:
            raise BadRequest(f"{name}: give the time zone (e.g. Z)", name)
        return value.astimezone(UTC)

    end = moment(end_text, "to") if end_text else now
    start = moment(start_text, "from") if start_text else end - timedelta(days=1)
    if end <= start:
        raise BadRequest("to: must be after from", "to")
    if end - start > MAX_WINDOW:
        raise BadRequest("to: a window of at most 366 days", "to")
    return Window(start, end)


def _in_window(window: Window) -> ColumnElement[bool]:
    return (incidents.c.created_at >= window.start) & (incidents.c.created_at < window.end)


async def _by_department_and_priority(
    connection: AsyncConnection, condition: ColumnElement[bool]
) -> dict[str, dict[str, int]]:
    rows = await connection.execute(
        select(incident_departments.c.department, incidents.c.priority, func.count())
        .select_from(incidents.join(incident_departments))
        .where(condition)
        .group_by(incident_departments.c.department, incidents.c.priority)
    )
    counted: dict[str, dict[str, int]] = {}
    for department, priority, count in rows:
        counted.setdefault(department, {})[priority] = int(count)
    return counted


async def _duration(
    connection: AsyncConnection, window: Window, until: Any
) -> dict[str, float | int | None]:
    """Count, mean and p90 (seconds) of `until - created_at` over the window's incidents."""
    seconds = seconds_between(incidents.c.created_at, until).label("seconds")
    values = select(seconds).where(_in_window(window), until.is_not(None)).subquery("durations")
    ranked = select(
        values.c.seconds,
        func.cume_dist().over(order_by=values.c.seconds).label("rank"),
    ).subquery("ranked")
    summary = (await connection.execute(select(func.count(), func.avg(values.c.seconds)))).one()
    p90 = (
        await connection.execute(select(func.min(ranked.c.seconds)).where(ranked.c.rank >= 0.9))
    ).scalar_one()
    return {
        "count": int(summary[0]),
        "mean_seconds": None if summary[1] is None else float(summary[1]),
        "p90_seconds": None if p90 is None else float(p90),
    }


async def alerts_by_severity(connection: AsyncConnection, window: Window) -> dict[str, int]:
    """Alerts raised in the window by severity, as the alerting part counts them."""
    return await alert_counts(connection, window.start, window.end)


async def key_figures(engine: AsyncEngine, window: Window) -> dict[str, Any]:
    """Every figure for `window` (incidents created in it; open and overdue as of now)."""
    now = datetime.now(UTC)
    async with engine.connect() as connection:
        open_now = _in_window(window) & incidents.c.status.in_(OPEN_STATUSES)
        late = _in_window(window) & overdue_condition(now)
        open_counts = await _by_department_and_priority(connection, open_now)
        overdue_counts = await _by_department_and_priority(connection, late)
        overdue_total = (
            await connection.execute(select(func.count()).select_from(incidents).where(late))
        ).scalar_one()
        acknowledge = await _duration(connection, window, incidents.c.acknowledged_at)
        resolve = await _duration(connection, window, incidents.c.resolved_at)
        alerts = await alerts_by_severity(connection, window)
    readings = await hub.readings_count_between(engine, window.start, window.end)
    minutes = (window.end - window.start).total_seconds() / 60
    return {
        "from": window.start.isoformat().replace("+00:00", "Z"),
        "to": window.end.isoformat().replace("+00:00", "Z"),
        "open_by_department": open_counts,
        "overdue_by_department": overdue_counts,
        "overdue": int(overdue_total),
        "time_to_acknowledge": acknowledge,
        "time_to_resolve": resolve,
        "alerts_by_severity": alerts,
        "readings": readings,
        "readings_per_minute": readings / minutes,
    }
