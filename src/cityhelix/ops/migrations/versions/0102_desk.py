"""the operations desk: incidents, their departments, timeline, SOP checklist, attachments,
Open311 client keys, webhook subscriptions and their stored deliveries

Revision ID: 0102
Revises: 0101
Create Date: 2026-12-06 01:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cityhelix.db.types

revision = "0102"
down_revision = "0101"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Time = cityhelix.db.types.UtcDateTime(timezone=True)
_Json = cityhelix.db.types.JsonDocument


def upgrade() -> None:
    op.create_table(
        "ops_incidents",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("priority", sa.String(16), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("location", _Json, nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("district", sa.String(64), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
        sa.Column("acknowledged_at", _Time, nullable=True),
        sa.Column("resolved_at", _Time, nullable=True),
        sa.Column("closed_at", _Time, nullable=True),
        sa.Column("respond_by", _Time, nullable=False),
        sa.Column("resolve_by", _Time, nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("open311_token", sa.String(64), nullable=True),
        sa.Column("status_notes", sa.Text(), nullable=True),
        sa.Column("attributes", _Json, nullable=True),
        sa.Column("media_url", sa.String(2000), nullable=True),
        sa.Column("contact", _Json, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_incidents")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_ops_incidents_alert_id")),
        sa.UniqueConstraint("open311_token", name=op.f("uq_ops_incidents_open311_token")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ops_incidents_status", "ops_incidents", ["status"])
    op.create_index("ix_ops_incidents_created_at", "ops_incidents", ["created_at"])
    op.create_table(
        "ops_incident_departments",
        sa.Column("incident_id", _Id, nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["ops_incidents.id"],
            name=op.f("fk_ops_incident_departments_incident_id_ops_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "incident_id", "department", name=op.f("pk_ops_incident_departments")
        ),
    )
    op.create_index(
        "ix_ops_incident_departments_department", "ops_incident_departments", ["department"]
    )
    op.create_table(
        "ops_incident_timeline",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("incident_id", _Id, nullable=False),
        sa.Column("at", _Time, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", _Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["ops_incidents.id"],
            name=op.f("fk_ops_incident_timeline_incident_id_ops_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_incident_timeline")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ops_incident_timeline_incident", "ops_incident_timeline", ["incident_id", "id"]
    )
    op.create_table(
        "ops_incident_checklist",
        sa.Column("incident_id", _Id, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("done_at", _Time, nullable=False),
        sa.Column("done_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["ops_incidents.id"],
            name=op.f("fk_ops_incident_checklist_incident_id_ops_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "step", name=op.f("pk_ops_incident_checklist")),
    )
    op.create_table(
        "ops_incident_attachments",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("incident_id", _Id, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("storage_key", sa.String(255), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["ops_incidents.id"],
            name=op.f("fk_ops_incident_attachments_incident_id_ops_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_incident_attachments")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "ops_open311_keys",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("revoked_at", _Time, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_open311_keys")),
        sa.UniqueConstraint("name", name=op.f("uq_ops_open311_keys_name")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ops_open311_keys_key_hash")),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "ops_webhooks",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("events", _Json, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_webhooks")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "ops_webhook_deliveries",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("webhook_id", _Id, nullable=False),
        sa.Column("event_key", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _Time, nullable=False),
        sa.Column("lease_until", _Time, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("delivered_at", _Time, nullable=True),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["ops_webhooks.id"],
            name=op.f("fk_ops_webhook_deliveries_webhook_id_ops_webhooks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id", "event_key", name=op.f("uq_ops_webhook_deliveries_webhook_id")
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_ops_webhook_deliveries_due", "ops_webhook_deliveries", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_ops_webhook_deliveries_due", table_name="ops_webhook_deliveries")
    op.drop_table("ops_webhook_deliveries")
    op.drop_table("ops_webhooks")
    op.drop_table("ops_open311_keys")
    op.drop_table("ops_incident_attachments")
    op.drop_table("ops_incident_checklist")
    op.drop_index("ix_ops_incident_timeline_incident", table_name="ops_incident_timeline")
    op.drop_table("ops_incident_timeline")
    op.drop_index("ix_ops_incident_departments_department", table_name="ops_incident_departments")
    op.drop_table("ops_incident_departments")
    op.drop_index("ix_ops_incidents_created_at", table_name="ops_incidents")
    op.drop_index("ix_ops_incidents_status", table_name="ops_incidents")
    op.drop_table("ops_incidents")
