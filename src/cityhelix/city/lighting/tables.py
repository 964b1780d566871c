"""Street lighting's own tables: schedules, the Tasks they issued, Task outcomes, fault rules.

Lamps, their readings and their Tasks live in the hub; these tables hold only what the
lighting service decides and must remember across restarts (which scheduled switchings
were issued, which Tasks were confirmed or failed).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from cityhelix.db.metadata import metadata
from cityhelix.db.types import JsonDocument, UtcDateTime

Id = BigInteger().with_variant(Integer(), "sqlite")

lighting_schedules = Table(
    "lighting_schedules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    # the group it switches: Things whose properties.<group_kind> is group_value
    Column("group_kind", String(20), nullable=False),
    Column("group_value", String(200), nullable=False),
    # minutes after dusk to switch on, after dawn to switch off (negative: before)
    Column("on_offset_minutes", Integer, nullable=False, default=0),
    Column("off_offset_minutes", Integer, nullable=False, default=0),
    # [{"from": "HH:MM", "level": 0-100}, ...] local times after dusk, in night order
    Column("profile", JsonDocument, nullable=False),
    # [{"date": "YYYY-MM-DD", "level": 0-100, "reason": "..."}, ...] nights set apart
    Column("exceptions", JsonDocument, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_run_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

lighting_issued = Table(
    "lighting_issued",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("schedule_id", Id, nullable=False),
    Column("thing_id", BigInteger, nullable=False),
    # the switching's planned time: with the schedule and the lamp, what makes it one
    Column("due_at", UtcDateTime, nullable=False),
    Column("level", Integer, nullable=False),
    Column("task_id", BigInteger, nullable=True),
    Column("issued_at", UtcDateTime, nullable=False),
    # the claim that makes a switching issued once, whatever restarts or processes
    UniqueConstraint("schedule_id", "thing_id", "due_at", name="uq_lighting_issued_switching"),
    sqlite_autoincrement=True,
)

lighting_task_outcomes = Table(
    "lighting_task_outcomes",
    metadata,
    Column("task_id", BigInteger, primary_key=True, autoincrement=False),
    Column("thing_id", BigInteger, nullable=False),
    Column("capability_id", BigInteger, nullable=False),
    Column("level", Integer, nullable=False),
    # pending, confirmed, failed
    Column("status", String(12), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime, nullable=True),
    Column("observation_id", BigInteger, nullable=True),
    Index("ix_lighting_task_outcomes_status_due", "status", "due_at"),
)

lighting_fault_rules = Table(
    "lighting_fault_rules",
    metadata,
    # the operations centre's rule that carries a fault kind's alerts
    Column("fault", String(40), primary_key=True),
    Column("rule_id", BigInteger, nullable=False),
)
