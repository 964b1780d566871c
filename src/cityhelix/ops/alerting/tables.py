"""The alerting part's tables: rules (as data), each rule's stored state per Datastream,
alerts with their timeline, leases for work one process does at a time (stale checks), and
how far live evaluation has applied the durable stream.

State lives here, not in memory, so a restart or a second process continues where the
last evaluation stopped; it is written in the transaction that writes the alert changes,
with the stream position those changes follow from.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from cityhelix.db.metadata import metadata
from cityhelix.db.types import JsonDocument, UtcDateTime

Id = BigInteger().with_variant(Integer(), "sqlite")

ops_rules = Table(
    "ops_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    # the whole rule as its API body (scope, levels, schedule, template): one document
    Column("definition", JsonDocument, nullable=False),
    Column("enabled", Integer, nullable=False, default=1),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    sqlite_autoincrement=True,
)

#: one row per (rule, Datastream) the rule has seen; composites use Datastream 0
ops_rule_states = Table(
    "ops_rule_states",
    metadata,
    Column("rule_id", Id, ForeignKey("ops_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("datastream_id", BigInteger, primary_key=True),
    # clear / pending / firing
    Column("status", String(10), nullable=False),
    Column("pending_since", UtcDateTime, nullable=True),
    Column("last_value", Float, nullable=True),
    Column("last_time", UtcDateTime, nullable=True),
    # read only for other pillars' derived readings (`evaluate(once_per_id=True)`): live
    # evaluation tells a change delivered again by its stream position (ops_rule_progress)
    Column("last_observation_id", BigInteger, nullable=False, default=0),
    Column("cleared_at", UtcDateTime, nullable=True),
    Column("alert_id", BigInteger, nullable=True),
    Column("severity", String(10), nullable=True),
    # the anomaly rule's rolling window of the Datastream's own values, oldest first
    Column("window", JsonDocument, nullable=True),
    # compare-and-set: a writer that read an older version loses and rolls back
    Column("version", Integer, nullable=False, default=0),
    # live evaluation reads a batch's states by its Datastreams (migration 0103)
    Index("ix_ops_rule_states_datastream", "datastream_id"),
)

ops_alerts = Table(
    "ops_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("rule_id", Id, ForeignKey("ops_rules.id", ondelete="CASCADE"), nullable=False),
    Column("datastream_id", BigInteger, nullable=True),
    Column("thing_id", BigInteger, nullable=True),
    # active / acknowledged / cleared / resolved
    Column("state", String(12), nullable=False),
    Column("severity", String(10), nullable=False),
    Column("count", Integer, nullable=False),
    Column("first_seen", UtcDateTime, nullable=False),
    Column("last_seen", UtcDateTime, nullable=False),
    Column("value", Float, nullable=True),
    Column("location", JsonDocument, nullable=True),
    Column("district", String(200), nullable=True),
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("acknowledged_by", String(200), nullable=True),
    Column("ended_at", UtcDateTime, nullable=True),
    Column("ended_by", String(200), nullable=True),
    Column("reminded_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Index("ix_ops_alerts_state_rule", "state", "rule_id"),
    Index("ix_ops_alerts_first_seen", "first_seen"),
    sqlite_autoincrement=True,
)

#: every step of an alert's life: who, when, what (raised, acknowledged, cleared, ...)
ops_alert_steps = Table(
    "ops_alert_steps",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("alert_id", Id, ForeignKey("ops_alerts.id", ondelete="CASCADE"), nullable=False),
    Column("step", String(20), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(200), nullable=True),
    Column("comment", Text, nullable=True),
    Index("ix_ops_alert_steps_alert", "alert_id"),
    sqlite_autoincrement=True,
)

#: work one process does at a time: the holder and until when (compare-and-set)
ops_leases = Table(
    "ops_leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner", String(200), nullable=True),
    Column("until", UtcDateTime, nullable=True),
)

#: how far each consumer group of live evaluation has applied the stream: the position of
#: the last change whose readings it evaluated, written in the transaction of those
#: evaluations (migration 0104), so a change the stream delivers again is evaluated once
ops_rule_progress = Table(
    "ops_rule_progress",
    metadata,
    Column("group_name", String(100), primary_key=True),
    Column("position", String(100), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)
