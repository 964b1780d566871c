"""A rule as data: its API body read into a `Rule`, every field checked with a message that
names it, and written back as the same body.

Kinds and their levels follow the issue (threshold, range, rate per minute, stale, anomaly
z-score, composite AND/OR); the evaluator (`evaluate.py`) reads only `Rule`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.errors import GEOSException
from shapely.geometry import shape

from cityhelix.ops.errors import BadRequest

KINDS = ("threshold", "range", "rate", "stale", "anomaly", "composite")
OPERATORS = ("gt", "ge", "lt", "le")
SEVERITIES = ("info", "warning", "critical")
#: CAP 1.2 categories (OASIS CAP 1.2, 3.2.2 `category`)
CAP_CATEGORIES = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
)  # fmt: skip
#: bounds on what one rule may ask for (the window lives in each state row)
MAX_WINDOW = 1000
MAX_SCOPE_IDS = 1000
MAX_POLYGON_POINTS = 10_000
MAX_FOR_SECONDS = 7 * 24 * 3600
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

Operator = Literal["gt", "ge", "lt", "le"]


def compare(operator: str, value: float, level: float) -> bool:
    """`value <operator> level`."""
    if operator == "gt":
        return value > level
    if operator == "ge":
        return value >= level
    if operator == "lt":
        return value < level
    return value <= level


@dataclass(frozen=True)
class Schedule:
    """Active hours: weekdays (0 = Monday) and a start-end time of day, UTC; end < start
    spans midnight."""

    days: tuple[int, ...]
    start_minute: int
    end_minute: int

    def active(self, weekday: int, minute: int) -> bool:
        if self.start_minute <= self.end_minute:
            return weekday in self.days and self.start_minute <= minute < self.end_minute
        if minute >= self.start_minute:
            return weekday in self.days
        return (weekday - 1) % 7 in self.days and minute < self.end_minute


@dataclass(frozen=True)
class Scope:
    """Which Datastreams a rule watches; resolved when it evaluates, so new ones count."""

    datastream_ids: tuple[int, ...] = ()
    observed_property_id: int | None = None
    district: str | None = None
    #: the polygon as GeoJSON (WGS 84)
    polygon: dict[str, Any] | None = None


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str
    scope: Scope
    severity: str
    operator: str = "gt"
    value: float = 0.0
    clear_value: float | None = None
    low: float | None = None
    high: float | None = None
    clear_low: float | None = None
    clear_high: float | None = None
    minutes: float | None = None
    window: int = 30
    min_samples: int = 10
    combine: str = "and"
    rule_ids: tuple[int, ...] = ()
    for_seconds: float = 0.0
    escalation_value: float | None = None
    escalation_severity: str | None = None
    min_reraise_seconds: float | None = None
    schedule: Schedule | None = None
    incident_template: dict[str, Any] | None = None
    cap_category: str = "Other"
    enabled: bool = True
    body: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def clear_level(self) -> float:
        return self.value if self.clear_value is None else self.clear_value


def _number(body: dict[str, Any], name: str, *, required: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required for a {body.get('kind')} rule", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name}: expected a finite number", field=name)
    return float(value)


def _integer(body: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name}: expected an integer from {low} to {high}", field=name)
    return value


def _ids(value: object, name: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or len(value) > MAX_SCOPE_IDS
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in value)
    ):
        raise BadRequest(
            f"{name}: expected a list of 1 to {MAX_SCOPE_IDS} positive ids", field=name
        )
    return tuple(dict.fromkeys(value))


def _scope(body: dict[str, Any]) -> Scope:
    given = [
        name
        for name in ("datastream_ids", "observed_property_id", "district", "polygon")
        if body.get(name) is not None
    ]
    if body["kind"] == "composite":
        if given:
            raise BadRequest(
                f"{given[0]}: a composite rule has no scope of its own", field=given[0]
            )
        return Scope()
    if len(given) != 1:
        raise BadRequest(
            "datastream_ids: give exactly one scope: datastream_ids, observed_property_id, "
            "district or polygon",
            field="datastream_ids",
        )
    (name,) = given
    value = body[name]
    if name == "datastream_ids":
        return Scope(datastream_ids=_ids(value, name))
    if name == "observed_property_id":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise BadRequest(f"{name}: expected a positive id", field=name)
        return Scope(observed_property_id=value)
    if name == "district":
        if not isinstance(value, str) or not 1 <= len(value) <= 200:
            raise BadRequest(f"{name}: expected a district name (1-200 characters)", field=name)
        return Scope(district=value)
    return Scope(polygon=_polygon(value))


def _polygon(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadRequest(
            'polygon: expected a GeoJSON Polygon or MultiPolygon {"type", "coordinates"}',
            field="polygon",
        )
    try:
        geometry = shape(value)
    except (ValueError, TypeError, IndexError, AttributeError, GEOSException) as error:
        raise BadRequest(f"polygon: not a GeoJSON polygon ({error})", field="polygon") from None
    if shapely.get_num_coordinates(geometry) > MAX_POLYGON_POINTS:
        raise BadRequest(f"polygon: at most {MAX_POLYGON_POINTS} points", field="polygon")
    if geometry.is_empty or not geometry.is_valid:
        raise BadRequest(
            "polygon: not a valid polygon (closed rings, no self-intersection)", field="polygon"
        )
    xmin, ymin, xmax, ymax = geometry.bounds
    if xmin < -180 or xmax > 180 or ymin < -90 or ymax > 90:
        raise BadRequest("polygon: coordinates must be WGS 84 longitude, latitude", field="polygon")
    return value


def _schedule(value: object) -> Schedule | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(
            'schedule: expected {"days": [0-6], "start": "HH:MM", "end": "HH:MM"}', field="schedule"
        )
    days = value.get("days", list(range(7)))
    if (
        not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in days)
    ):
        raise BadRequest("schedule.days: expected weekdays 0 (Monday) to 6", field="schedule.days")
    minutes = []
    for name in ("start", "end"):
        text = value.get(name)
        match = _TIME.match(text) if isinstance(text, str) else None
        if match is None:
            raise BadRequest(f"schedule.{name}: expected HH:MM (UTC)", field=f"schedule.{name}")
        minutes.append(int(match[1]) * 60 + int(match[2]))
    if minutes[0] == minutes[1]:
        raise BadRequest("schedule.end: must differ from start", field="schedule.end")
    return Schedule(tuple(sorted(set(days))), minutes[0], minutes[1])


def _template(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(
            'incident_template: expected {"category", "priority", "title", "description"}',
            field="incident_template",
        )
    template: dict[str, Any] = {}
    for name in ("category", "priority", "title", "description"):
        text = value.get(name)
        if name in ("category", "title") and not isinstance(text, str):
            raise BadRequest(
                f"incident_template.{name}: required text", field=f"incident_template.{name}"
            )
        if text is not None and (not isinstance(text, str) or len(text) > 2000):
            raise BadRequest(
                f"incident_template.{name}: expected text (at most 2000 characters)",
                field=f"incident_template.{name}",
            )
        template[name] = text
    return template


def parse_rule(body: object, rule_id: int = 0) -> Rule:
    """The rule in an API body, checked (BadRequest names the field); ids are checked
    against the hub and other rules by the caller."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", field="body")
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise BadRequest("name: expected text of 1 to 200 characters", field="name")
    kind = body.get("kind")
    if kind not in KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(KINDS)}", field="kind")
    severity = body.get("severity", "warning")
    if severity not in SEVERITIES:
        raise BadRequest(f"severity: expected one of {', '.join(SEVERITIES)}", field="severity")
    operator = body.get("operator", "gt")
    if operator not in OPERATORS:
        raise BadRequest(f"operator: expected one of {', '.join(OPERATORS)}", field="operator")
    for_seconds = _number(body, "for_seconds") or 0.0
    if not 0 <= for_seconds <= MAX_FOR_SECONDS:
        raise BadRequest(f"for_seconds: expected 0 to {MAX_FOR_SECONDS}", field="for_seconds")
    reraise = _number(body, "min_reraise_seconds")
    if reraise is not None and not 0 <= reraise <= MAX_FOR_SECONDS:
        raise BadRequest(
            f"min_reraise_seconds: expected 0 to {MAX_FOR_SECONDS}", field="min_reraise_seconds"
        )
    cap_category = body.get("cap_category", "Other")
    if cap_category not in CAP_CATEGORIES:
        raise BadRequest(
            f"cap_category: expected one of {', '.join(CAP_CATEGORIES)}", field="cap_category"
        )
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise BadRequest("enabled: expected true or false", field="enabled")
    fields: dict[str, Any] = {}
    if kind in ("threshold", "rate", "anomaly"):
        value = _number(body, "value", required=True)
        assert value is not None
        clear = _number(body, "clear_value")
        if kind == "anomaly":
            if value <= 0:
                raise BadRequest("value: a z-score above 0", field="value")
            operator = "gt"  # |z| above the level
            fields["window"] = _integer(body, "window", 30, 3, MAX_WINDOW)
            fields["min_samples"] = _integer(body, "min_samples", 10, 2, MAX_WINDOW)
        if clear is not None:
            # the clear level is reached after the trigger level on the way back
            upward = operator in ("gt", "ge")
            wrong = clear > value if upward else clear < value
            if wrong:
                side = "at or below" if upward else "at or above"
                raise BadRequest(
                    f"clear_value: must be {side} the trigger value {value:g} "
                    f"for operator {operator}",
                    field="clear_value",
                )
        escalation = _number(body, "escalation_value")
        if escalation is not None:
            further = escalation >= value if operator in ("gt", "ge") else escalation <= value
            if not further:
                raise BadRequest(
                    "escalation_value: must be beyond the trigger value", field="escalation_value"
                )
            to = body.get("escalation_severity", "critical")
            if to not in SEVERITIES or SEVERITIES.index(to) <= SEVERITIES.index(severity):
                raise BadRequest(
                    "escalation_severity: expected a severity above the rule's",
                    field="escalation_severity",
                )
            fields |= {"escalation_value": escalation, "escalation_severity": to}
        fields |= {"value": value, "clear_value": clear, "operator": operator}
    elif kind == "range":
        low, high = _number(body, "low", required=True), _number(body, "high", required=True)
        assert low is not None and high is not None
        if low >= high:
            raise BadRequest("high: must be above low", field="high")
        clear_low, clear_high = _number(body, "clear_low"), _number(body, "clear_high")
        if clear_low is not None and not low <= clear_low < high:
            raise BadRequest("clear_low: must be within [low, high)", field="clear_low")
        if clear_high is not None and not (clear_low or low) < clear_high <= high:
            raise BadRequest("clear_high: must be within (clear_low, high]", field="clear_high")
        fields |= {"low": low, "high": high, "clear_low": clear_low, "clear_high": clear_high}
    elif kind == "stale":
        minutes = _number(body, "minutes", required=True)
        assert minutes is not None
        if not 0 < minutes <= 7 * 24 * 60:
            raise BadRequest("minutes: expected more than 0, at most a week", field="minutes")
        fields["minutes"] = minutes
    else:  # composite
        combine = body.get("combine", "and")
        if combine not in ("and", "or"):
            raise BadRequest("combine: expected and or or", field="combine")
        ids = _ids(body.get("rule_ids"), "rule_ids")
        if rule_id and rule_id in ids:
            raise BadRequest("rule_ids: a composite rule cannot refer to itself", field="rule_ids")
        fields |= {"combine": combine, "rule_ids": ids}
    rule = Rule(
        id=rule_id,
        name=name.strip(),
        kind=kind,
        scope=_scope(body),
        severity=severity,
        for_seconds=for_seconds,
        min_reraise_seconds=reraise,
        schedule=_schedule(body.get("schedule")),
        incident_template=_template(body.get("incident_template")),
        cap_category=cap_category,
        enabled=enabled,
        **fields,
    )
    return Rule(**{**rule.__dict__, "body": rule_body(rule)})


