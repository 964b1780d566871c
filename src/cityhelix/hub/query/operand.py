"""Typed SQL values of the query compiler: each `$filter`/`$orderby` sub-expression becomes an
`Operand` that knows its OData type, so mismatches are 400s and JSON compares by type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from enum import Enum
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    String,
    and_,
    literal,
    null,
    or_,
)

from cityhelix.db.query_functions import (
    TimeOfDay,
    UtcDate,
    UtcTimeLiteral,
    geometry_literal,
    json_kind,
    json_value,
)
from cityhelix.hub.errors import BadQuery
from cityhelix.hub.query.expression import Literal, LiteralType, literal_text


class ValueType(Enum):
    """The OData type of an operand; the value is how messages name it."""

    STRING = "a string"
    NUMBER = "a number"
    BOOLEAN = "a boolean"
    DATETIME = "a time"
    DATE = "a date"
    TIME = "a time of day"
    DURATION = "a duration"
    GEOMETRY = "a geometry"
    JSON = "a JSON value"
    NULL = "null"


_JSON_KINDS = {ValueType.NUMBER: "number", ValueType.STRING: "string", ValueType.BOOLEAN: "boolean"}


class JsonSource(Protocol):
    """A value whose type is only known per row: a JSON member or an Observation's result."""

    def typed(self, value_type: ValueType) -> ColumnElement[Any]:
        """The value where it is of `value_type` (STRING, NUMBER or BOOLEAN), else NULL."""

    def is_null(self) -> ColumnElement[bool]:
        """The value is missing or JSON null."""


@dataclass(frozen=True)
class JsonPath:
    """The member at `keys` inside a JSON column (no keys: the whole document)."""

    document: ColumnElement[Any]
    keys: tuple[str, ...]

    def typed(self, value_type: ValueType) -> ColumnElement[Any]:
        return json_value(self.document, self.keys, _JSON_KINDS[value_type])

    def is_null(self) -> ColumnElement[bool]:
        kind = json_kind(self.document, self.keys)
        return or_(kind.is_(None), kind == "null")


@dataclass(frozen=True)
class ResultValue:
    """An Observation's `result`: numbers in `result_number`, strings in `result_string`,
    anything else in `result_json` (see `values.result_columns`)."""

    scope: FromClause

    def typed(self, value_type: ValueType) -> ColumnElement[Any]:
        if value_type is ValueType.NUMBER:
            return self.scope.c.result_number
        if value_type is ValueType.STRING:
            return self.scope.c.result_string
        return json_value(self.scope.c.result_json, (), "boolean")

    def is_null(self) -> ColumnElement[bool]:
        return and_(
            self.scope.c.result_number.is_(None),
            self.scope.c.result_string.is_(None),
            JsonPath(self.scope.c.result_json, ()).is_null(),
        )


@dataclass(frozen=True)
class Operand:
    """One compiled sub-expression.

    `sql` is the value (for a time interval its start, with `end` its end; `end` None means an
    instant). Constants keep their Python `value` for folding; geometry columns carry their
    bounding box columns (xmin, ymin, xmax, ymax) for exact pre-filters.
    """

    type: ValueType
    text: str
    sql: ColumnElement[Any] | None = None
    end: ColumnElement[Any] | None = None
    constant: bool = False
    value: Any = None
    integer: bool = False
    json: JsonSource | None = None
    bbox: tuple[ColumnElement[Any], ...] | None = None
    #: False only for columns that never hold NULL (sorting them needs no NULLS clause)
    nullable: bool = True
    #: for a column that holds an instant or an interval: its end column, NULL for an
    #: instant (`end` is then `coalesce(end, start)`)
    open_end: ColumnElement[Any] | None = None
    #: for geo.distance(a, b): the rows within a given distance, by a condition the spatial
    #: index (PostGIS) or the bounding box columns (SQLite) serve
    within: Callable[[float], ColumnElement[bool]] | None = None

    @property
    def expression(self) -> ColumnElement[Any]:
        """The SQL value; only DURATION constants have none (they fold away or are refused)."""
        if self.sql is None:
            raise BadQuery(
                f"'{self.text}' ({self.type.value}) cannot be used here", token=self.text
            )
        return self.sql


