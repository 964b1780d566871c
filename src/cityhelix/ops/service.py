"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.engine import read_connection
from cityhelix.ops.desk.tables import incidents

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------

# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------


@dataclass(frozen=True)
class CitizenInquiry:
    """A citizen's non-emergency request (Open311, hotline, app) and when staff answered."""

    id: int
    channel: str
    created_at: datetime
    acknowledged_at: datetime | None


#: the incidents' source that marks a citizen's inquiry (Open311 and the desk's own form)
CITIZEN_SOURCE = "citizen"


async def citizen_inquiries(
    engine: AsyncEngine, start: datetime, end: datetime
) -> list[CitizenInquiry]:
    """The citizens' inquiries created in [start, end), oldest first, with the moment each
    was first acknowledged (None while nobody has): the helix scorecard's response time."""
    statement = (
        select(incidents.c.id, incidents.c.channel, incidents.c.created_at,
               incidents.c.acknowledged_at)
        .where(
            incidents.c.source == CITIZEN_SOURCE,
            incidents.c.created_at >= start,
            incidents.c.created_at < end,
        )
        .order_by(incidents.c.created_at, incidents.c.id)
    )  # fmt: skip
    async with read_connection(engine) as connection:
        rows = (await connection.execute(statement)).all()
    return [
        CitizenInquiry(row.id, row.channel, row.created_at, row.acknowledged_at) for row in rows
    ]
