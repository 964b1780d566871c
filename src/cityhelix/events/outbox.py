"""The outbox: each write transaction's events, appended in that transaction before it commits.

Written by one function (`append`), whatever the backend: the database backend reads it
directly, the NATS backend relays it to JetStream. Rows are read in (transaction id, id)
order and only once every older transaction has finished, so a transaction that commits
after a younger one is never skipped (PostgreSQL); SQLite writes one at a time.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import BigInteger, Integer, Select, bindparam, delete, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.db.dialect import committed_horizon, transaction_id
from cityhelix.events.bus import EntityEvent
from cityhelix.events.stream import Change, Events, as_events
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
#: the most events in one outbox row (a write of more takes several rows, in order): a
#: row is encoded and decoded in one call that holds the event loop (about 10 ms here)
EVENTS_PER_ROW = 5_000
#: the events one read returns at most (at least one row, whatever its size): a consumer
#: group behind by a million readings reads them a bounded batch at a time
EVENTS_PER_READ = 20_000


async def append(connection: AsyncConnection, events: Sequence[EntityEvent]) -> list[Events]:
    """Record `events` in the caller's transaction: one row for all of them; the rows'
    events (`Events`, in order), for the caller to publish on the bus after the commit.

    A row's text is `encode`'s (docs/events.md, "How events are written"). The events are
    also kept in this process as the row's decoded events: its consumer
    groups read them without fetching and decoding the row's text again.
    """
    if not events:
        return []
    now = datetime.now(UTC)
    # a huge transaction (an import of a million readings) in rows of a bounded size, each
    # encoded in a turn of the event loop of its own
    rows, parts = [], []
    for first in range(0, len(events), EVENTS_PER_ROW):
        if first:
            await asyncio.sleep(0)
        # `Events` first: its `only_readings`, which `encode` asks, is asked again by
        # every subscriber of the bus and consumer group, and is made once
        part = Events(events[first : first + EVENTS_PER_ROW])
        encoded = encode(part)
        rows.append({"committed_at": now, "event_count": len(part), "events": encoded})
        parts.append(part)
    inserted = await connection.execute(
        insert(event_outbox)
        .values(xid=transaction_id())
        .returning(event_outbox.c.xid, event_outbox.c.id, sort_by_parameter_order=True),
        rows,
    )
    # a row of a transaction that then rolls back is never read: its entry ages out
    for (xid, row_id), part in zip(inserted, parts, strict=True):
        _decoded.keep((xid, row_id, now), part)
    return parts


#: the members of a new reading's payload (docs/events.md), in the order a row of readings
#: stores its columns
READING_MEMBERS = (
    "datastream_id",
    "thing_id",
    "phenomenonTime",
    "resultTime",
    "result",
    "feature_of_interest_id",
)
_id = itemgetter(2)
_payload = itemgetter(3)
_members_by_name = tuple(zip(READING_MEMBERS, map(itemgetter, READING_MEMBERS), strict=True))


def encode(events: Sequence[EntityEvent]) -> str:
    """The outbox text of `events`, also a JetStream message's (docs/events.md, "How events
    are written").

    A JSON array of `[action, entity_type, id, payload, pillar]`; a row of nothing but new
    readings of Datastreams (the bulk and the MQTT ingest) as an object of columns instead,
    `{"readings": {"id": [...], "datastream_id": [...], ...}}`: a fifth of the text, which
    PostgreSQL inserted (and lz4-compressed) in 0.6 ms per 5,000 readings against 3-5 ms.
    Every test runs in C (`map`) rather than per event in Python: the columnar form cost
    1.5 ms per 5,000 readings to make here, the array 1.1 ms.
    """
    payloads = list(map(_payload, events))
    # six members each (a payload without one of them fails its column: KeyError)
    if as_events(events).only_readings and set(map(len, payloads)) == {len(READING_MEMBERS)}:
        try:
            columns = {name: list(map(member, payloads)) for name, member in _members_by_name}
        except KeyError:
            pass  # another member instead: the array form
        else:
            document = {"readings": {"id": list(map(_id, events)), **columns}}
            return orjson.dumps(document, default=_plain).decode()
    return orjson.dumps(list(map(tuple, events)), default=_plain).decode()


def decode(text: str | bytes) -> Events:
    """The events of an outbox row's text or a JetStream message (either form `encode`
    writes)."""
    document: Any = orjson.loads(text)
    if isinstance(document, list):
        return Events(EntityEvent(*event) for event in document)
    columns = document["readings"]
    values = zip(*(columns[name] for name in READING_MEMBERS), strict=True)
    return Events(
        EntityEvent(
            "create", "Observation", entity_id, dict(zip(READING_MEMBERS, row, strict=True))
        )
        for entity_id, row in zip(columns["id"], values, strict=True)
    )


def _plain(value: object) -> object:
    """What orjson cannot write itself: read-only mappings (an event without payload)."""
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot write {type(value).__name__} into an event")


def _read_statement() -> Select[tuple[int, int, datetime]]:
    """The final rows after a position (`after_xid`, `after_id`), in order: at most `rows`
    of them, and no more than hold `most` events (always the first). Made once: building
    it per read cost a consumer group more than running it."""
    outbox = event_outbox.c
    candidates = (
        select(
            outbox.xid,
            outbox.id,
            outbox.committed_at,
            outbox.event_count,
            # the events of the rows up to this one: the rows before it hold fewer than
            # `most`, or it is not read now
            func.sum(outbox.event_count).over(order_by=(outbox.xid, outbox.id)).label("through"),
        )
        .where(
            tuple_(outbox.xid, outbox.id)
            > tuple_(
                bindparam("after_xid", type_=BigInteger), bindparam("after_id", type_=BigInteger)
            ),
            outbox.xid < committed_horizon(),
        )
        .order_by(outbox.xid, outbox.id)
        .limit(bindparam("rows", type_=Integer))
        .subquery("candidates")
    )
    return (
        select(candidates.c.xid, candidates.c.id, candidates.c.committed_at)
        .where(candidates.c.through - candidates.c.event_count < bindparam("most", type_=Integer))
        .order_by(candidates.c.xid, candidates.c.id)
    )


_READ = _read_statement()


async def read_after(
    connection: AsyncConnection,
    position: Position,
    limit: int,
    *,
    max_events: int = EVENTS_PER_READ,
) -> list[Change]:
    """Up to `limit` final rows after `position`, in order, and no more rows than hold
    `max_events` (always the first one).

    One statement finds the rows; a second fetches the text of those this process has not
    decoded yet (`_decoded`), each decoded in a turn of the event loop of its own: a read
    of a large write's rows must not hold the loop for all of them.
    """
    rows = (
        await connection.execute(
            _READ,
            {"after_xid": position.xid, "after_id": position.id, "rows": limit, "most": max_events},
        )
    ).all()
    keys = [(row.xid, row.id, row.committed_at) for row in rows]
    # the rows this process wrote or decoded already are not fetched again
    missing = [key[1] for key in keys if key not in _decoded]
    texts: dict[int, str] = {}
    if missing:
        found = await connection.execute(
            select(event_outbox.c.id, event_outbox.c.events).where(event_outbox.c.id.in_(missing))
        )
        texts = {row_id: text for row_id, text in found}
    changes: list[Change] = []
    for key in keys:
        events = _decoded.get(key)
        if events is None:
            text = texts.get(key[1])
            if text is None:
                break  # pruned by retention since the first statement: gone, as if before
            if changes:
                await asyncio.sleep(0)  # decoding a row holds the loop: one row per turn
            events = decode(text)
            _decoded.keep(key, events)
        changes.append(Change(str(Position(key[0], key[1])), key[2], events))
    return changes


class _DecodedRows:
    """The events of recent outbox rows, decoded once for every consumer group of this
    process, by (xid, id, committed_at).

    Each group (rules, the desk, traffic, webhooks, ...) reads every row soon after it
    commits; fetching and decoding a bulk write's row (5,000 events) costs more than
    reading it, and the serve process paid it once per group. The rows this process wrote
    are kept from the write itself. `committed_at` is in the key because positions restart
    when the tables are emptied (SQLite): a stale hit needs the same microsecond too.
    The events are immutable named tuples; their payloads are never changed after the write.
    """

    #: the most events kept (a few bulk writes' rows)
    MOST_EVENTS = 100_000

    def __init__(self) -> None:
        self._rows: OrderedDict[tuple[int, int, datetime], Events] = OrderedDict()
        self._events = 0

    def __contains__(self, key: tuple[int, int, datetime]) -> bool:
        return key in self._rows

    def get(self, key: tuple[int, int, datetime]) -> Events | None:
        events = self._rows.get(key)
        if events is not None:
            self._rows.move_to_end(key)
        return events

    def keep(self, key: tuple[int, int, datetime], events: Events) -> None:
        self._events += len(events) - len(self._rows.pop(key, ()))
        self._rows[key] = events
        while self._events > self.MOST_EVENTS and len(self._rows) > 1:
            _, dropped = self._rows.popitem(last=False)
            self._events -= len(dropped)


_decoded = _DecodedRows()


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
