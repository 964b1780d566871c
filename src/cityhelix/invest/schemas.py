"""The bodies the investment API accepts, as pydantic models: types, bounds, field names.

Unknown fields are refused (422 naming them), numbers must be finite, and every list and
text is bounded, so a body that passes here is one the service can use.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cityhelix.invest.policy import PolicyDocument, PollutionBand

#: bounds that keep every value inside its column on both databases (no overflow, no 500)
Count = Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)]
Amount = Annotated[float, Field(ge=0, le=1e18, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Vsic = Annotated[str, Field(pattern=r"^[0-9]{2,5}$")]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
LongName = Annotated[str, Field(min_length=1, max_length=300)]
ShortText = Annotated[str, Field(max_length=4000)]

ParkStatus = Literal["operating", "under_construction", "planned"]
PlotStatus = Literal["free", "reserved", "leased"]
ProjectStatus = Literal["active", "suspended", "terminated"]

#: the pipeline, in order; `lost` may follow any stage before `operating`
STAGES = (
    "lead",
    "first_contact",
    "site_visit",
    "proposal",
    "application",
    "certificate_issued",
    "construction",
    "operating",
    "aftercare",
)
Stage = Literal[
    "lead",
    "first_contact",
    "site_visit",
    "proposal",
    "application",
    "certificate_issued",
    "construction",
    "operating",
    "aftercare",
    "lost",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeoJsonPolygon(_Body):
    """A Polygon or MultiPolygon in WGS 84 longitude/latitude."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class ScreenIn(_Body):
    """A proposal to screen; an absent number is unknown (and the criteria say so)."""

    sector_vsic: Vsic | None = None
    capital_usd: Amount | None = None
    land_ha: Amount | None = None
    employees: Count | None = None
    local_content_pct: Share | None = None
    #: a Decree 08/2022 Appendix II type code; null: not a polluting type; absent: unknown
    pollution_type: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    pollution_band: PollutionBand | None = None
    wastewater_m3_day: Amount | None = None
    energy_toe_year: Amount | None = None
    equipment_age_years: Amount | None = None
    hitech_revenue_pct: Share | None = None
    revenue_vnd: Amount | None = None
    input_costs_vnd: Amount | None = None
    rd_spend_vnd: Amount | None = None
    total_funding_vnd: Amount | None = None
    rd_staff: Count | None = None
    rd_staff_college_level: Count | None = None
    park_id: Annotated[int, Field(ge=1, le=2**62)] | None = None


class ParkIn(_Body):
    name: Name
    developer: Name | None = None
    admin_unit_before: Name | None = None
    admin_unit_after: Name | None = None
    status: ParkStatus = "operating"
    total_ha: Amount | None = None
    industrial_ha: Amount | None = None
    leased_pct: Share | None = None
    land_rent_usd_m2: Amount | None = None
    management_fee_usd_m2_year: Amount | None = None
    power_capacity_mw: Amount | None = None
    power_spare_mw: Amount | None = None
    water_supply_m3_day: Amount | None = None
    wastewater_capacity_m3_day: Amount | None = None
    wastewater_spare_m3_day: Amount | None = None
    seaport_km: Amount | None = None
    airport_km: Amount | None = None
    city_centre_km: Amount | None = None
    expressway_km: Amount | None = None
    workforce_within_reach: Annotated[int, Field(ge=0, le=10**8)] | None = None
    permitted_sectors: Annotated[list[Vsic], Field(max_length=500)] = []
    excluded_sectors: Annotated[list[Vsic], Field(max_length=500)] = []
    incentives: ShortText | None = None
    contacts: Annotated[list[dict[str, str]], Field(max_length=20)] = []
    photos: Annotated[list[Annotated[str, Field(max_length=2000)]], Field(max_length=50)] = []
    boundary: GeoJsonPolygon | None = None
    synthetic: bool = False


class ParkPatch(ParkIn):
    """Any subset of a park's fields."""

    name: Name | None = None  # type: ignore[assignment]


class PlotIn(_Body):
    park_id: Annotated[int, Field(ge=1, le=2**62)]
    code: Annotated[str, Field(min_length=1, max_length=64)]
    area_ha: Annotated[float, Field(gt=0, allow_inf_nan=False, le=100_000)]
    ready_on: date | None = None
    price_usd_m2: Amount | None = None
    status: PlotStatus = "free"
    boundary: GeoJsonPolygon | None = None


class PlotPatch(_Body):
    """Any subset of a plot's fields but its park."""

    code: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    area_ha: Annotated[float, Field(gt=0, allow_inf_nan=False, le=100_000)] | None = None
    ready_on: date | None = None
    price_usd_m2: Amount | None = None
    status: PlotStatus | None = None
    boundary: GeoJsonPolygon | None = None


class InvestorOfProject(_Body):
    name: LongName
    country: Country | None = None
    kind: Literal["company", "individual", "fund", "state"] = "company"


