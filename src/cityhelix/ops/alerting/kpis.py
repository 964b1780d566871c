"""Alert figures for the desk's KPIs (`GET /api/ops/kpis`), computed in SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.ops.alerting.rules import SEVERITIES
from cityhelix.ops.alerting.tables import ops_alerts


async def alert_counts(
    connection: AsyncConnection, start: datetime, end: datetime
) -> dict[str, int]:
    """Alerts raised in [start, end) by severity (the severity they have now); every
    severity is a key, 0 when none."""
    rows = await connection.execute(
        select(ops_alerts.c.severity, func.count())
        .where(ops_alerts.c.first_seen >= start, ops_alerts.c.first_seen < end)
        .group_by(ops_alerts.c.severity)
    )
    counts = dict.fromkeys(SEVERITIES, 0)
    for severity, count in rows:
        counts[severity] = int(count)
    return counts
