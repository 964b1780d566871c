"""Screening a proposal against a policy: one evaluator per rule kind, and the verdict rule.

Pure functions over plain values (no database): the service gathers the proposal and the
park, this module explains each criterion with the numbers behind it. A criterion whose
input is unknown says which input it needs (`passed: null`) instead of passing.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cityhelix.invest.policy import (
    CompareRule,
    Operator,
    ParkCapacityRule,
    PolicyDocument,
    PollutionRule,
    RatioRule,
    RdSpendRule,
    RdStaffRule,
    SectorListRule,
    SizeBand,
    WastewaterRule,
)

_COMPARE: dict[Operator, Callable[[float, float], bool]] = {
    ">=": op.ge,
    ">": op.gt,
    "<=": op.le,
    "<": op.lt,
}
_SAYS: dict[Operator, str] = {
    ">=": "at least",
    ">": "more than",
    "<=": "at most",
    "<": "less than",
}


@dataclass(frozen=True)
class Proposal:
    """What is known of a project: absent numbers are unknown, never zero."""

    values: Mapping[str, float]
    sector_vsic: str | None = None
    #: False when the proposal did not say; (True, None) means "no polluting type"
    pollution_type_known: bool = False
    pollution_type: str | None = None
    pollution_band: str | None = None
    park_id: int | None = None
    #: the chosen park's spare capacities (None: no park, or the park does not say)
    park: Mapping[str, float | None] | None = None


@dataclass
class Criterion:
    """One rule's finding; `passed` None when an input it needs is unknown."""

    code: str
    severity: str
    passed: bool | None
    value: Any
    threshold: Any
    unit: str
    explanation: str
    source: str
    text: str
    inputs: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "passed": self.passed,
            "severity": self.severity,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "explanation": self.explanation,
            "source": self.source,
            "text": self.text,
            "inputs": self.inputs,
        }


def _number(value: float) -> str:
    return f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


def _missing(rule_code: str, names: Sequence[str]) -> str:
    return f"needs {', '.join(names)}, which {'was' if len(names) == 1 else 'were'} not given"


def _criterion(rule: Any, **kw: Any) -> Criterion:
    return Criterion(
        code=rule.code,
        severity=kw.pop("severity", rule.severity),
        source=rule.source,
        text=rule.text,
        unit=kw.pop("unit", getattr(rule, "unit", "")),
        **kw,
    )


def _unknown(rule: Any, names: Sequence[str], threshold: Any = None) -> Criterion:
    inputs = dict.fromkeys(names)
    return _criterion(
        rule,
        passed=None,
        value=None,
        threshold=threshold,
        explanation=_missing(rule.code, names),
        inputs=inputs,
    )


def _sector_list(rule: SectorListRule, proposal: Proposal) -> Criterion:
    listed = [s.vsic for s in rule.sectors]
    if proposal.sector_vsic is None:
        return _unknown(rule, ["sector_vsic"], listed)
    match = next((s for s in rule.sectors if proposal.sector_vsic.startswith(s.vsic)), None)
    inside = match is not None
    passed = inside if rule.severity == "priority" else not inside
    where = f"is in the list ({match.vsic} {match.name})" if match else "is not in the list"
    return _criterion(
        rule,
        passed=passed,
        value=proposal.sector_vsic,
        threshold=listed,
        unit="",
        explanation=f"VSIC {proposal.sector_vsic} {where}",
        inputs={"sector_vsic": proposal.sector_vsic},
    )


def _compare(rule: CompareRule, proposal: Proposal) -> Criterion:
    value = proposal.values.get(rule.field)
    if value is None:
        return _unknown(rule, [rule.field], rule.threshold)
    passed = _COMPARE[rule.operator](value, rule.threshold)
    return _criterion(
        rule,
        passed=passed,
        value=value,
        threshold=rule.threshold,
        explanation=(
            f"{rule.field} is {_number(value)} {rule.unit}; {_SAYS[rule.operator]} "
            f"{_number(rule.threshold)} {rule.unit} is required"
        ),
        inputs={rule.field: value},
    )