def rule_body(rule: Rule) -> dict[str, Any]:
    """The rule as its API body (what is stored and what GET answers, without id)."""
    body: dict[str, Any] = {"name": rule.name, "kind": rule.kind, "severity": rule.severity}
    scope = rule.scope
    if scope.datastream_ids:
        body["datastream_ids"] = list(scope.datastream_ids)
    if scope.observed_property_id is not None:
        body["observed_property_id"] = scope.observed_property_id
    if scope.district is not None:
        body["district"] = scope.district
    if scope.polygon is not None:
        body["polygon"] = scope.polygon
    if rule.kind in ("threshold", "rate", "anomaly"):
        body |= {"operator": rule.operator, "value": rule.value, "clear_value": rule.clear_value}
        if rule.escalation_value is not None:
            body |= {
                "escalation_value": rule.escalation_value,
                "escalation_severity": rule.escalation_severity,
            }
        if rule.kind == "anomaly":
            body |= {"window": rule.window, "min_samples": rule.min_samples}
    elif rule.kind == "range":
        body |= {
            "low": rule.low,
            "high": rule.high,
            "clear_low": rule.clear_low,
            "clear_high": rule.clear_high,
        }
    elif rule.kind == "stale":
        body["minutes"] = rule.minutes
    elif rule.kind == "composite":
        body |= {"combine": rule.combine, "rule_ids": list(rule.rule_ids)}
    body["for_seconds"] = rule.for_seconds
    body["min_reraise_seconds"] = rule.min_reraise_seconds
    if rule.schedule is not None:
        s = rule.schedule
        body["schedule"] = {
            "days": list(s.days),
            "start": f"{s.start_minute // 60:02d}:{s.start_minute % 60:02d}",
            "end": f"{s.end_minute // 60:02d}:{s.end_minute % 60:02d}",
        }
    body["incident_template"] = rule.incident_template
    body["cap_category"] = rule.cap_category
    body["enabled"] = rule.enabled
    return body
