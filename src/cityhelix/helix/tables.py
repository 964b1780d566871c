"""The helix registry's tables: actors, collaborations and their participants, the history
of changes, programmes (calls, applications, reviews, tranches, reports) and the
scorecard's computed values per period."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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

helix_actors = Table(
    "helix_actors",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    # enterprises only: size class, sector, FDI or domestic, the investment registry's id
    Column("size", String(20), nullable=True),
    Column("sector", String(200), nullable=True),
    Column("ownership", String(20), nullable=True),
    Column("invest_ref", String(100), nullable=True),
    Column("description", Text, nullable=True),
    # {"address", "district", "latitude", "longitude"}
    Column("location", JsonDocument, nullable=True),
    Column("links", JsonDocument, nullable=False),
    # people with roles: personal data, shown to analysts and admins only
    Column("people", JsonDocument, nullable=False),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_helix_actors_kind", "kind"),
    Index("ix_helix_actors_name", "name"),
)

helix_collaborations = Table(
    "helix_collaborations",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("title", String(500), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("domain", String(30), nullable=True),
    Column("status", String(20), nullable=False),
    Column("start_date", Date, nullable=False),
    Column("end_date", Date, nullable=True),
    Column("budget", Float, nullable=True),
    Column("currency", String(3), nullable=True),
    # [{"source", "amount"}]
    Column("funding", JsonDocument, nullable=False),
    # {"publications": n, "patents": n, ...}
    Column("outputs", JsonDocument, nullable=False),
    Column("description", Text, nullable=True),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_helix_collaborations_start", "start_date"),
)

helix_participants = Table(
    "helix_participants",
    metadata,
    Column(
        "collaboration_id",
        _Id,
        ForeignKey("helix_collaborations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("actor_id", _Id, ForeignKey("helix_actors.id"), primary_key=True),
    Column("role", String(20), nullable=False),
    Index("ix_helix_participants_actor", "actor_id"),
)

#: every change to an actor or a collaboration: who, when, the fields before and after
helix_history = Table(
    "helix_history",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("entity_type", String(30), nullable=False),
    Column("entity_id", BigInteger, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("change", JsonDocument, nullable=False),
    Index("ix_helix_history_entity", "entity_type", "entity_id"),
)

helix_programmes = Table(
    "helix_programmes",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("owner_actor_id", _Id, ForeignKey("helix_actors.id"), nullable=True),
    Column("description", Text, nullable=True),
    Column("synthetic", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
)

helix_calls = Table(
    "helix_calls",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("programme_id", _Id, ForeignKey("helix_programmes.id"), nullable=False),
    Column("title", String(300), nullable=False),
    Column("opens", Date, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("budget", Float, nullable=True),
    # [{"code", "name", "max", "weight"}]
    Column("criteria", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

helix_applications = Table(
    "helix_applications",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("call_id", _Id, ForeignKey("helix_calls.id"), nullable=False),
    Column("applicant_actor_id", _Id, ForeignKey("helix_actors.id"), nullable=False),
    Column("title", String(500), nullable=False),
    Column("requested", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
    Column("decision", String(20), nullable=True),
    Column("awarded", Float, nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("collaboration_id", _Id, ForeignKey("helix_collaborations.id"), nullable=True),
    Index("ix_helix_applications_call", "call_id"),
)

#: a reviewer on an application: a declared conflict of interest, or scores by criterion
helix_reviews = Table(
    "helix_reviews",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("application_id", _Id, ForeignKey("helix_applications.id"), nullable=False),
    Column("reviewer", String(200), nullable=False),
    Column("conflict", Boolean, nullable=False),
    Column("conflict_note", Text, nullable=True),
    Column("scores", JsonDocument, nullable=True),
    Column("comment", Text, nullable=True),
    Column("at", UtcDateTime, nullable=False),
    UniqueConstraint("application_id", "reviewer", name="uq_helix_reviews_reviewer"),
)

helix_tranches = Table(
    "helix_tranches",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("application_id", _Id, ForeignKey("helix_applications.id"), nullable=False),
    Column("amount", Float, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("paid_on", Date, nullable=True),
)

helix_reports = Table(
    "helix_reports",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("application_id", _Id, ForeignKey("helix_applications.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("summary", Text, nullable=False),
    Column("outputs", JsonDocument, nullable=False),
    Column("submitted_at", UtcDateTime, nullable=False),
)

#: one value of one indicator for one period, computed or entered, with its provenance
helix_indicator_values = Table(
    "helix_indicator_values",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("code", String(60), nullable=False),
    Column("period", String(10), nullable=False),
    Column("value", Float, nullable=True),
    Column("manual", Boolean, nullable=False),
    # manual: {"source", "source_date", "entered_by"}; computed: {"query", "inputs", "at"}
    Column("provenance", JsonDocument, nullable=False),
    Column("quality", JsonDocument, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_helix_indicator_values", "code", "period", "at"),
)

#: a table a department publishes as open data: its records, and whether it is public yet
helix_open_datasets = Table(
    "helix_open_datasets",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("slug", String(80), nullable=False),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("publisher", String(300), nullable=False),
    Column("license", String(300), nullable=False),
    Column("frequency", String(20), nullable=False),
    Column("keywords", JsonDocument, nullable=False),
    # [{column: scalar}], with optional "latitude" and "longitude" columns for GeoJSON
    Column("records", JsonDocument, nullable=False),
    Column("public", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("slug", name="uq_helix_open_datasets_slug"),
)
