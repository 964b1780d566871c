"""rule states by Datastream: live evaluation reads a batch's states in one statement per
few thousand Datastreams (not one per 500 rule-Datastream pairs)

Revision ID: 0103
Revises: 0102
Create Date: 2026-12-06 06:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0103"
down_revision = "0102"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ops_rule_states_datastream", "ops_rule_states", ["datastream_id"])


def downgrade() -> None:
    op.drop_index("ix_ops_rule_states_datastream", table_name="ops_rule_states")
