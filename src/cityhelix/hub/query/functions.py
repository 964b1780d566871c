"""The built-in functions of SensorThings `$filter`/`$orderby`: string, date, math and geometry.

Each checks its arguments' types (a 400 names the argument) and compiles to portable SQL or to
a construct of `db.query_functions`; date parts of constants are folded here in Python.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from shapely import wkt as shapely_wkt
from shapely.errors import GEOSException
from sqlalchemy import ColumnElement, Float, Integer, Text, and_, case, cast, func, literal, null

from cityhelix.db.query_functions import (
    number_rounded,
    spatial_distance,
    spatial_length,
    spatial_relate,
    spatial_relation,
    spatial_within,
    text_lower,
    text_position,
    text_upper,
    time_part,
)
from cityhelix.hub.errors import BadQuery
from cityhelix.hub.query.expression import FunctionCall, to_text
from cityhelix.hub.query.operand import Operand, ValueType, as_type, constant, mismatch

if TYPE_CHECKING:
    from cityhelix.hub.query.filter_sql import OperandCompiler

_INT32_MAX = 2**31 - 1
_RELATE_PATTERN = re.compile(r"[0-9TF*]{9}", re.IGNORECASE)
_MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
_MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


class _Call:
    """One call being compiled: its compiled arguments and how to word errors about them."""

    def __init__(self, compiler: OperandCompiler, call: FunctionCall) -> None:
        self.compiler = compiler
        self.name = call.name
        self.text = to_text(call)
        self.args = [compiler.operand(argument) for argument in call.args]

    @property
    def where(self) -> str:
        return self.compiler.where

    def arg(self, index: int, value_type: ValueType, expected: str = "") -> Operand:
        return as_type(
            self.args[index],
            value_type,
            self.where,
            f"argument {index + 1} of {self.name}()",
            expected,
        )

    def wrong(self, index: int, expected: str) -> BadQuery:
        return mismatch(
            self.where, self.args[index], expected, f"argument {index + 1} of {self.name}()"
        )

    def result(
        self, value_type: ValueType, sql: ColumnElement[Any], *, integer: bool = False
    ) -> Operand:
        return Operand(value_type, self.text, sql, integer=integer)


def call_operand(compiler: OperandCompiler, call: FunctionCall) -> Operand:
    """Compile one function call (the parser has checked its name and argument count)."""
    return _FUNCTIONS[call.name](_Call(compiler, call))


# -- strings ------------------------------------------------------------------------------------


def _strings(call: _Call) -> list[ColumnElement[Any]]:
    return [call.arg(i, ValueType.STRING).expression for i in range(len(call.args))]


def _substringof(call: _Call) -> Operand:
    needle, haystack = _strings(call)
    return call.result(ValueType.BOOLEAN, text_position(haystack, needle) > 0)


def _contains(call: _Call) -> Operand:
    haystack, needle = _strings(call)
    return call.result(ValueType.BOOLEAN, text_position(haystack, needle) > 0)


def _startswith(call: _Call) -> Operand:
    text, prefix = _strings(call)
    return call.result(ValueType.BOOLEAN, func.substr(text, 1, _length(prefix)) == prefix)


def _endswith(call: _Call) -> Operand:
    text, suffix = _strings(call)
    tail = func.substr(text, _length(text) - _length(suffix) + 1)
    return call.result(ValueType.BOOLEAN, and_(_length(text) >= _length(suffix), tail == suffix))


def _length(text: ColumnElement[Any]) -> ColumnElement[int]:
    return func.length(text, type_=Integer())


def _length_of(call: _Call) -> Operand:
    (text,) = _strings(call)
    return call.result(ValueType.NUMBER, _length(text), integer=True)


def _indexof(call: _Call) -> Operand:
    """The 1-based position of the needle, 0 when absent: 18-088's own example
    (`indexof(description,'Sensor') eq 1` for "Sensor Things") and FROST-Server count so,
    though OData counts from 0; `substring` keeps OData's 0 (docs/sensorthings.md)."""
    text, needle = _strings(call)
    return call.result(ValueType.NUMBER, text_position(text, needle), integer=True)


