"""the durable event stream: the outbox of committed changes and consumer positions

Revision ID: 0006
Revises: 0000
Create Date: 2026-12-05 23:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhelix.db.types

revision = "0006"
down_revision = "0000"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column("committed_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("events", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_event_outbox_xid_id", "event_outbox", ["xid", "id"])
    op.create_index("ix_event_outbox_committed_at", "event_outbox", ["committed_at"])
    op.create_table(
        "event_consumers",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position_xid", sa.BigInteger(), nullable=False),
        sa.Column("position_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("lease_until", cityhelix.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_consumers")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # readers in other processes wake at the commit of every change; one NOTIFY per
        # transaction (PostgreSQL folds equal ones), no statement more for the writer
        op.execute(
            """
            CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('cityhelix_changes', '');
                RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify()"
        )
        # the JSON of a 10,000-reading batch is compressed by lz4 rather than pglz (faster)
        op.execute("ALTER TABLE event_outbox ALTER COLUMN events SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS event_outbox_notify ON event_outbox")
        op.execute("DROP FUNCTION IF EXISTS event_outbox_notify()")
    op.drop_table("event_consumers")
    op.drop_index("ix_event_outbox_committed_at", table_name="event_outbox")
    op.drop_index("ix_event_outbox_xid_id", table_name="event_outbox")
    op.drop_table("event_outbox")
