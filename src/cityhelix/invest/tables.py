"""The investment pillar's tables: parks and plots, the registry with its history, the pipeline.

Geometry is kept as the GeoJSON the client sent (a JSON column) plus the stored geometry
(PostGIS or GeoJSON text, `db.types.Geometry`) and a bounding box, as the hub does. A
project's every change is a row of `invest_project_versions`; `invest_projects` holds the
newest state for search and analytics.
"""

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
from cityhelix.db.types import Geometry, JsonDocument, UtcDateTime

#: BIGINT ids on PostgreSQL; SQLite wants INTEGER for its rowid-backed autoincrement.
Id = BigInteger().with_variant(Integer(), "sqlite")


def _id() -> Column[int]:
    return Column("id", Id, primary_key=True, autoincrement=True)


def _geometry(column: str) -> list[Column[object]]:
    return [
        Column(column, JsonDocument, nullable=True),
        Column(f"{column}_geom", Geometry, nullable=True),
        Column(f"{column}_xmin", Float, nullable=True),
        Column(f"{column}_ymin", Float, nullable=True),
        Column(f"{column}_xmax", Float, nullable=True),
        Column(f"{column}_ymax", Float, nullable=True),
    ]


#: communes before the 1 July 2025 reorganisation -> the unit each became part of
admin_unit_mapping = Table(
    "invest_admin_unit_mapping",
    metadata,
    _id(),
    Column("before_name", String(200), nullable=False),
    Column("before_province", String(200), nullable=False),
    Column("after_name", String(200), nullable=False),
    Column("after_province", String(200), nullable=False),
    UniqueConstraint("before_name", "before_province", name="uq_invest_admin_unit_before"),
)

parks = Table(
    "invest_parks",
    metadata,
    _id(),
    Column("name", String(200), nullable=False, unique=True),
    Column("developer", String(200), nullable=True),
    Column("admin_unit_before", String(200), nullable=True),
    Column("admin_unit_after", String(200), nullable=True),
    Column("status", String(32), nullable=False),
    Column("total_ha", Float, nullable=True),
    Column("industrial_ha", Float, nullable=True),
    Column("leased_pct", Float, nullable=True),
    Column("land_rent_usd_m2", Float, nullable=True),
    Column("management_fee_usd_m2_year", Float, nullable=True),
    Column("power_capacity_mw", Float, nullable=True),
    Column("power_spare_mw", Float, nullable=True),
    Column("water_supply_m3_day", Float, nullable=True),
    Column("wastewater_capacity_m3_day", Float, nullable=True),
    Column("wastewater_spare_m3_day", Float, nullable=True),
    Column("seaport_km", Float, nullable=True),
    Column("airport_km", Float, nullable=True),
    Column("city_centre_km", Float, nullable=True),
    Column("expressway_km", Float, nullable=True),
    Column("workforce_within_reach", Integer, nullable=True),
    Column("permitted_sectors", JsonDocument, nullable=False),
    Column("excluded_sectors", JsonDocument, nullable=False),
    Column("incentives", Text, nullable=True),
    Column("contacts", JsonDocument, nullable=False),
    Column("photos", JsonDocument, nullable=False),
    Column("synthetic", Boolean, nullable=False),
    *_geometry("boundary"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

plots = Table(
    "invest_plots",
    metadata,
    _id(),
    Column("park_id", Id, ForeignKey("invest_parks.id", ondelete="CASCADE"), nullable=False),
    Column("code", String(64), nullable=False),
    Column("area_ha", Float, nullable=False),
    Column("ready_on", Date, nullable=True),
    Column("price_usd_m2", Float, nullable=True),
    Column("status", String(16), nullable=False),
    *_geometry("boundary"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("park_id", "code", name="uq_invest_plots_park_code"),
    Index("ix_invest_plots_park_id", "park_id"),
)

investors = Table(
    "invest_investors",
    metadata,
    _id(),
    Column("name", String(300), nullable=False),
    Column("country", String(2), nullable=True),
    Column("kind", String(32), nullable=True),
    Column("contacts", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

#: the newest state of each registered project (one row per certificate)
projects = Table(
    "invest_projects",
    metadata,
    _id(),
    Column("certificate_no", String(64), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("sector_vsic", String(5), nullable=True),
    #: the first investor named on the certificate, and its country
    Column("investor", String(300), nullable=True),
    Column("country", String(2), nullable=True),
    Column("park_id", Id, ForeignKey("invest_parks.id", ondelete="SET NULL"), nullable=True),
    Column("capital_usd", Float, nullable=True),
    Column("land_ha", Float, nullable=True),
    Column("employees", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("issued_on", Date, nullable=False),
    Column("admin_unit_after", String(200), nullable=True),
    Column("synthetic", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", JsonDocument, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_invest_projects_park_id", "park_id"),
    Index("ix_invest_projects_sector_vsic", "sector_vsic"),
)

#: every state a project has had: the certificate as issued and each adjustment
project_versions = Table(
    "invest_project_versions",
    metadata,
    Column(
        "project_id",
        Id,
        ForeignKey("invest_projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    #: the day the change took effect (the amended certificate's date), for "as of" reads
    Column("effective_on", Date, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("change_note", Text, nullable=True),
    Column("document", JsonDocument, nullable=False),
)

#: screening policies adopted or drafted after the shipped version 1 (a data file)
policies = Table(
    "invest_policies",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("document", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("adopted_at", UtcDateTime, nullable=True),
)

#: stored screening results: each keeps the policy version it was made under
screenings = Table(
    "invest_screenings",
    metadata,
    _id(),
    Column("project_id", Id, ForeignKey("invest_projects.id", ondelete="CASCADE"), nullable=False),
    Column("project_version", Integer, nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("result", JsonDocument, nullable=False),
    Column("screened_at", UtcDateTime, nullable=False),
    Column("screened_by", String(200), nullable=False),
    Index("ix_invest_screenings_project_id", "project_id"),
)

leads = Table(
    "invest_leads",
    metadata,
    _id(),
    Column(
        "investor_id", Id, ForeignKey("invest_investors.id", ondelete="SET NULL"), nullable=True
    ),
    Column("organisation", String(300), nullable=False),
    Column("country", String(2), nullable=True),
    #: personal data of the contact: never shown publicly
    Column("contact", JsonDocument, nullable=False),
    Column("needs", JsonDocument, nullable=False),
    Column("stage", String(32), nullable=False),
    Column("stage_entered_at", UtcDateTime, nullable=False),
    Column("stage_deadline", UtcDateTime, nullable=True),
    Column("lost_reason", Text, nullable=True),
    Column("owner", String(200), nullable=True),
    Column("source", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_invest_leads_stage_deadline", "stage_deadline"),
)

#: every stage a lead has been moved to, by whom and why
lead_stage_moves = Table(
    "invest_lead_stage_moves",
    metadata,
    _id(),
    Column("lead_id", Id, ForeignKey("invest_leads.id", ondelete="CASCADE"), nullable=False),
    Column("from_stage", String(32), nullable=True),
    Column("to_stage", String(32), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("by", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Index("ix_invest_lead_stage_moves_lead_id", "lead_id"),
)

activities = Table(
    "invest_activities",
    metadata,
    _id(),
    Column("lead_id", Id, ForeignKey("invest_leads.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("note", Text, nullable=True),
    Column("owner", String(200), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("next_action_on", Date, nullable=True),
    Column("done", Boolean, nullable=False),
    Index("ix_invest_activities_lead_id", "lead_id"),
)