def _ratio(rule: RatioRule, proposal: Proposal) -> Criterion:
    names = [rule.numerator, rule.denominator]
    missing = [n for n in names if proposal.values.get(n) is None]
    if missing:
        return _unknown(rule, missing, rule.threshold)
    numerator, denominator = proposal.values[rule.numerator], proposal.values[rule.denominator]
    inputs = {rule.numerator: numerator, rule.denominator: denominator}
    if denominator == 0:
        return _criterion(
            rule,
            passed=None,
            value=None,
            threshold=rule.threshold,
            explanation=f"{rule.denominator} is 0: {rule.numerator} per {rule.denominator} "
            "cannot be measured",
            inputs=inputs,
        )
    value = numerator / denominator
    passed = _COMPARE[rule.operator](value, rule.threshold)
    return _criterion(
        rule,
        passed=passed,
        value=value,
        threshold=rule.threshold,
        explanation=(
            f"{rule.numerator} / {rule.denominator} = {_number(numerator)} / "
            f"{_number(denominator)} = {_number(value)} {rule.unit}; "
            f"{_SAYS[rule.operator]} {_number(rule.threshold)} {rule.unit} is required"
        ),
        inputs=inputs,
    )


def size_band(bands: list[SizeBand], funding_vnd: float, employees: float) -> SizeBand:
    """The first band whose total funding AND workers the enterprise reaches."""
    for band in bands:
        if funding_vnd >= band.min_funding_vnd and employees >= band.min_employees:
            return band
    return bands[-1]


def _band_words(band: SizeBand) -> str:
    if band.min_funding_vnd == 0 and band.min_employees == 0:
        return f"size band '{band.name}' (every other enterprise)"
    return (
        f"size band '{band.name}' (total funding >= VND {_number(band.min_funding_vnd)} and "
        f">= {_number(band.min_employees)} workers)"
    )


def _rd_spend(rule: RdSpendRule, proposal: Proposal) -> Criterion:
    names = ["rd_spend_vnd", "revenue_vnd", "input_costs_vnd", "total_funding_vnd", "employees"]
    missing = [n for n in names if proposal.values.get(n) is None]
    if missing:
        return _unknown(rule, missing)
    v = proposal.values
    band = size_band(rule.bands, v["total_funding_vnd"], v["employees"])
    inputs = {n: v[n] for n in names}
    denominator = v["revenue_vnd"] - v["input_costs_vnd"]
    if denominator <= 0:
        return _criterion(
            rule,
            passed=False,
            value=None,
            threshold=band.threshold,
            explanation=(
                f"revenue_vnd - input_costs_vnd = {_number(denominator)} is not positive: "
                "there is no value added to measure R&D spending against"
            ),
            inputs={**inputs, "band": band.name},
        )
    value = v["rd_spend_vnd"] / denominator * 100
    return _criterion(
        rule,
        passed=value >= band.threshold,
        value=value,
        threshold=band.threshold,
        explanation=(
            f"rd_spend_vnd / (revenue_vnd - input_costs_vnd) = {_number(v['rd_spend_vnd'])} / "
            f"({_number(v['revenue_vnd'])} - {_number(v['input_costs_vnd'])}) = "
            f"{_number(value)} %; {_band_words(band)} requires at least {band.threshold} %"
        ),
        inputs={**inputs, "band": band.name},
    )


def _rd_staff(rule: RdStaffRule, proposal: Proposal) -> Criterion:
    names = ["rd_staff", "rd_staff_college_level", "employees", "total_funding_vnd"]
    missing = [n for n in names if proposal.values.get(n) is None]
    if missing:
        return _unknown(rule, missing)
    v = proposal.values
    band = size_band(rule.bands, v["total_funding_vnd"], v["employees"])
    inputs: dict[str, Any] = {n: v[n] for n in names}
    college = min(v["rd_staff_college_level"], v["rd_staff"])
    university = v["rd_staff"] - college
    # college-level staff may be at most cap % of those counted: c <= cap * (u + c)
    cap = rule.college_level_cap_pct / 100
    counted_college = min(college, cap * university / (1 - cap))
    counted = university + counted_college
    inputs.update({"band": band.name, "counted_rd_staff": counted})
    if v["employees"] <= 0:
        return _criterion(
            rule,
            passed=None,
            value=None,
            threshold=band.threshold,
            explanation="employees is 0: the R&D staff share cannot be measured",
            inputs=inputs,
        )
    value = counted / v["employees"] * 100
    capped = (
        f" (college-level staff counted up to {rule.college_level_cap_pct:g} % of them: "
        f"{_number(counted_college)} of {_number(college)})"
        if counted_college < college
        else ""
    )
    return _criterion(
        rule,
        passed=value >= band.threshold,
        value=value,
        threshold=band.threshold,
        explanation=(
            f"counted R&D staff / employees = {_number(counted)} / {_number(v['employees'])} = "
            f"{_number(value)} %{capped}; {_band_words(band)} requires at least "
            f"{band.threshold} %"
        ),
        inputs=inputs,
    )


