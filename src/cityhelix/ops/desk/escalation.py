"""Escalation of overdue incidents along the catalogue's chain (department head, operations
centre, province), each level once, written on the timeline and announced.

Safe with N processes: a level is taken by compare-and-set on `escalation_level` (only the
process whose UPDATE moved it from n - 1 to n writes the timeline and the event).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.ops.desk.catalogue import Catalogue
from cityhelix.ops.desk.incidents import announce, overdue_condition
from cityhelix.ops.desk.tables import incident_timeline, incidents

logger = logging.getLogger(__name__)
#: incidents looked at per pass (the rest in the next pass)
BATCH = 500
ACTOR = "escalation"


def due_level(catalogue: Catalogue, row: Any, now: datetime) -> int:
    """How many levels of the chain the incident has earned by now (0: none), counted in
    working hours past the first deadline it missed (respond-by while unacknowledged)."""
    unacknowledged = row.acknowledged_at is None and row.respond_by < now
    breached: datetime = row.respond_by if unacknowledged else row.resolve_by
    if breached >= now:
        return 0
    overdue_hours = catalogue.calendar.working_hours_between(breached, now)
    return sum(1 for level in catalogue.escalation if overdue_hours >= level.after_hours)


async def escalate_overdue(engine: AsyncEngine, catalogue: Catalogue) -> int:
    """One pass: raise each overdue incident to the level it is due; the levels taken."""
    now = datetime.now(UTC)
    chain = catalogue.escalation
    async with engine.connect() as connection:
        rows = list(
            await connection.execute(
                select(incidents)
                .where(overdue_condition(now), incidents.c.escalation_level < len(chain))
                .order_by(incidents.c.id)
                .limit(BATCH)
            )
        )
    taken = 0
    for row in rows:
        target = min(due_level(catalogue, row, now), len(chain))
        for level in range(row.escalation_level + 1, target + 1):
            async with engine.begin() as connection:
                moved = await connection.execute(
                    update(incidents)
                    .where(incidents.c.id == row.id, incidents.c.escalation_level == level - 1)
                    .values(escalation_level=level, updated_at=now)
                )
                if moved.rowcount != 1:
                    break  # another process took this level
                await connection.execute(
                    insert(incident_timeline).values(
                        incident_id=row.id,
                        at=now,
                        actor=ACTOR,
                        kind="escalation",
                        detail={"level": level, "to": chain[level - 1].level},
                    )
                )
                await announce(connection, "update", row.id, now)
            taken += 1
    return taken


async def escalate_forever(engine: AsyncEngine, catalogue: Catalogue, every: float) -> None:
    while True:
        try:
            await escalate_overdue(engine, catalogue)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("an escalation pass failed; the next one tries again")
        await asyncio.sleep(every)