def _position_argument(call: _Call, index: int) -> ColumnElement[Any]:
    """A 0-based index or a length: an integer, negatives read as 0 (as OData clamps)."""
    operand = call.arg(index, ValueType.NUMBER, "an integer")
    if not operand.integer and not (operand.constant and operand.value is None):
        raise call.wrong(index, "an integer")
    if operand.constant:
        if operand.value is None:
            return null()
        return literal(min(max(operand.value, 0), _INT32_MAX - 1), Integer())
    value = cast(operand.expression, Integer())
    return case((value < 0, 0), else_=value)


def _substring(call: _Call) -> Operand:
    text = call.arg(0, ValueType.STRING).expression
    start = _position_argument(call, 1) + 1  # OData counts from 0, SQL from 1
    if len(call.args) == 2:
        return call.result(ValueType.STRING, func.substr(text, start, type_=Text()))
    count = _position_argument(call, 2)
    return call.result(ValueType.STRING, func.substr(text, start, count, type_=Text()))


def _tolower(call: _Call) -> Operand:
    return call.result(ValueType.STRING, text_lower(*_strings(call)))


def _toupper(call: _Call) -> Operand:
    return call.result(ValueType.STRING, text_upper(*_strings(call)))


def _trim(call: _Call) -> Operand:
    (text,) = _strings(call)
    return call.result(ValueType.STRING, func.trim(text, type_=Text()))


def _concat(call: _Call) -> Operand:
    first, second = _strings(call)
    return call.result(ValueType.STRING, first.op("||", return_type=Text())(second))


# -- dates and times ----------------------------------------------------------------------------

_PART_TYPES: dict[str, ValueType] = {
    "date": ValueType.DATE,
    "time": ValueType.TIME,
    "fraction": ValueType.NUMBER,
}
# which argument types each part can be read from
_PART_SOURCES: dict[str, tuple[ValueType, ...]] = {
    "year": (ValueType.DATETIME, ValueType.DATE),
    "month": (ValueType.DATETIME, ValueType.DATE),
    "day": (ValueType.DATETIME, ValueType.DATE),
    "hour": (ValueType.DATETIME, ValueType.TIME),
    "minute": (ValueType.DATETIME, ValueType.TIME),
    "second": (ValueType.DATETIME, ValueType.TIME),
    "fraction": (ValueType.DATETIME, ValueType.TIME),
    "date": (ValueType.DATETIME,),
    "time": (ValueType.DATETIME,),
}
_SOURCE_NAMES = {ValueType.DATETIME: "datetime", ValueType.DATE: "date", ValueType.TIME: "time"}


def _python_part(value: datetime | date | time, part: str) -> Any:
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
    if part == "fraction":
        assert isinstance(value, datetime | time)
        return value.microsecond / 1_000_000
    if part == "date":
        assert isinstance(value, datetime)
        return value.date()
    if part == "time":
        assert isinstance(value, datetime)
        return value.time()
    return getattr(value, part)


def _time_part(part: str) -> Callable[[_Call], Operand]:
    sources = _PART_SOURCES[part]
    expected = " or ".join(source.value for source in sources)
    result_type = _PART_TYPES.get(part, ValueType.NUMBER)
    integer = result_type is ValueType.NUMBER and part != "fraction"

    def compile_part(call: _Call) -> Operand:
        operand = call.args[0]
        if operand.type is ValueType.NULL:
            return constant(None, result_type, call.text)
        if operand.type not in sources:
            raise call.wrong(0, expected)
        if operand.constant:
            moment = operand.value[0] if isinstance(operand.value, tuple) else operand.value
            value = _python_part(moment, part)
            return constant(value, result_type, call.text, integer=integer)
        sql = time_part(operand.expression, part, _SOURCE_NAMES[operand.type])
        return call.result(result_type, sql, integer=integer)

    return compile_part