def _pollution(rule: PollutionRule, proposal: Proposal) -> Criterion:
    if not proposal.pollution_type_known:
        return _unknown(rule, ["pollution_type"], rule.block_bands)
    kind = proposal.pollution_type
    inputs = {"pollution_type": kind, "pollution_band": proposal.pollution_band}
    if kind is None:
        return _criterion(
            rule,
            passed=True,
            value=None,
            threshold=rule.block_bands,
            unit="",
            explanation="not a type listed in Appendix II",
            inputs=inputs,
        )
    name = next((t.name for t in rule.types if t.code == kind), None)
    named = f"Appendix II type {kind}" + (f" ({name})" if name else "")
    blocks = proposal.pollution_band in rule.block_bands
    band = proposal.pollution_band or "unknown"
    return _criterion(
        rule,
        severity="block" if blocks else rule.severity,
        passed=False,
        value=kind,
        threshold=rule.block_bands,
        unit="",
        explanation=(
            f"{named}, {band} capacity: "
            + ("a polluting type at a blocking capacity" if blocks else "a polluting type")
        ),
        inputs=inputs,
    )


def _wastewater(rule: WastewaterRule, proposal: Proposal) -> Criterion:
    value = proposal.values.get(rule.field)
    missing = ([] if value is not None else [rule.field]) + (
        [] if proposal.pollution_type_known else ["pollution_type"]
    )
    if missing or value is None:
        return _unknown(rule, missing)
    polluting = proposal.pollution_type is not None
    threshold = rule.threshold_polluting if polluting else rule.threshold_other
    kind = "a polluting type" if polluting else "not a polluting type"
    return _criterion(
        rule,
        passed=value < threshold,
        value=value,
        threshold=threshold,
        explanation=(
            f"{rule.field} is {_number(value)} {rule.unit}; for {kind} the threshold is "
            f"{_number(threshold)} {rule.unit} (below it passes)"
        ),
        inputs={rule.field: value, "pollution_type": proposal.pollution_type},
    )


def _park_capacity(rule: ParkCapacityRule, proposal: Proposal) -> Criterion:
    need = proposal.values.get(rule.field)
    if need is None:
        return _unknown(rule, [rule.field])
    if proposal.park_id is None:
        return _unknown(rule, ["park_id"])
    spare = (proposal.park or {}).get(rule.park_field)
    inputs = {rule.field: need, "park_id": proposal.park_id, rule.park_field: spare}
    if spare is None:
        return _criterion(
            rule,
            passed=None,
            value=need,
            threshold=None,
            explanation=f"park {proposal.park_id} does not record {rule.park_field}",
            inputs=inputs,
        )
    return _criterion(
        rule,
        passed=_COMPARE[rule.operator](need, spare),
        value=need,
        threshold=spare,
        explanation=(
            f"{rule.field} is {_number(need)} {rule.unit}; park {proposal.park_id} has "
            f"{_number(spare)} {rule.unit} spare ({rule.park_field})"
        ),
        inputs=inputs,
    )


_EVALUATORS: dict[type, Callable[[Any, Proposal], Criterion]] = {
    SectorListRule: _sector_list,
    CompareRule: _compare,
    RatioRule: _ratio,
    RdSpendRule: _rd_spend,
    RdStaffRule: _rd_staff,
    PollutionRule: _pollution,
    WastewaterRule: _wastewater,
    ParkCapacityRule: _park_capacity,
}


def verdict(criteria: list[Criterion]) -> str:
    """Any block -> not_recommended; 2+ flags -> review; priority tests all pass, no flag ->
    priority; otherwise acceptable. Unknown criteria count neither way."""
    failed = [c for c in criteria if c.passed is False]
    if any(c.severity == "block" for c in failed):
        return "not_recommended"
    flags = sum(1 for c in failed if c.severity == "flag")
    if flags >= 2:
        return "review"
    priority = [c for c in criteria if c.severity == "priority"]
    if flags == 0 and priority and all(c.passed is True for c in priority):
        return "priority"
    return "acceptable"


def screen(policy: PolicyDocument, version: int, proposal: Proposal) -> dict[str, Any]:
    """The answer of `POST /api/invest/screen`: verdict, policy version, each criterion."""
    criteria = [_EVALUATORS[type(rule)](rule, proposal) for rule in policy.rules]
    return {
        "verdict": verdict(criteria),
        "policy_version": version,
        "criteria": [c.as_json() for c in criteria],
        "unknown": [c.code for c in criteria if c.passed is None],
    }
