"""the outbox's events compressed with lz4 on PostgreSQL (where the server has it)

A bulk write's outbox row holds ~850 KB of JSON per 5,000 readings. PostgreSQL compresses
it with pglz by default: ~9 ms per row, in the write's commit path; lz4 takes ~4 ms for
about the same size (BENCHMARKS.md, issue 18). SQLite stores text as it is: nothing to do.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _has_lz4() -> bool:
    """Whether this server was built with lz4 (a build without it refuses the method)."""
    found = op.get_bind().execute(
        sa.text(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        )
    )
    return bool(found.scalar())


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql" and _has_lz4():
        op.execute("ALTER TABLE event_outbox ALTER COLUMN events SET COMPRESSION lz4")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE event_outbox ALTER COLUMN events SET COMPRESSION default")
