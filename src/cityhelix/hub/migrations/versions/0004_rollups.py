"""observation rollups: per-Datastream 1m/1h/1d aggregates of numeric results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.sql import column, select, table

import cityhelix.db.types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "observation_rollups",
        sa.Column(
            "datastream_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("interval", sa.String(length=2), nullable=False),
        sa.Column("bucket_start", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("last", sa.Float(), nullable=False),
        sa.Column("last_time", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["datastream_id"],
            ["datastreams.id"],
            name=op.f("fk_observation_rollups_datastream_id_datastreams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "datastream_id", "interval", "bucket_start", name=op.f("pk_observation_rollups")
        ),
    )
    _backfill()


def _backfill() -> None:
    """Roll up the Observations stored before this revision, one Datastream at a time."""
    from cityhelix.hub.rollups import backfill_sync

    datastreams = table("datastreams", column("id"))
    connection = op.get_bind()
    for (stream_id,) in connection.execute(select(datastreams.c.id)).all():
        backfill_sync(connection, int(stream_id))


def downgrade() -> None:
    op.drop_table("observation_rollups")
