"""investment pillar: parks, plots, registry with history, policies, screenings, pipeline

Self-contained (it imports no table module), so that it stays true when the tables change
later. Geometry is GeoJSON in a JSON column, the stored geometry (PostGIS or text) and a
bounding box, as the hub's tables keep it.

Revision ID: 0009
Revises:
Create Date: 2026-12-05 23:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cityhelix.db.types

revision = "0009"
down_revision = None
branch_labels = ("invest",)
depends_on = "0000"

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_Utc = cityhelix.db.types.UtcDateTime


def _id() -> sa.Column[int]:
    return sa.Column("id", _Id, primary_key=True, autoincrement=True)


def _geometry(column: str) -> list[sa.Column[object]]:
    return [
        sa.Column(column, _Json, nullable=True),
        sa.Column(f"{column}_geom", cityhelix.db.types.Geometry(), nullable=True),
        sa.Column(f"{column}_xmin", sa.Float(), nullable=True),
        sa.Column(f"{column}_ymin", sa.Float(), nullable=True),
        sa.Column(f"{column}_xmax", sa.Float(), nullable=True),
        sa.Column(f"{column}_ymax", sa.Float(), nullable=True),
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "invest_admin_unit_mapping",
        _id(),
        sa.Column("before_name", sa.String(200), nullable=False),
        sa.Column("before_province", sa.String(200), nullable=False),
        sa.Column("after_name", sa.String(200), nullable=False),
        sa.Column("after_province", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_admin_unit_mapping")),
        sa.UniqueConstraint("before_name", "before_province", name="uq_invest_admin_unit_before"),
    )
    op.create_table(
        "invest_parks",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("developer", sa.String(200), nullable=True),
        sa.Column("admin_unit_before", sa.String(200), nullable=True),
        sa.Column("admin_unit_after", sa.String(200), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        *[
            sa.Column(name, sa.Float(), nullable=True)
            for name in (
                "total_ha",
                "industrial_ha",
                "leased_pct",
                "land_rent_usd_m2",
                "management_fee_usd_m2_year",
                "power_capacity_mw",
                "power_spare_mw",
                "water_supply_m3_day",
                "wastewater_capacity_m3_day",
                "wastewater_spare_m3_day",
                "seaport_km",
                "airport_km",
                "city_centre_km",
                "expressway_km",
            )
        ],
        sa.Column("workforce_within_reach", sa.Integer(), nullable=True),
        sa.Column("permitted_sectors", _Json, nullable=False),
        sa.Column("excluded_sectors", _Json, nullable=False),
        sa.Column("incentives", sa.Text(), nullable=True),
        sa.Column("contacts", _Json, nullable=False),
        sa.Column("photos", _Json, nullable=False),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        *_geometry("boundary"),
        sa.Column("created_at", _Utc(), nullable=False),
        sa.Column("updated_at", _Utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_parks")),
        sa.UniqueConstraint("name", name=op.f("uq_invest_parks_name")),
    )
    op.create_table(
        "invest_plots",
        _id(),
        sa.Column("park_id", _Id, nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("area_ha", sa.Float(), nullable=False),
        sa.Column("ready_on", sa.Date(), nullable=True),
        sa.Column("price_usd_m2", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        *_geometry("boundary"),
        sa.Column("created_at", _Utc(), nullable=False),
        sa.Column("updated_at", _Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["park_id"],
            ["invest_parks.id"],
            name=op.f("fk_invest_plots_park_id_invest_parks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_plots")),
        sa.UniqueConstraint("park_id", "code", name="uq_invest_plots_park_code"),
    )
    op.create_index("ix_invest_plots_park_id", "invest_plots", ["park_id"])
    op.create_table(
        "invest_investors",
        _id(),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        sa.Column("contacts", _Json, nullable=False),
        sa.Column("created_at", _Utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_investors")),
    )
    op.create_table(
        "invest_projects",
        _id(),
        sa.Column("certificate_no", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("sector_vsic", sa.String(5), nullable=True),
        sa.Column("investor", sa.String(300), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("park_id", _Id, nullable=True),
        sa.Column("capital_usd", sa.Float(), nullable=True),
        sa.Column("land_ha", sa.Float(), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("admin_unit_after", sa.String(200), nullable=True),
        sa.Column("synthetic", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", _Json, nullable=False),
        sa.Column("updated_at", _Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["park_id"],
            ["invest_parks.id"],
            name=op.f("fk_invest_projects_park_id_invest_parks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_projects")),
        sa.UniqueConstraint("certificate_no", name=op.f("uq_invest_projects_certificate_no")),
    )
    op.create_index("ix_invest_projects_park_id", "invest_projects", ["park_id"])
    op.create_index("ix_invest_projects_sector_vsic", "invest_projects", ["sector_vsic"])
    op.create_table(
        "invest_project_versions",
        sa.Column("project_id", _Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("recorded_at", _Utc(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("document", _Json, nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["invest_projects.id"],
            name=op.f("fk_invest_project_versions_project_id_invest_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", "version", name=op.f("pk_invest_project_versions")),
    )
    op.create_table(
        "invest_policies",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("document", _Json, nullable=False),
        sa.Column("created_at", _Utc(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("adopted_at", _Utc(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_invest_policies")),
    )
    op.create_table(
        "invest_screenings",
        _id(),
        sa.Column("project_id", _Id, nullable=False),
        sa.Column("project_version", sa.Integer(), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("result", _Json, nullable=False),
        sa.Column("screened_at", _Utc(), nullable=False),
        sa.Column("screened_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["invest_projects.id"],
            name=op.f("fk_invest_screenings_project_id_invest_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_screenings")),
    )
    op.create_index("ix_invest_screenings_project_id", "invest_screenings", ["project_id"])
    op.create_table(
        "invest_leads",
        _id(),
        sa.Column("investor_id", _Id, nullable=True),
        sa.Column("organisation", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("contact", _Json, nullable=False),
        sa.Column("needs", _Json, nullable=False),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("stage_entered_at", _Utc(), nullable=False),
        sa.Column("stage_deadline", _Utc(), nullable=True),
        sa.Column("lost_reason", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", _Utc(), nullable=False),
        sa.Column("updated_at", _Utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investor_id"],
            ["invest_investors.id"],
            name=op.f("fk_invest_leads_investor_id_invest_investors"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_leads")),
    )
    op.create_index("ix_invest_leads_stage_deadline", "invest_leads", ["stage_deadline"])
    op.create_table(
        "invest_lead_stage_moves",
        _id(),
        sa.Column("lead_id", _Id, nullable=False),
        sa.Column("from_stage", sa.String(32), nullable=True),
        sa.Column("to_stage", sa.String(32), nullable=False),
        sa.Column("at", _Utc(), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["invest_leads.id"],
            name=op.f("fk_invest_lead_stage_moves_lead_id_invest_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_lead_stage_moves")),
    )
    op.create_index("ix_invest_lead_stage_moves_lead_id", "invest_lead_stage_moves", ["lead_id"])
    op.create_table(
        "invest_activities",
        _id(),
        sa.Column("lead_id", _Id, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("at", _Utc(), nullable=False),
        sa.Column("next_action_on", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["invest_leads.id"],
            name=op.f("fk_invest_activities_lead_id_invest_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invest_activities")),
    )
    op.create_index("ix_invest_activities_lead_id", "invest_activities", ["lead_id"])


def downgrade() -> None:
    for table in (
        "invest_activities",
        "invest_lead_stage_moves",
        "invest_leads",
        "invest_screenings",
        "invest_policies",
        "invest_project_versions",
        "invest_projects",
        "invest_investors",
        "invest_plots",
        "invest_parks",
        "invest_admin_unit_mapping",
    ):
        op.drop_table(table)
