"""rule progress: the stream position each live evaluation group has applied, written with
its evaluations, so a change delivered again is evaluated once (Observation ids do not come
in commit order)

Revision ID: 0104
Revises: 0103
Create Date: 2026-12-06 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhelix.db.types

revision = "0104"
down_revision = "0103"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ops_rule_progress",
        sa.Column("group_name", sa.String(100), nullable=False),
        sa.Column("position", sa.String(100), nullable=False),
        sa.Column("updated_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("group_name", name=op.f("pk_ops_rule_progress")),
    )


def downgrade() -> None:
    op.drop_table("ops_rule_progress")