def _totaloffsetminutes(call: _Call) -> Operand:
    operand = call.args[0]
    if operand.type is ValueType.NULL:
        return constant(None, ValueType.NUMBER, call.text, integer=True)
    if operand.type is not ValueType.DATETIME:
        raise call.wrong(0, ValueType.DATETIME.value)
    if operand.constant:
        moment = operand.value[0] if isinstance(operand.value, tuple) else operand.value
        offset = moment.utcoffset() or timedelta(0)
        return constant(offset // timedelta(minutes=1), ValueType.NUMBER, call.text, integer=True)
    # stored times are UTC: the offset is 0 wherever there is a time
    sql = case((operand.expression.is_(None), null()), else_=literal(0, Integer()))
    return call.result(ValueType.NUMBER, sql, integer=True)


def _now(call: _Call) -> Operand:
    return constant(call.compiler.now, ValueType.DATETIME, call.text)


def _mindatetime(call: _Call) -> Operand:
    return constant(_MIN_TIME, ValueType.DATETIME, call.text)


def _maxdatetime(call: _Call) -> Operand:
    return constant(_MAX_TIME, ValueType.DATETIME, call.text)


# -- numbers ------------------------------------------------------------------------------------


def _python_rounded(value: float, how: str) -> float:
    if not math.isfinite(value):
        return value
    if how == "floor":
        return float(math.floor(value))
    if how == "ceiling":
        return float(math.ceil(value))
    return math.copysign(math.floor(abs(value) + 0.5), value)  # half away from zero


def _rounding(how: str) -> Callable[[_Call], Operand]:
    def compile_rounding(call: _Call) -> Operand:
        operand = call.arg(0, ValueType.NUMBER)
        if operand.integer or (operand.constant and operand.value is None):
            return Operand(
                ValueType.NUMBER,
                call.text,
                operand.sql,
                constant=operand.constant,
                value=operand.value,
                integer=operand.integer,
            )
        if operand.constant:
            return constant(_python_rounded(float(operand.value), how), ValueType.NUMBER, call.text)
        return call.result(ValueType.NUMBER, number_rounded(operand.expression, how))

    return compile_rounding


# -- geometry -----------------------------------------------------------------------------------

# relations that imply the two bounding boxes overlap (so the boxes can pre-filter exactly)
_OVERLAPPING = frozenset({"intersects", "touches", "overlaps", "crosses", "equals"})


def _geometries(call: _Call, count: int) -> list[Operand]:
    return [call.arg(i, ValueType.GEOMETRY) for i in range(count)]


def _literal_bounds(operand: Operand) -> tuple[float, float, float, float] | None:
    if not operand.constant or operand.value is None:
        return None
    try:
        bounds = shapely_wkt.loads(operand.value).bounds
    except (GEOSException, ValueError):
        return None
    if len(bounds) != 4 or not all(math.isfinite(edge) for edge in bounds):
        return None  # an empty geometry has no box
    xmin, ymin, xmax, ymax = bounds
    return xmin, ymin, xmax, ymax


def _box_inside(inner: Any, outer: Any) -> ColumnElement[bool]:
    return and_(
        inner[0] >= outer[0], inner[1] >= outer[1], inner[2] <= outer[2], inner[3] <= outer[3]
    )


def _bounding_box_filter(
    relation: str, first: Operand, second: Operand
) -> ColumnElement[bool] | None:
    """A condition on the stored bounding box that every match satisfies (None: none exact).

    It lets SQLite skip most rows before the Python predicate runs, and costs PostGIS nothing.
    """
    for column, constant_side, column_first in ((first, second, True), (second, first, False)):
        bounds = _literal_bounds(constant_side)
        if column.bbox is None or bounds is None:
            continue
        box = column.bbox
        if relation in _OVERLAPPING:
            return and_(
                box[0] <= bounds[2], box[2] >= bounds[0], box[1] <= bounds[3], box[3] >= bounds[1]
            )
        if relation == "within":
            return _box_inside(box, bounds) if column_first else _box_inside(bounds, box)
        if relation == "contains":
            return _box_inside(bounds, box) if column_first else _box_inside(box, bounds)
    return None


def _relation(relation: str) -> Callable[[_Call], Operand]:
    def compile_relation(call: _Call) -> Operand:
        first, second = _geometries(call, 2)
        sql: ColumnElement[Any] = spatial_relation(first.expression, second.expression, relation)
        box = _bounding_box_filter(relation, first, second)
        if box is not None:
            sql = and_(box, sql)
        return call.result(ValueType.BOOLEAN, sql)

    return compile_relation


def _st_relate(call: _Call) -> Operand:
    first, second = _geometries(call, 2)
    pattern = call.args[2]
    if (
        pattern.type is not ValueType.STRING
        or not pattern.constant
        or not _RELATE_PATTERN.fullmatch(pattern.value)
    ):
        raise call.wrong(2, "a DE-9IM pattern string such as 'T*F**F***'")
    pattern_sql = literal(pattern.value.upper(), Text())
    return call.result(
        ValueType.BOOLEAN, spatial_relate(first.expression, second.expression, pattern_sql)
    )


def _distance(call: _Call) -> Operand:
    first, second = _geometries(call, 2)

    def within(limit: float) -> ColumnElement[bool]:
        """Rows at most `limit` apart, with the bounding box widened by it as a pre-filter."""
        condition = spatial_within(first.expression, second.expression, literal(limit, Float()))
        for column, other in ((first, second), (second, first)):
            bounds = _literal_bounds(other)
            if column.bbox is not None and bounds is not None:
                box = column.bbox
                xmin, ymin, xmax, ymax = bounds
                return and_(
                    box[0] <= xmax + limit,
                    box[2] >= xmin - limit,
                    box[1] <= ymax + limit,
                    box[3] >= ymin - limit,
                    condition,
                )
        return condition

    distance = spatial_distance(first.expression, second.expression)
    return Operand(ValueType.NUMBER, call.text, distance, within=within)


def _geo_length(call: _Call) -> Operand:
    (geometry,) = _geometries(call, 1)
    return call.result(ValueType.NUMBER, spatial_length(geometry.expression))


_FUNCTIONS: dict[str, Callable[[_Call], Operand]] = {
    "substringof": _substringof,
    "startswith": _startswith,
    "endswith": _endswith,
    "contains": _contains,
    "length": _length_of,
    "indexof": _indexof,
    "substring": _substring,
    "tolower": _tolower,
    "toupper": _toupper,
    "trim": _trim,
    "concat": _concat,
    "year": _time_part("year"),
    "month": _time_part("month"),
    "day": _time_part("day"),
    "hour": _time_part("hour"),
    "minute": _time_part("minute"),
    "second": _time_part("second"),
    "fractionalseconds": _time_part("fraction"),
    "date": _time_part("date"),
    "time": _time_part("time"),
    "totaloffsetminutes": _totaloffsetminutes,
    "now": _now,
    "mindatetime": _mindatetime,
    "maxdatetime": _maxdatetime,
    "round": _rounding("round"),
    "floor": _rounding("floor"),
    "ceiling": _rounding("ceiling"),
    "geo.distance": _distance,
    "geo.length": _geo_length,
    "geo.intersects": _relation("intersects"),
    "st_equals": _relation("equals"),
    "st_disjoint": _relation("disjoint"),
    "st_touches": _relation("touches"),
    "st_within": _relation("within"),
    "st_overlaps": _relation("overlaps"),
    "st_crosses": _relation("crosses"),
    "st_intersects": _relation("intersects"),
    "st_contains": _relation("contains"),
    "st_relate": _st_relate,
}
