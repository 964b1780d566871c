"""the city pillar: rules it derived from domain data (gauges, QCVN limits, cameras)

Revision ID: 0300
Revises:
Create Date: 2026-12-06 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0300"
down_revision = None
branch_labels = ("city",)
depends_on = "0006"


def upgrade() -> None:
    op.create_table(
        "city_rules",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("thing_id", sa.BigInteger(), nullable=False),
        sa.Column("datastream_id", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("rule_id", sa.BigInteger(), nullable=False),
        sa.Column("min_confidence", sa.Float(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_city_rules")),
        sa.UniqueConstraint("purpose", "datastream_id", "subject", name="uq_city_rules_subject"),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("city_rules", schema=None) as batch_op:
        batch_op.create_index("ix_city_rules_datastream", ["datastream_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("city_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_city_rules_datastream")
    op.drop_table("city_rules")
