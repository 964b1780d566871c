"""Syntax tree of SensorThings query options: frozen, hashable, fully typed dataclasses.

Built by `parser`/`options`, compiled by the storage layer; `to_text` prints it back canonically.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from cityhelix.hub.query.options import QueryOptions

__all__ = [
    "ARITHMETIC_OPS",
    "BINARY_OPS",
    "COMPARISON_OPS",
    "FUNCTION_ARITIES",
    "LOGICAL_OPS",
    "UNARY_OPS",
    "BinaryOp",
    "ExpandItem",
    "Expr",
    "FunctionCall",
    "Literal",
    "LiteralType",
    "LiteralValue",
    "OrderBy",
    "Path",
    "SelectItem",
    "UnaryOp",
    "to_text",
]

COMPARISON_OPS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
LOGICAL_OPS = frozenset({"and", "or"})
ARITHMETIC_OPS = frozenset({"add", "sub", "mul", "div", "mod"})
BINARY_OPS = COMPARISON_OPS | LOGICAL_OPS | ARITHMETIC_OPS
UNARY_OPS = frozenset({"not", "-"})

# Built-in functions of SensorThings 1.1 (OData 4.0 subset plus OGC geo functions), lower-case
# name -> the argument counts each accepts.
FUNCTION_ARITIES: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "substringof": (2,),
        "startswith": (2,),
        "endswith": (2,),
        "contains": (2,),
        "length": (1,),
        "indexof": (2,),
        "substring": (2, 3),
        "tolower": (1,),
        "toupper": (1,),
        "trim": (1,),
        "concat": (2,),
        "year": (1,),
        "month": (1,),
        "day": (1,),
        "hour": (1,),
        "minute": (1,),
        "second": (1,),
        "fractionalseconds": (1,),
        "date": (1,),
        "time": (1,),
        "totaloffsetminutes": (1,),
        "now": (0,),
        "mindatetime": (0,),
        "maxdatetime": (0,),
        "round": (1,),
        "floor": (1,),
        "ceiling": (1,),
        "geo.distance": (2,),
        "geo.length": (1,),
        "geo.intersects": (2,),
        "st_equals": (2,),
        "st_disjoint": (2,),
        "st_touches": (2,),
        "st_within": (2,),
        "st_overlaps": (2,),
        "st_crosses": (2,),
        "st_intersects": (2,),
        "st_contains": (2,),
        "st_relate": (3,),
    }
)


class LiteralType(Enum):
    """The kind of a literal; it fixes the Python type of `Literal.value`."""

    STRING = "string"  # str
    INTEGER = "integer"  # int (64-bit range)
    DECIMAL = "decimal"  # float
    BOOLEAN = "boolean"  # bool
    NULL = "null"  # None
    DATETIME = "datetime"  # timezone-aware datetime
    DATE = "date"  # date
    TIME = "time"  # naive time of day
    DURATION = "duration"  # timedelta
    INTERVAL = "interval"  # (start, end) aware datetimes, start <= end
    GEOMETRY = "geometry"  # WKT text (WGS 84), checked by shapely


LiteralValue: TypeAlias = (
    str | int | float | bool | datetime | date | time | timedelta | tuple[datetime, datetime] | None
)


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant: `'text'`, `3`, `2.5e3`, `true`, `null`, `2026-01-01T00:00:00Z`, ..."""

    value: LiteralValue
    type: LiteralType


