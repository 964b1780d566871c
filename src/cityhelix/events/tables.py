"""The durable stream's tables: the outbox of committed changes and the consumers' positions.

One outbox row per write transaction carries all its events (JSON), written in that
transaction; each consumer group's stored position says how far it has read.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from cityhelix.db.metadata import metadata
from cityhelix.db.types import UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")

event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    # the writing transaction's id on PostgreSQL (0 on SQLite, where writes are serial):
    # readers take only rows of transactions older than every one still running
    Column("xid", BigInteger, nullable=False),
    Column("committed_at", UtcDateTime, nullable=False),
    Column("event_count", Integer, nullable=False),
    # a JSON array of events; text, not JSONB: it is written far more often than searched
    Column("events", Text, nullable=False),
    Index("ix_event_outbox_xid_id", "xid", "id"),
    Index("ix_event_outbox_committed_at", "committed_at"),
    # SQLite: AUTOINCREMENT, so that an id is never given twice even after pruning
    sqlite_autoincrement=True,
)

event_consumers = Table(
    "event_consumers",
    metadata,
    Column("name", String(100), primary_key=True),
    # the position: the (xid, id) of the last outbox row the group has consumed
    Column("position_xid", BigInteger, nullable=False),
    Column("position_id", BigInteger, nullable=False),
    # which process reads for the group now, until when (a lease, renewed while reading)
    Column("owner", String(200), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)
