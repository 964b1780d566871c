"""Reading JSON request bodies field by field: each reader names the field it refuses and
says what it expected, so a 400/422 answer tells the caller what to fix.

Bounded everywhere: strings by length, lists by count, numbers by range.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from cityhelix.helix.errors import BadRequest, Invalid

MAX_LIST = 500


def body_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("body: expected a JSON object", "body")
    return body


def unknown_fields(body: Mapping[str, Any], known: Collection[str], where: str = "") -> None:
    extra = sorted(set(body) - set(known))
    if extra:
        raise BadRequest(f"{where}{extra[0]}: unknown field", f"{where}{extra[0]}")


def text(
    body: Mapping[str, Any], name: str, *, required: bool = False, max_length: int = 300
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required", name)
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{name}: expected a non-empty string", name)
    if len(value) > max_length:
        raise BadRequest(f"{name}: at most {max_length} characters", name)
    return value.strip()


def required_text(body: Mapping[str, Any], name: str, *, max_length: int = 300) -> str:
    value = text(body, name, required=True, max_length=max_length)
    assert value is not None
    return value


def choice(
    body: Mapping[str, Any], name: str, allowed: Collection[str], *, required: bool = False
) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required, one of {', '.join(sorted(allowed))}", name)
        return None
    if value not in allowed:
        raise Invalid(f"{name}: expected one of {', '.join(sorted(allowed))}", name)
    return str(value)


def day(body: Mapping[str, Any], name: str, *, required: bool = False) -> date | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required, a date YYYY-MM-DD", name)
        return None
    return parse_day(value, name)


def parse_day(value: object, name: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise BadRequest(f"{name}: expected a date YYYY-MM-DD", name)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name}: expected a date YYYY-MM-DD, got {value!r}", name) from None


def number(
    body: Mapping[str, Any],
    name: str,
    *,
    required: bool = False,
    minimum: float = 0.0,
    maximum: float = 1e15,
) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required, a number", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name}: expected a number", name)
    if not minimum <= value <= maximum:
        raise Invalid(f"{name}: expected a number from {minimum:g} to {maximum:g}", name)
    return float(value)


def count(body: Mapping[str, Any], name: str, *, maximum: int = 1_000_000) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name}: expected a whole number", name)
    if not 0 <= value <= maximum:
        raise Invalid(f"{name}: expected a whole number from 0 to {maximum}", name)
    return value


def object_list(body: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadRequest(f"{name}: expected a list of objects", name)
    if len(value) > MAX_LIST:
        raise BadRequest(f"{name}: at most {MAX_LIST} items", name)
    return value


def identifier(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"{name}: expected a positive integer id", name)
    return value
