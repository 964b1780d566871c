"""The screening policy as data: its rules, their thresholds, legal sources and texts.

Version 1 ships as `policy_v1.json`; analysts store later versions (drafts, then adopted)
in `invest_policies`. A rule's `kind` names the one evaluator in `screening` that reads it;
everything else about the rule (threshold, severity, sectors, bands, source) is editable.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Severity = Literal["block", "flag", "priority"]
Operator = Literal[">=", ">", "<=", "<"]
PollutionBand = Literal["large", "medium", "small"]
#: the numeric fields of a proposal a rule may read
NumericField = Literal[
    "capital_usd",
    "land_ha",
    "employees",
    "local_content_pct",
    "wastewater_m3_day",
    "energy_toe_year",
    "equipment_age_years",
    "hitech_revenue_pct",
    "revenue_vnd",
    "input_costs_vnd",
    "rd_spend_vnd",
    "total_funding_vnd",
    "rd_staff",
    "rd_staff_college_level",
]
ParkField = Literal["wastewater_spare_m3_day", "power_spare_mw"]

POLICY_V1 = Path(__file__).with_name("policy_v1.json")

_Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    severity: Severity
    text: _Text
    source: _Text


class SectorEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    vsic: Annotated[str, Field(pattern=r"^[0-9]{2,5}$")]
    name: Annotated[str, Field(min_length=1, max_length=300)]


class SectorListRule(_Rule):
    """The proposal's VSIC code starts with one of `sectors` (priority) or with none (else)."""

    kind: Literal["sector_list"]
    sectors: Annotated[list[SectorEntry], Field(max_length=1000)]


class CompareRule(_Rule):
    """One field compared with a threshold: `field operator threshold` passes."""

    kind: Literal["compare"]
    field: NumericField
    operator: Operator
    threshold: float
    unit: Annotated[str, Field(max_length=32)] = ""


class RatioRule(_Rule):
    """`numerator / denominator operator threshold` passes (e.g. USD per hectare)."""

    kind: Literal["ratio"]
    numerator: NumericField
    denominator: NumericField
    operator: Operator
    threshold: float
    unit: Annotated[str, Field(max_length=32)] = ""


class SizeBand(BaseModel):
    """A Decision 10/2021 size band: total funding AND workers at least these."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=32)]
    min_funding_vnd: Annotated[float, Field(ge=0)]
    min_employees: Annotated[float, Field(ge=0)]
    threshold: Annotated[float, Field(ge=0)]


class _BandedRule(_Rule):
    bands: Annotated[list[SizeBand], Field(min_length=1, max_length=10)]
    unit: Annotated[str, Field(max_length=32)] = "%"

    @model_validator(mode="after")
    def _last_band_catches_all(self) -> _BandedRule:
        last = self.bands[-1]
        if last.min_funding_vnd != 0 or last.min_employees != 0:
            raise ValueError("the last band must have min_funding_vnd 0 and min_employees 0")
        return self


class RdSpendRule(_BandedRule):
    """R&D spend over (revenue minus input costs), in percent, at least the band's."""

    kind: Literal["rd_spend_share"]


class RdStaffRule(_BandedRule):
    """R&D staff (college level capped at a share of them) over all workers, in percent."""

    kind: Literal["rd_staff_share"]
    college_level_cap_pct: Annotated[float, Field(ge=0, lt=100)] = 30


class PollutionType(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: Annotated[str, Field(min_length=1, max_length=8)]
    name: Annotated[str, Field(min_length=1, max_length=300)]


class PollutionRule(_Rule):
    """A polluting type fails (flag); in one of `block_bands` it blocks."""

    kind: Literal["pollution"]
    block_bands: Annotated[list[PollutionBand], Field(max_length=3)] = ["large"]
    types: Annotated[list[PollutionType], Field(max_length=100)] = []


class WastewaterRule(_Rule):
    """Wastewater below the monitoring threshold of its kind (polluting type or not)."""

    kind: Literal["wastewater"]
    field: NumericField = "wastewater_m3_day"
    threshold_polluting: Annotated[float, Field(ge=0)]
    threshold_other: Annotated[float, Field(ge=0)]
    unit: Annotated[str, Field(max_length=32)] = "m3/day"


class ParkCapacityRule(_Rule):
    """The proposal's need fits what the chosen park has spare: `need operator spare`."""

    kind: Literal["park_capacity"]
    field: NumericField
    park_field: ParkField
    operator: Operator = "<="
    unit: Annotated[str, Field(max_length=32)] = ""


Rule = Annotated[
    SectorListRule
    | CompareRule
    | RatioRule
    | RdSpendRule
    | RdStaffRule
    | PollutionRule
    | WastewaterRule
    | ParkCapacityRule,
    Field(discriminator="kind"),
]


class PolicyDocument(BaseModel):
    """A whole policy: what an analyst edits and what a screening result refers to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1, max_length=300)]
    note: Annotated[str, Field(max_length=4000)] = ""
    rules: Annotated[list[Rule], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _codes_unique(self) -> PolicyDocument:
        codes = [rule.code for rule in self.rules]
        duplicates = sorted({code for code in codes if codes.count(code) > 1})
        if duplicates:
            raise ValueError(f"rule codes must be unique; repeated: {', '.join(duplicates)}")
        return self


@lru_cache(maxsize=1)
def shipped_policy() -> PolicyDocument:
    """Policy version 1, as shipped in `policy_v1.json`."""
    raw: dict[str, Any] = json.loads(POLICY_V1.read_text(encoding="utf-8"))
    raw.pop("version", None)
    return PolicyDocument.model_validate(raw)
