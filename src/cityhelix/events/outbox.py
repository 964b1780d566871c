"""The outbox: each write transaction's events, appended in that transaction before it commits.

Written by one function (`append`), whatever the backend: the database backend reads it
directly, the NATS backend relays it to JetStream. Rows are read in (transaction id, id)
order and only once every older transaction has finished, so a transaction that commits
after a younger one is never skipped (PostgreSQL); SQLite writes one at a time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.db.dialect import committed_horizon, transaction_id
from cityhelix.events.bus import EntityEvent
from cityhelix.events.stream import Change
from cityhelix.events.tables import event_outbox

#: the PostgreSQL NOTIFY channel the outbox's trigger signals on (see migration 0006)
CHANNEL = "cityhelix_changes"


@dataclass(frozen=True, order=True)
class Position:
    """After the outbox row (xid, id): the rows ordered after it are still to be read."""

    xid: int
    id: int

    def __str__(self) -> str:
        return f"{self.xid}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Position:
        xid, _, row_id = text.partition(":")
        return cls(int(xid), int(row_id))


START = Position(-1, 0)
#: the most events in one outbox row (a write of more takes several rows, in order)
EVENTS_PER_ROW = 20_000


async def append(connection: AsyncConnection, events: Sequence[EntityEvent]) -> None:
    """Record `events` in the caller's transaction: one row for all of them.

    Each event is a JSON array `[action, entity_type, id, payload, pillar]` (docs/events.md).
    """
    if not events:
        return
    now = datetime.now(UTC)
    # a huge transaction (an import of a million readings) in rows of a bounded size
    rows = [
        {
            "committed_at": now,
            "event_count": len(part),
            "events": orjson.dumps(list(map(tuple, part)), default=_plain).decode(),
        }
        for part in (events[i : i + EVENTS_PER_ROW] for i in range(0, len(events), EVENTS_PER_ROW))
    ]
    await connection.execute(insert(event_outbox).values(xid=transaction_id()), rows)


def _plain(value: object) -> object:
    """What orjson cannot write itself: read-only mappings (an event without payload)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot write {type(value).__name__} into an event")


async def read_after(connection: AsyncConnection, position: Position, limit: int) -> list[Change]:
    """Up to `limit` final rows after `position`, in order (one snapshot, one statement)."""
    rows = await connection.execute(
        select(
            event_outbox.c.xid,
            event_outbox.c.id,
            event_outbox.c.committed_at,
            event_outbox.c.events,
        )
        .where(
            tuple_(event_outbox.c.xid, event_outbox.c.id) > tuple_(position.xid, position.id),
            event_outbox.c.xid < committed_horizon(),
        )
        .order_by(event_outbox.c.xid, event_outbox.c.id)
        .limit(limit)
    )
    return [
        Change(
            str(Position(row.xid, row.id)), row.committed_at, _decoded(row.xid, row.id, row.events)
        )
        for row in rows
    ]


#: the most events `_decoded` keeps (a few bulk writes' rows)
_DECODED_EVENTS_KEPT = 100_000
_decoded_rows: OrderedDict[tuple[int, int, str], tuple[EntityEvent, ...]] = OrderedDict()


def _decoded(xid: int, row_id: int, text: str) -> tuple[EntityEvent, ...]:
    """The events of an outbox row, decoded once for every consumer group of this process.

    Each group (rules, the desk, traffic, webhooks, ...) reads every row soon after it
    commits; decoding a bulk write's row (20,000 events) costs far more than reading it,
    and the serve process paid it once per group (bulk ingest: 15 % of its CPU). Keyed by
    the row's text as well as its position: positions restart when the tables are emptied
    (SQLite), the text makes a stale hit impossible. Events are immutable named tuples; their
    payloads are shared and never changed after the write.
    """
    key = (xid, row_id, text)
    events = _decoded_rows.get(key)
    if events is not None:
        _decoded_rows.move_to_end(key)
        return events
    events = tuple(EntityEvent(*event) for event in orjson.loads(text))
    _decoded_rows[key] = events
    kept = sum(len(kept_events) for kept_events in _decoded_rows.values())
    while kept > _DECODED_EVENTS_KEPT and len(_decoded_rows) > 1:
        _, dropped = _decoded_rows.popitem(last=False)
        kept -= len(dropped)
    return events


async def latest(connection: AsyncConnection) -> Position:
    """The position after every final row: what a group that starts "latest" has read."""
    horizon, newest = (
        await connection.execute(select(committed_horizon(), func.max(event_outbox.c.id)))
    ).one()
    # every transaction below the horizon has finished, its rows are visible and counted in
    # `newest`; those of the horizon's and younger transactions are still to come
    return Position(int(horizon) - 1, newest or 0)


async def lag(connection: AsyncConnection, position: Position) -> tuple[int, int, datetime | None]:
    """Changes and events kept after `position`, and when the oldest of them committed."""
    changes, events, oldest = (
        await connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(event_outbox.c.event_count), 0),
                func.min(event_outbox.c.committed_at),
            ).where(
                tuple_(event_outbox.c.xid, event_outbox.c.id) > tuple_(position.xid, position.id)
            )
        )
    ).one()
    return int(changes), int(events), oldest


async def kept(connection: AsyncConnection) -> tuple[int, datetime | None]:
    count, oldest = (
        await connection.execute(select(func.count(), func.min(event_outbox.c.committed_at)))
    ).one()
    return int(count), oldest


async def prune(connection: AsyncConnection, retention: timedelta) -> int:
    """Delete the changes committed longer than `retention` ago; how many went."""
    cutoff = datetime.now(UTC) - retention
    result = await connection.execute(
        delete(event_outbox).where(event_outbox.c.committed_at < cutoff)
    )
    return int(result.rowcount or 0)
