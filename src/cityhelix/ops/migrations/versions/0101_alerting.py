"""alerting: rules, their stored state per Datastream, alerts and their steps, leases

Revision ID: 0101
Revises: 0100
Create Date: 2026-12-06 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0101"
down_revision = "0100"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_Time = cityhelix.db.types.UtcDateTime


def upgrade() -> None:
    op.create_table(
        "ops_rules",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("definition", _Json, nullable=False),
        sa.Column("enabled", sa.Integer(), nullable=False),
        sa.Column("created_at", _Time(timezone=True), nullable=False),
        sa.Column("updated_at", _Time(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_rules")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ops_rule_states",
        sa.Column("rule_id", _Id, nullable=False),
        sa.Column("datastream_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("pending_since", _Time(timezone=True), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_time", _Time(timezone=True), nullable=True),
        sa.Column("last_observation_id", sa.BigInteger(), nullable=False),
        sa.Column("cleared_at", _Time(timezone=True), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("severity", sa.String(10), nullable=True),
        sa.Column("window", _Json, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["ops_rules.id"],
            name=op.f("fk_ops_rule_states_rule_id_ops_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rule_id", "datastream_id", name=op.f("pk_ops_rule_states")),
    )
    op.create_table(
        "ops_alerts",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("rule_id", _Id, nullable=False),
        sa.Column("datastream_id", sa.BigInteger(), nullable=True),
        sa.Column("thing_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", _Time(timezone=True), nullable=False),
        sa.Column("last_seen", _Time(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("location", _Json, nullable=True),
        sa.Column("district", sa.String(200), nullable=True),
        sa.Column("acknowledged_at", _Time(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("ended_at", _Time(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("reminded_at", _Time(timezone=True), nullable=True),
        sa.Column("created_at", _Time(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["ops_rules.id"],
            name=op.f("fk_ops_alerts_rule_id_ops_rules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_alerts")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ops_alerts_state_rule", "ops_alerts", ["state", "rule_id"])
    op.create_index("ix_ops_alerts_first_seen", "ops_alerts", ["first_seen"])
    op.create_table(
        "ops_alert_steps",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("alert_id", _Id, nullable=False),
        sa.Column("step", sa.String(20), nullable=False),
        sa.Column("at", _Time(timezone=True), nullable=False),
        sa.Column("by", sa.String(200), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["ops_alerts.id"],
            name=op.f("fk_ops_alert_steps_alert_id_ops_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_alert_steps")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ops_alert_steps_alert", "ops_alert_steps", ["alert_id"])
    op.create_table(
        "ops_leases",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("until", _Time(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ops_leases")),
    )


def downgrade() -> None:
    op.drop_table("ops_leases")
    op.drop_index("ix_ops_alert_steps_alert", table_name="ops_alert_steps")
    op.drop_table("ops_alert_steps")
    op.drop_index("ix_ops_alerts_first_seen", table_name="ops_alerts")
    op.drop_index("ix_ops_alerts_state_rule", table_name="ops_alerts")
    op.drop_table("ops_alerts")
    op.drop_table("ops_rule_states")
    op.drop_table("ops_rules")
