"""SensorThings Tasking (OGC 17-079r1): Actuators, TaskingCapabilities and Tasks

Revision ID: 0020_tasking
Revises: 0007
Create Date: 2026-12-06 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0020_tasking"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "actuators",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("encoding_type", sa.Text(), nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("properties", Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actuators")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tasking_capabilities",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tasking_parameters", Json, nullable=False),
        sa.Column("properties", Json, nullable=True),
        sa.Column("thing_id", Id, nullable=False),
        sa.Column("actuator_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["thing_id"],
            ["things.id"],
            name=op.f("fk_tasking_capabilities_thing_id_things"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["actuator_id"],
            ["actuators.id"],
            name=op.f("fk_tasking_capabilities_actuator_id_actuators"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasking_capabilities")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_tasking_capabilities_thing_id", "tasking_capabilities", ["thing_id"], unique=False
    )
    op.create_index(
        "ix_tasking_capabilities_actuator_id", "tasking_capabilities", ["actuator_id"], unique=False
    )
    op.create_table(
        "tasks",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("creation_time", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tasking_parameters", Json, nullable=False),
        sa.Column("tasking_capability_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["tasking_capability_id"],
            ["tasking_capabilities.id"],
            name=op.f("fk_tasks_tasking_capability_id_tasking_capabilities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_tasks_tasking_capability_time",
        "tasks",
        ["tasking_capability_id", "creation_time", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_tasking_capability_time", table_name="tasks")
    op.drop_table("tasks")
    op.drop_index("ix_tasking_capabilities_actuator_id", table_name="tasking_capabilities")
    op.drop_index("ix_tasking_capabilities_thing_id", table_name="tasking_capabilities")
    op.drop_table("tasking_capabilities")
    op.drop_table("actuators")