class ProjectIn(_Body):
    """A registered project (the IRC's content and the figures screening reads)."""

    certificate_no: Annotated[str, Field(min_length=1, max_length=64)]
    name: LongName
    issued_on: date
    investors: Annotated[list[InvestorOfProject], Field(max_length=50)] = []
    sector_vsic: Vsic | None = None
    sector_name: LongName | None = None
    objectives: ShortText | None = None
    capital_usd: Amount | None = None
    park_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    plot_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    address: ShortText | None = None
    admin_unit_before: Name | None = None
    admin_unit_after: Name | None = None
    land_ha: Amount | None = None
    employees_planned: Count | None = None
    employees_actual: Count | None = None
    equipment_age_years: Amount | None = None
    energy_toe_year: Amount | None = None
    water_m3_day: Amount | None = None
    wastewater_m3_day: Amount | None = None
    pollution_type: Annotated[str, Field(min_length=1, max_length=8)] | None = None
    pollution_band: PollutionBand | None = None
    local_content_pct: Share | None = None
    value_added_pct: Share | None = None
    hitech_revenue_pct: Share | None = None
    revenue_vnd: Amount | None = None
    input_costs_vnd: Amount | None = None
    rd_spend_vnd: Amount | None = None
    total_funding_vnd: Amount | None = None
    rd_staff: Count | None = None
    rd_staff_college_level: Count | None = None
    status: ProjectStatus = "active"
    status_on: date | None = None
    synthetic: bool = False


class ProjectChange(_Body):
    """An adjustment: the fields that change, the day it took effect and why."""

    changes: dict[str, Any]
    effective_on: date
    change_note: Annotated[str, Field(max_length=2000)] | None = None

    @field_validator("changes")
    @classmethod
    def _some_change(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise ValueError("at least one field must change")
        return value


class Needs(_Body):
    """What a lead needs of a site."""

    land_ha: Amount | None = None
    power_mw: Amount | None = None
    water_m3_day: Amount | None = None
    wastewater_m3_day: Amount | None = None
    workforce: Count | None = None
    skills: ShortText | None = None
    ready_by: date | None = None
    budget_usd: Amount | None = None
    sector_vsic: Vsic | None = None


class LeadIn(_Body):
    organisation: LongName
    country: Country | None = None
    investor_id: Annotated[int, Field(ge=1, le=2**62)] | None = None
    contact: Annotated[dict[str, Annotated[str, Field(max_length=300)]], Field(max_length=10)] = {}
    needs: Needs = Needs()
    owner: Name | None = None


class StageMove(_Body):
    stage: Stage
    reason: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    #: override the stage's default deadline
    deadline: datetime | None = None


class ActivityIn(_Body):
    kind: Literal["call", "email", "meeting", "site_visit", "document", "note"]
    note: ShortText | None = None
    owner: Name
    next_action_on: date | None = None
    done: bool = False


class PolicyIn(_Body):
    document: PolicyDocument
    note: Annotated[str, Field(max_length=2000)] | None = None
    #: adopt at once (the new default for screening), or keep as a draft for what-if work
    adopt: bool = False


class RankCriterion(_Body):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    weight: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1.0
    direction: Literal["max", "min"]


class RankCandidate(_Body):
    id: Annotated[str, Field(min_length=1, max_length=200)] | int
    values: Annotated[dict[str, float], Field(max_length=50)]


class RankIn(_Body):
    method: Literal["topsis", "ahp"] = "topsis"
    criteria: Annotated[list[RankCriterion], Field(min_length=1, max_length=30)]
    candidates: Annotated[list[RankCandidate], Field(min_length=1, max_length=2000)]
    #: AHP only: the pairwise comparison matrix, rows and columns in `criteria` order
    pairwise: (
        Annotated[list[Annotated[list[float], Field(max_length=15)]], Field(max_length=15)] | None
    ) = None


class InvestorIn(_Body):
    name: LongName
    country: Country | None = None
    kind: Literal["company", "individual", "fund", "state"] | None = None
    contacts: Annotated[
        list[dict[str, Annotated[str, Field(max_length=300)]]], Field(max_length=20)
    ] = []


class AdminUnitMappingIn(_Body):
    """One commune-level unit before 1 July 2025 and the unit it became part of."""

    before_name: Name
    before_province: Name
    after_name: Name
    after_province: Name


class EnquiryIn(_Body):
    """An enquiry from the public portal: it becomes a lead; its contact is never shown."""

    organisation: LongName
    country: Country | None = None
    name: Name
    email: Annotated[str, Field(pattern=r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")]
    phone: Annotated[str, Field(max_length=40)] | None = None
    message: Annotated[str, Field(max_length=4000)] = ""
    needs: Needs = Needs()
    #: a field people never see on the form: anything in it marks a robot
    website: Annotated[str, Field(max_length=300)] = ""
