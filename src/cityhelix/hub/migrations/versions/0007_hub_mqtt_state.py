"""the hub's MQTT state: deployment identity, process slots, dead letters

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-05 23:50:00.000000

The deployment's identity is made here, once, with a random id: it names the MQTT
shared-subscription group and the client ids of this installation's hub processes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import cityhelix.db.types

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    deployment = op.create_table(
        "hub_deployment",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_deployment")),
    )
    op.bulk_insert(deployment, [{"id": uuid.uuid4().hex, "created_at": datetime.now(UTC)}])
    op.create_table(
        "hub_mqtt_slots",
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column(
            "lease_expires_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("slot", name=op.f("pk_hub_mqtt_slots")),
    )
    op.create_table(
        "hub_mqtt_dead_letters",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("received_at", cityhelix.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("payload_bytes", sa.Integer(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_mqtt_dead_letters")),
    )


def downgrade() -> None:
    op.drop_table("hub_mqtt_dead_letters")
    op.drop_table("hub_mqtt_slots")
    op.drop_table("hub_deployment")