@dataclass(frozen=True, slots=True)
class Path:
    """A member path such as `Datastream/Thing/name`, `result/pm25` or `@iot.id`."""

    segments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A built-in function call; `name` is lower-case and a key of FUNCTION_ARITIES."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class BinaryOp:
    """`left op right` with op one of BINARY_OPS (eq ... le, and, or, add ... mod)."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in BINARY_OPS:
            raise ValueError(f"unknown binary operator {self.op!r}")


@dataclass(frozen=True, slots=True)
class UnaryOp:
    """`not operand` or `-operand` (arithmetic negation)."""

    op: str
    operand: Expr

    def __post_init__(self) -> None:
        if self.op not in UNARY_OPS:
            raise ValueError(f"unknown unary operator {self.op!r}")


Expr: TypeAlias = Literal | Path | FunctionCall | BinaryOp | UnaryOp


@dataclass(frozen=True, slots=True)
class OrderBy:
    """One `$orderby` key: an expression and its direction."""

    expr: Expr
    descending: bool = False


@dataclass(frozen=True, slots=True)
class SelectItem:
    """One `$select` item: a property path; `('*',)` selects everything."""

    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExpandItem:
    """One `$expand` item; `options` (from the parentheses) apply to the last path segment."""

    path: tuple[str, ...]
    options: QueryOptions


# ---------------------------------------------------------------------------------------------
# Printing


def to_text(expr: Expr) -> str:
    """Print `expr` in canonical OData syntax; binary operations are fully parenthesised."""
    if isinstance(expr, Literal):
        return literal_text(expr)
    if isinstance(expr, Path):
        return "/".join(expr.segments)
    if isinstance(expr, FunctionCall):
        return f"{expr.name}({', '.join(to_text(arg) for arg in expr.args)})"
    if isinstance(expr, BinaryOp):
        return f"({to_text(expr.left)} {expr.op} {to_text(expr.right)})"
    inner = to_text(expr.operand)
    if expr.op == "not":
        return f"not {inner}"
    if isinstance(expr.operand, Literal):
        # `-3` would read back as the literal -3, and `-2026-01-01` would not read at all.
        return f"-({inner})"
    return f"-{inner}"


def literal_text(literal: Literal) -> str:
    """Print one literal as OData literal syntax."""
    value, kind = literal.value, literal.type
    if kind is LiteralType.STRING and isinstance(value, str):
        return _quote(value)
    if kind is LiteralType.BOOLEAN and isinstance(value, bool):
        return "true" if value else "false"
    if kind is LiteralType.INTEGER and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind is LiteralType.DECIMAL and isinstance(value, float):
        return _decimal_text(value)
    if kind is LiteralType.NULL and value is None:
        return "null"
    if kind is LiteralType.DATETIME and isinstance(value, datetime):
        return _datetime_text(value)
    if kind is LiteralType.DATE and isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if kind is LiteralType.TIME and isinstance(value, time):
        return value.isoformat()
    if kind is LiteralType.DURATION and isinstance(value, timedelta):
        return f"duration{_quote(_duration_text(value))}"
    if kind is LiteralType.INTERVAL and isinstance(value, tuple):
        start, end = value
        return f"{_datetime_text(start)}/{_datetime_text(end)}"
    if kind is LiteralType.GEOMETRY and isinstance(value, str):
        return f"geography{_quote(value)}"
    raise TypeError(f"literal value {value!r} does not match its type {kind.name}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _decimal_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = repr(value)  # always has '.', or 'e': reads back as a decimal, bit for bit
    return text if ("." in text or "e" in text) else text + ".0"


def _datetime_text(value: datetime) -> str:
    offset = value.utcoffset()
    if offset is None:
        raise TypeError(f"datetime literal {value!r} has no time-zone offset")
    if offset % timedelta(minutes=1):
        # OData offsets are whole minutes; keep the instant, show it in UTC.
        value, offset = value.astimezone(UTC), timedelta(0)
    text = value.isoformat()
    return text[:-6] + "Z" if offset == timedelta(0) else text


def _duration_text(value: timedelta) -> str:
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    day_part = f"{value.days}D" if value.days else ""
    time_part = ""
    if hours:
        time_part += f"{hours}H"
    if minutes:
        time_part += f"{minutes}M"
    if value.microseconds:
        time_part += f"{seconds}.{value.microseconds:06d}".rstrip("0") + "S"
    elif seconds or not (day_part or time_part):
        time_part += f"{seconds}S"
    return f"{sign}P{day_part}" + (f"T{time_part}" if time_part else "")
