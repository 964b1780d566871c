"""the helix registry: actors, collaborations, programmes, scorecard values

Revision ID: 0200
Revises:
Create Date: 2026-12-06 01:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0200"
down_revision = None
branch_labels = ("helix",)
depends_on = "0006"


def upgrade() -> None:
    op.create_table(
        "helix_actors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("size", sa.String(length=20), nullable=True),
        sa.Column("sector", sa.String(length=200), nullable=True),
        sa.Column("ownership", sa.String(length=20), nullable=True),
        sa.Column("invest_ref", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "location",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "links",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "people",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_actors")),
    )
    with op.batch_alter_table("helix_actors", schema=None) as batch_op:
        batch_op.create_index("ix_helix_actors_kind", ["kind"], unique=False)
        batch_op.create_index("ix_helix_actors_name", ["name"], unique=False)

    op.create_table(
        "helix_collaborations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("domain", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column(
            "funding",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.Column("updated_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_collaborations")),
    )
    with op.batch_alter_table("helix_collaborations", schema=None) as batch_op:
        batch_op.create_index("ix_helix_collaborations_start", ["start_date"], unique=False)

    op.create_table(
        "helix_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("entity_type", sa.String(length=30), nullable=False),
        sa.Column("entity_id", sa.BigInteger(), nullable=False),
        sa.Column("at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column(
            "change",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_history")),
    )
    with op.batch_alter_table("helix_history", schema=None) as batch_op:
        batch_op.create_index("ix_helix_history_entity", ["entity_type", "entity_id"], unique=False)

    op.create_table(
        "helix_indicator_values",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column(
            "provenance",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "quality",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_indicator_values")),
    )
    with op.batch_alter_table("helix_indicator_values", schema=None) as batch_op:
        batch_op.create_index("ix_helix_indicator_values", ["code", "period", "at"], unique=False)

    op.create_table(
        "helix_open_datasets",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("publisher", sa.String(length=300), nullable=False),
        sa.Column("license", sa.String(length=300), nullable=False),
        sa.Column("frequency", sa.String(length=20), nullable=False),
        sa.Column(
            "keywords",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "records",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_open_datasets")),
        sa.UniqueConstraint("slug", name="uq_helix_open_datasets_slug"),
    )

    op.create_table(
        "helix_participants",
        sa.Column(
            "collaboration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["helix_actors.id"],
            name=op.f("fk_helix_participants_actor_id_helix_actors"),
        ),
        sa.ForeignKeyConstraint(
            ["collaboration_id"],
            ["helix_collaborations.id"],
            name=op.f("fk_helix_participants_collaboration_id_helix_collaborations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("collaboration_id", "actor_id", name=op.f("pk_helix_participants")),
    )
    with op.batch_alter_table("helix_participants", schema=None) as batch_op:
        batch_op.create_index("ix_helix_participants_actor", ["actor_id"], unique=False)

    op.create_table(
        "helix_programmes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "owner_actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_actor_id"],
            ["helix_actors.id"],
            name=op.f("fk_helix_programmes_owner_actor_id_helix_actors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_programmes")),
    )
    op.create_table(
        "helix_calls",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "programme_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("opens", sa.Date(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column(
            "criteria",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["programme_id"],
            ["helix_programmes.id"],
            name=op.f("fk_helix_calls_programme_id_helix_programmes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_calls")),
    )
    op.create_table(
        "helix_applications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "applicant_actor_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("requested", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("submitted_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("awarded", sa.Float(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("decided_at", cityhelix.db.types.UtcDateTime(), nullable=True),
        sa.Column(
            "collaboration_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["applicant_actor_id"],
            ["helix_actors.id"],
            name=op.f("fk_helix_applications_applicant_actor_id_helix_actors"),
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["helix_calls.id"], name=op.f("fk_helix_applications_call_id_helix_calls")
        ),
        sa.ForeignKeyConstraint(
            ["collaboration_id"],
            ["helix_collaborations.id"],
            name=op.f("fk_helix_applications_collaboration_id_helix_collaborations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_applications")),
    )
    with op.batch_alter_table("helix_applications", schema=None) as batch_op:
        batch_op.create_index("ix_helix_applications_call", ["call_id"], unique=False)

    op.create_table(
        "helix_reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column(
            "outputs",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("submitted_at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["helix_applications.id"],
            name=op.f("fk_helix_reports_application_id_helix_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_reports")),
    )
    op.create_table(
        "helix_reviews",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("conflict", sa.Boolean(), nullable=False),
        sa.Column("conflict_note", sa.Text(), nullable=True),
        sa.Column(
            "scores",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", cityhelix.db.types.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["helix_applications.id"],
            name=op.f("fk_helix_reviews_application_id_helix_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_reviews")),
        sa.UniqueConstraint("application_id", "reviewer", name="uq_helix_reviews_reviewer"),
    )
    op.create_table(
        "helix_tranches",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "application_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["helix_applications.id"],
            name=op.f("fk_helix_tranches_application_id_helix_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_helix_tranches")),
    )


def downgrade() -> None:
    op.drop_table("helix_open_datasets")
    op.drop_table("helix_tranches")
    op.drop_table("helix_reviews")
    op.drop_table("helix_reports")
    with op.batch_alter_table("helix_applications", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_applications_call")

    op.drop_table("helix_applications")
    op.drop_table("helix_calls")
    op.drop_table("helix_programmes")
    with op.batch_alter_table("helix_participants", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_participants_actor")

    op.drop_table("helix_participants")
    with op.batch_alter_table("helix_indicator_values", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_indicator_values")

    op.drop_table("helix_indicator_values")
    with op.batch_alter_table("helix_history", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_history_entity")

    op.drop_table("helix_history")
    with op.batch_alter_table("helix_collaborations", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_collaborations_start")

    op.drop_table("helix_collaborations")
    with op.batch_alter_table("helix_actors", schema=None) as batch_op:
        batch_op.drop_index("ix_helix_actors_name")
        batch_op.drop_index("ix_helix_actors_kind")

    op.drop_table("helix_actors")