def mismatch(where: str, operand: Operand, expected: str, context: str) -> BadQuery:
    """The 400 for an operand of the wrong type, naming it and what fits."""
    return BadQuery(
        f"{where}: {context} needs {expected}, got '{operand.text}' ({operand.type.value})",
        token=operand.text,
    )


def constant(value: Any, value_type: ValueType, text: str, *, integer: bool = False) -> Operand:
    """An operand for a Python constant, bound through the type its columns compare with."""
    sql: ColumnElement[Any] | None
    end: ColumnElement[Any] | None = None
    if value is None:
        sql = null()
    elif value_type is ValueType.STRING:
        sql = literal(value, String())
    elif value_type is ValueType.NUMBER:
        sql = literal(value, BigInteger() if integer else Float())
    elif value_type is ValueType.BOOLEAN:
        sql = literal(value, Boolean())
    elif value_type is ValueType.DATETIME:
        if isinstance(value, tuple):
            sql = literal(value[0], UtcTimeLiteral())
            end = literal(value[1], UtcTimeLiteral())
        else:
            sql = literal(value, UtcTimeLiteral())
    elif value_type is ValueType.DATE:
        sql = literal(value, UtcDate())
    elif value_type is ValueType.TIME:
        sql = literal(value, TimeOfDay())
    elif value_type is ValueType.GEOMETRY:
        sql = geometry_literal(literal(value, String()))
    else:  # DURATION: folded into times in Python, never sent alone
        sql = None
    return Operand(value_type, text, sql, end, constant=True, value=value, integer=integer)


_LITERAL_TYPES = {
    LiteralType.STRING: ValueType.STRING,
    LiteralType.INTEGER: ValueType.NUMBER,
    LiteralType.DECIMAL: ValueType.NUMBER,
    LiteralType.BOOLEAN: ValueType.BOOLEAN,
    LiteralType.NULL: ValueType.NULL,
    LiteralType.DATETIME: ValueType.DATETIME,
    LiteralType.INTERVAL: ValueType.DATETIME,
    LiteralType.DATE: ValueType.DATE,
    LiteralType.TIME: ValueType.TIME,
    LiteralType.DURATION: ValueType.DURATION,
    LiteralType.GEOMETRY: ValueType.GEOMETRY,
}


def literal_operand(node: Literal) -> Operand:
    value_type = _LITERAL_TYPES[node.type]
    return constant(
        node.value,
        value_type,
        literal_text(node),
        integer=node.type is LiteralType.INTEGER,
    )


def typed_from_json(operand: Operand, value_type: ValueType) -> Operand:
    """A JSON operand read as `value_type` (rows where it is another JSON type give NULL)."""
    assert operand.json is not None
    return replace(operand, type=value_type, sql=operand.json.typed(value_type), json=None)


def as_type(
    operand: Operand, value_type: ValueType, where: str, context: str, expected: str = ""
) -> Operand:
    """`operand` as `value_type`: JSON is read as that type, null stays null, others are a 400."""
    if operand.type is value_type:
        return operand
    if operand.type is ValueType.JSON and value_type in _JSON_KINDS:
        return typed_from_json(operand, value_type)
    if operand.type is ValueType.NULL:
        return replace(operand, type=value_type)
    if value_type is ValueType.DATETIME and operand.type is ValueType.DATE and operand.constant:
        return date_as_datetime(operand)
    raise mismatch(where, operand, expected or value_type.value, context)


def date_as_datetime(operand: Operand) -> Operand:
    """A date constant as the instant its day starts in UTC."""
    day: date = operand.value
    moment = datetime.combine(day, time(0), tzinfo=UTC)
    return replace(constant(moment, ValueType.DATETIME, operand.text), text=operand.text)
