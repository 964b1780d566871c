"""street lighting: schedules, the switchings they issued, Task outcomes, fault rules

Revision ID: 0310
Revises: 0300
Create Date: 2026-12-06 03:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0310"
down_revision = "0300"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
Time = cityhelix.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lighting_schedules",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("group_kind", sa.String(length=20), nullable=False),
        sa.Column("group_value", sa.String(length=200), nullable=False),
        sa.Column("on_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("off_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("profile", Json, nullable=False),
        sa.Column("exceptions", Json, nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("last_run_at", Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lighting_schedules")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lighting_issued",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("schedule_id", Id, nullable=False),
        sa.Column("thing_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("issued_at", Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lighting_issued")),
        sa.UniqueConstraint(
            "schedule_id", "thing_id", "due_at", name="uq_lighting_issued_switching"
        ),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lighting_task_outcomes",
        sa.Column("task_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("thing_id", sa.BigInteger(), nullable=False),
        sa.Column("capability_id", sa.BigInteger(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("confirmed_at", Time, nullable=True),
        sa.Column("observation_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_lighting_task_outcomes")),
    )
    op.create_index(
        "ix_lighting_task_outcomes_status_due",
        "lighting_task_outcomes",
        ["status", "due_at"],
        unique=False,
    )
    op.create_table(
        "lighting_fault_rules",
        sa.Column("fault", sa.String(length=40), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("fault", name=op.f("pk_lighting_fault_rules")),
    )


def downgrade() -> None:
    op.drop_table("lighting_fault_rules")
    op.drop_index("ix_lighting_task_outcomes_status_due", table_name="lighting_task_outcomes")
    op.drop_table("lighting_task_outcomes")
    op.drop_table("lighting_issued")
    op.drop_table("lighting_schedules")
