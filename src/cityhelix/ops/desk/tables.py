"""The desk's tables: incidents, the departments each is routed to, their timeline, SOP
checklist steps and attachments (migration `ops/migrations/versions/0102_desk.py`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from cityhelix.db.metadata import metadata
from cityhelix.db.types import JsonDocument, UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")

incidents = Table(
    "ops_incidents",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("category", String(64), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    # GeoJSON Point or Polygon; lon/lat the point (or the area's first vertex) for filters
    Column("location", JsonDocument, nullable=True),
    Column("lon", Float, nullable=True),
    Column("lat", Float, nullable=True),
    Column("district", String(64), nullable=True),
    Column("address", String(500), nullable=True),
    Column("source", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("assignee", String(200), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # first left "new" (time to acknowledge), last resolved, last closed
    Column("acknowledged_at", UtcDateTime, nullable=True),
    Column("resolved_at", UtcDateTime, nullable=True),
    Column("closed_at", UtcDateTime, nullable=True),
    Column("respond_by", UtcDateTime, nullable=False),
    Column("resolve_by", UtcDateTime, nullable=False),
    # how far up the escalation chain it went (0: not escalated)
    Column("escalation_level", Integer, nullable=False, default=0),
    # the alert it was opened from: one incident per alert (the consumer is idempotent)
    Column("alert_id", BigInteger, nullable=True, unique=True),
    # Open311: the token answered to a POST, public notes, the reporter's contact (private)
    Column("open311_token", String(64), nullable=True, unique=True),
    Column("status_notes", Text, nullable=True),
    Column("attributes", JsonDocument, nullable=True),
    Column("media_url", String(2000), nullable=True),
    Column("contact", JsonDocument, nullable=True),
    Index("ix_ops_incidents_status", "status"),
    Index("ix_ops_incidents_created_at", "created_at"),
    sqlite_autoincrement=True,
)

incident_departments = Table(
    "ops_incident_departments",
    metadata,
    Column(
        "incident_id",
        _Id,
        ForeignKey("ops_incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("department", String(64), primary_key=True),
    Index("ix_ops_incident_departments_department", "department"),
)

incident_timeline = Table(
    "ops_incident_timeline",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("incident_id", _Id, ForeignKey("ops_incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    # created, status, assignee, priority, comment, checklist, attachment, escalation
    Column("kind", String(32), nullable=False),
    Column("detail", JsonDocument, nullable=False),
    Index("ix_ops_incident_timeline_incident", "incident_id", "id"),
    sqlite_autoincrement=True,
)

incident_checklist = Table(
    "ops_incident_checklist",
    metadata,
    Column(
        "incident_id",
        _Id,
        ForeignKey("ops_incidents.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("step", Integer, primary_key=True),
    Column("done_at", UtcDateTime, nullable=False),
    Column("done_by", String(200), nullable=False),
)

incident_attachments = Table(
    "ops_incident_attachments",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("incident_id", _Id, ForeignKey("ops_incidents.id", ondelete="CASCADE"), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("media_type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    sqlite_autoincrement=True,
)

open311_keys = Table(
    "ops_open311_keys",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    # SHA-256 hex of the key: the key itself is shown once and never stored
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

webhooks = Table(
    "ops_webhooks",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("url", String(2000), nullable=False),
    # topic patterns: "ops.Incident.create", "ops.Incident.*", "ops.*"
    Column("events", JsonDocument, nullable=False),
    # the shared secret deliveries are signed with (the receiver holds it too)
    Column("secret", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    sqlite_autoincrement=True,
)

webhook_deliveries = Table(
    "ops_webhook_deliveries",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("webhook_id", _Id, ForeignKey("ops_webhooks.id", ondelete="CASCADE"), nullable=False),
    # the stream position and index of the event: one delivery per event and subscription
    Column("event_key", String(100), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("body", Text, nullable=False),
    # pending, delivered, dead (given up: the dead-letter list)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    # a sender holds a delivery until then (N processes: compare-and-set)
    Column("lease_until", UtcDateTime, nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("delivered_at", UtcDateTime, nullable=True),
    UniqueConstraint("webhook_id", "event_key"),
    Index("ix_ops_webhook_deliveries_due", "status", "next_attempt_at"),
    sqlite_autoincrement=True,
)
