"""SWE Common data records, as SensorThings Tasking uses them (OGC 17-079r1, OGC 08-094r1).

A TaskingCapability's `taskingParameters` is a `DataRecord` whose fields name what a Task
may carry (a Boolean switch, a Quantity or Count within its allowed intervals, a Category
or Text among its allowed tokens); a Task's `taskingParameters` is an object of values for
those fields. Both are checked here, and every refusal names the field. No I/O.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from cityhelix.hub.errors import BadRequest

#: the simple components a Tasking parameter may be, and the constraint each may carry
FIELD_TYPES = {
    "Boolean": None,
    "Count": "AllowedValues",
    "Quantity": "AllowedValues",
    "Text": "AllowedTokens",
    "Category": "AllowedTokens",
    "Time": None,
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _bad(where: str, field: str, message: str) -> BadRequest:
    return BadRequest(f"{where}: {message}", field=field)


def check_data_record(record: object, where: str, prop: str = "taskingParameters") -> None:
    """Refuse a `taskingParameters` that is not a SWE Common DataRecord of simple fields."""
    if not isinstance(record, dict):
        raise _bad(where, prop, f"{prop} must be a SWE Common DataRecord object")
    if record.get("type") != "DataRecord":
        raise _bad(where, f"{prop}/type", f'{prop}.type must be "DataRecord"')
    fields = record.get("field")
    if not isinstance(fields, list) or not fields:
        raise _bad(where, f"{prop}/field", f"{prop}.field must be a non-empty array of fields")
    seen: set[str] = set()
    for index, item in enumerate(fields):
        at = f"{prop}/field[{index}]"
        if not isinstance(item, dict):
            raise _bad(where, at, f"{at} must be an object")
        name = item.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _bad(where, f"{at}/name", f"{at}.name must be a name (letters, digits, _ . -)")
        if name in seen:
            raise _bad(where, f"{at}/name", f"{at}.name {name!r} is given twice")
        seen.add(name)
        kind = item.get("type")
        if kind not in FIELD_TYPES:
            raise _bad(
                where,
                f"{prop}/{name}/type",
                f"field {name!r}: type must be one of {', '.join(FIELD_TYPES)}, got {kind!r}",
            )
        _check_constraint(item, name, where, prop)


def _check_constraint(item: dict[str, Any], name: str, where: str, prop: str) -> None:
    constraint = item.get("constraint")
    if constraint is None:
        return
    at = f"{prop}/{name}/constraint"
    expected = FIELD_TYPES[item["type"]]
    if expected is None or not isinstance(constraint, dict):
        raise _bad(where, at, f"field {name!r}: a {item['type']} takes no such constraint")
    if constraint.get("type", expected) != expected:
        raise _bad(where, at, f"field {name!r}: its constraint must be {expected}")
    values = _allowed_values(constraint)
    if expected == "AllowedValues":
        intervals = _intervals(constraint)
        if values is None and intervals is None:
            raise _bad(where, at, f"field {name!r}: AllowedValues needs value or interval")
        if values is not None and not all(_is_number(v) for v in values):
            raise _bad(where, at, f"field {name!r}: allowed values must be numbers")
        for pair in intervals or []:
            if not (
                isinstance(pair, list)
                and len(pair) == 2
                and all(_is_number(v) for v in pair)
                and pair[0] <= pair[1]
            ):
                raise _bad(where, at, f"field {name!r}: an interval is [low, high] numbers")
        return
    pattern = constraint.get("pattern")
    if values is None and pattern is None:
        raise _bad(where, at, f"field {name!r}: AllowedTokens needs value or pattern")
    if values is not None and not all(isinstance(v, str) for v in values):
        raise _bad(where, at, f"field {name!r}: allowed tokens must be strings")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as error:
            raise _bad(where, at, f"field {name!r}: pattern is no regular expression") from error


def _allowed_values(constraint: dict[str, Any]) -> list[Any] | None:
    """The listed values (17-079r1's examples say `value`, SWE's JSON `values`)."""
    values = constraint.get("value", constraint.get("values"))
    return values if isinstance(values, list) else None


def _intervals(constraint: dict[str, Any]) -> list[Any] | None:
    intervals = constraint.get("interval", constraint.get("intervals"))
    return intervals if isinstance(intervals, list) else None


def _is_number(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_values(record: dict[str, Any], values: object, where: str) -> None:
    """Refuse Task parameters that do not fit the capability's DataRecord, naming the field.

    Every key must be a field of the record; every field not marked `optional` must be
    given; each value must be of its field's type and within its constraint.
    """
    prop = "taskingParameters"
    if not isinstance(values, dict):
        raise _bad(where, prop, f"{prop} must be an object of values by field name")
    fields = {item["name"]: item for item in record["field"]}
    for key in values:
        if key not in fields:
            raise _bad(
                where,
                f"{prop}/{key}",
                f"{prop}.{key} is not a parameter of the TaskingCapability; it takes "
                + ", ".join(fields),
            )
    for name, item in fields.items():
        if name not in values:
            if not item.get("optional", False):
                raise _bad(where, f"{prop}/{name}", f"{prop}.{name} is missing")
            continue
        _check_value(item, values[name], where, f"{prop}/{name}", f"{prop}.{name}")


def _check_value(item: dict[str, Any], value: object, where: str, field: str, label: str) -> None:
    kind = item["type"]
    constraint = item.get("constraint") or {}
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise _bad(where, field, f"{label} must be true or false")
        return
    if kind == "Time":
        if not isinstance(value, str):
            raise _bad(where, field, f"{label} must be an ISO 8601 time")
        try:
            datetime.fromisoformat(value)
        except ValueError as error:
            raise _bad(where, field, f"{label} must be an ISO 8601 time") from error
        return
    if kind in ("Count", "Quantity"):
        if not _is_number(value) or (kind == "Count" and not isinstance(value, int)):
            expected = "an integer" if kind == "Count" else "a number"
            raise _bad(where, field, f"{label} must be {expected}")
        assert isinstance(value, int | float)
        allowed = _allowed_values(constraint)
        intervals = _intervals(constraint)
        if allowed is None and intervals is None:
            return
        if allowed is not None and value in allowed:
            return
        if intervals is not None and any(low <= value <= high for low, high in intervals):
            return
        ranges = [f"{low}..{high}" for low, high in intervals or []]
        raise _bad(
            where,
            field,
            f"{label} = {value} is outside the allowed "
            + ", ".join(ranges + [str(v) for v in allowed or []]),
        )
    if not isinstance(value, str):
        raise _bad(where, field, f"{label} must be a string")
    tokens = _allowed_values(constraint)
    pattern = constraint.get("pattern")
    if tokens is not None and value in tokens:
        return
    if pattern is not None and re.fullmatch(str(pattern), value):
        return
    if tokens is None and pattern is None:
        return
    raise _bad(where, field, f"{label} = {value!r} is not one of {', '.join(tokens or [])}")
