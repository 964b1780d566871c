"""Compile `$filter` and `$orderby` expression trees to SQLAlchemy Core, typed and bound.

Each sub-expression becomes an `Operand` of a known OData type; comparisons and arithmetic
check the types (a mismatch is a 400 naming the token), read JSON as the other side's type,
and follow OData's two-valued logic (`null eq null` is true, `not` of unknown is true).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    FromClause,
    and_,
    cast,
    false,
    func,
    not_,
    or_,
    true,
)

from cityhelix.db.query_functions import (
    geometry_of_document,
    number_remainder,
    text_ordered,
    time_shift,
)
from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import EntityType, Kind
from cityhelix.hub.query.expression import (
    ARITHMETIC_OPS,
    COMPARISON_OPS,
    BinaryOp,
    Expr,
    FunctionCall,
    Literal,
    Path,
    UnaryOp,
    to_text,
)
from cityhelix.hub.query.functions import call_operand
from cityhelix.hub.query.joins import JoinTree, MemberPath, paths_in, resolve_path
from cityhelix.hub.query.operand import (
    JsonPath,
    Operand,
    ResultValue,
    ValueType,
    as_type,
    constant,
    date_as_datetime,
    literal_operand,
    mismatch,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SQL_COMPARISON = {
    "eq": "__eq__",
    "gt": "__gt__",
    "ge": "__ge__",
    "lt": "__lt__",
    "le": "__le__",
}
_PYTHON_COMPARISON = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_JSON_READS = (ValueType.NUMBER, ValueType.STRING, ValueType.BOOLEAN)


def _boolean(sql: ColumnElement[Any], text: str) -> Operand:
    return Operand(ValueType.BOOLEAN, text, sql)


def _boolean_constant(value: bool, text: str) -> Operand:
    return Operand(
        ValueType.BOOLEAN, text, true() if value else false(), constant=True, value=value
    )


def known(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """`condition` with SQL's unknown (NULL) read as false, as OData has no third value."""
    return func.coalesce(condition, false())


class OperandCompiler:
    """Compiles the sub-expressions of one predicate; paths read from `scopes` by link chain."""

    def __init__(
        self,
        root_type: EntityType,
        scopes: dict[tuple[str, ...], FromClause],
        where: str,
        now: datetime,
    ) -> None:
        self.root_type = root_type
        self.scopes = scopes
        self.where = where
        self.now = now

    # -- dispatch ---------------------------------------------------------------------------

    def operand(self, expression: Expr) -> Operand:
        if isinstance(expression, Literal):
            return literal_operand(expression)
        if isinstance(expression, Path):
            return self.path(resolve_path(self.root_type, expression, self.where))
        if isinstance(expression, FunctionCall):
            return call_operand(self, expression)
        if isinstance(expression, UnaryOp):
            return self._unary(expression)
        return self._binary(expression)

    def condition(self, expression: Expr) -> ColumnElement[bool]:
        """`expression` as a SQL condition; it must be boolean (or JSON read as boolean)."""
        return self.condition_of(self.operand(expression))

    def condition_of(self, operand: Operand) -> ColumnElement[bool]:
        if operand.type is ValueType.NULL:
            return false()
        if operand.type is ValueType.BOOLEAN and operand.constant:
            return true() if operand.value else false()
        boolean = as_type(
            operand, ValueType.BOOLEAN, self.where, "a condition", "a boolean expression"
        )
        if operand.type is ValueType.JSON:
            return boolean.expression == true()
        return boolean.expression

    # -- paths ------------------------------------------------------------------------------

    def path(self, member: MemberPath) -> Operand:
        scope = self.scopes[member.chain_key]
        text = member.text
        prop = member.prop
        if prop is None:
            return Operand(ValueType.NUMBER, text, scope.c.id, integer=True, nullable=False)
        column = prop.column
        nullable = bool(member.chain) or prop.nullable
        if member.keys or prop.kind is Kind.JSON:
            document = scope.c.result_json if prop.kind is Kind.RESULT else scope.c[column]
            return Operand(ValueType.JSON, text, json=JsonPath(document, member.keys))
        if prop.kind is Kind.TEXT:
            return Operand(ValueType.STRING, text, scope.c[column], nullable=nullable)
        if prop.kind is Kind.INSTANT:
            return Operand(ValueType.DATETIME, text, scope.c[column], nullable=nullable)
        if prop.kind in (Kind.INTERVAL, Kind.INSTANT_OR_INTERVAL):
            start = scope.c[f"{column}_start"]
            end: ColumnElement[Any] = scope.c[f"{column}_end"]
            open_end = None
            if prop.kind is Kind.INSTANT_OR_INTERVAL:
                open_end, end = end, func.coalesce(end, start)
            return Operand(
                ValueType.DATETIME, text, start, end, nullable=nullable, open_end=open_end
            )
        if prop.kind is Kind.RESULT:
            return Operand(ValueType.JSON, text, json=ResultValue(scope))
        # GEOMETRY: the backend's geometry column and bounding box, or the GeoJSON itself
        if f"{column}_geom" in scope.c:
            bbox = tuple(scope.c[f"{column}_{edge}"] for edge in ("xmin", "ymin", "xmax", "ymax"))
            return Operand(ValueType.GEOMETRY, text, scope.c[f"{column}_geom"], bbox=bbox)
        return Operand(ValueType.GEOMETRY, text, geometry_of_document(scope.c[column]))

    # -- operators --------------------------------------------------------------------------

    def _unary(self, expression: UnaryOp) -> Operand:
        text = to_text(expression)
        inner = self.operand(expression.operand)
        if expression.op == "not":
            if inner.type is ValueType.BOOLEAN and inner.constant:
                return _boolean_constant(not inner.value, text)
            return _boolean(not_(known(self.condition_of(inner))), text)
        if inner.type is ValueType.DURATION and inner.constant:
            return constant(-inner.value, ValueType.DURATION, text)
        number = as_type(inner, ValueType.NUMBER, self.where, "'-'")
        if number.constant:
            if number.value is None:
                return number
            return _number_constant(-number.value, number.integer, text, self.where)
        return replace(
            number, text=text, sql=-number.expression, constant=False, value=None, within=None
        )

    def _binary(self, expression: BinaryOp) -> Operand:
        text = to_text(expression)
        op = expression.op
        left, right = self.operand(expression.left), self.operand(expression.right)
        if op in ("and", "or"):
            conditions = (self.condition_of(left), self.condition_of(right))
            return _boolean(and_(*conditions) if op == "and" else or_(*conditions), text)
        if op in COMPARISON_OPS:
            return self.compare(op, left, right, text)
        assert op in ARITHMETIC_OPS
        return self._arithmetic(op, left, right, text)

    # -- comparison -------------------------------------------------------------------------

    def compare(self, op: str, left: Operand, right: Operand, text: str) -> Operand:
        if left.type is ValueType.NULL or right.type is ValueType.NULL:
            return self._compare_null(op, left, right, text)
        if left.type is ValueType.JSON and right.type is ValueType.JSON:
            return self._compare_json(op, left, right, text)
        if left.type is ValueType.JSON:
            left = self._json_as(left, right, text)
        elif right.type is ValueType.JSON:
            right = self._json_as(right, left, text)
        if left.type is ValueType.DATE and right.type is ValueType.DATETIME and left.constant:
            left = date_as_datetime(left)
        if right.type is ValueType.DATE and left.type is ValueType.DATETIME and right.constant:
            right = date_as_datetime(right)
        if left.type is not right.type:
            raise self._cannot_compare(left, right, text)
        value_type = left.type
        if left.constant and right.constant and value_type is ValueType.DURATION:
            return _boolean_constant(_PYTHON_COMPARISON[op](left.value, right.value), text)
        if value_type in (ValueType.GEOMETRY, ValueType.DURATION):
            raise BadQuery(
                f"{self.where}: cannot compare '{left.text}' and '{right.text}' with {op} "
                f"({value_type.value}); use st_equals or geo.distance for geometries",
                token=text,
            )
        if value_type is ValueType.DATETIME:
            return _boolean(_compare_times(op, left, right), text)
        first, second = left.expression, right.expression
        near = _within(op, left, right)
        if near is not None:
            return _boolean(and_(near, _compare_values(op, first, second, both=False)), text)
        if value_type is ValueType.STRING and op not in ("eq", "ne"):
            first, second = text_ordered(first), text_ordered(second)
        return _boolean(
            _compare_values(op, first, second, both=not (left.constant or right.constant)), text
        )

    def _json_as(self, json: Operand, other: Operand, text: str) -> Operand:
        if other.type not in _JSON_READS:
            raise self._cannot_compare(json, other, text)
        return as_type(json, other.type, self.where, "a comparison")

    def _cannot_compare(self, left: Operand, right: Operand, text: str) -> BadQuery:
        return BadQuery(
            f"{self.where}: cannot compare '{left.text}' ({left.type.value}) with "
            f"'{right.text}' ({right.type.value})",
            token=text,
        )

    def _compare_null(self, op: str, left: Operand, right: Operand, text: str) -> Operand:
        other = right if left.type is ValueType.NULL else left
        if other.type is ValueType.NULL:
            return _boolean_constant(op in ("eq", "ge", "le"), text)
        if op not in ("eq", "ne"):
            return _boolean_constant(False, text)  # null is not ordered against anything
        missing = self.is_null(other)
        return _boolean(missing if op == "eq" else not_(missing), text)

    def is_null(self, operand: Operand) -> ColumnElement[bool]:
        if operand.json is not None:
            return operand.json.is_null()
        if operand.constant:
            return true() if operand.value is None else false()
        return operand.expression.is_(None)

    def _compare_json(self, op: str, left: Operand, right: Operand, text: str) -> Operand:
        # both sides typed per row: compare where both are numbers, or strings, or booleans
        assert left.json is not None and right.json is not None
        equal_op = "eq" if op == "ne" else op
        comparisons = []
        for value_type in _JSON_READS:
            first, second = left.json.typed(value_type), right.json.typed(value_type)
            if value_type is ValueType.STRING and equal_op != "eq":
                first, second = text_ordered(first), text_ordered(second)
            comparisons.append(getattr(first, _SQL_COMPARISON[equal_op])(second))
        matched = func.coalesce(*comparisons)
        return _boolean(not_(known(matched)) if op == "ne" else matched, text)

    # -- arithmetic -------------------------------------------------------------------------

    def _arithmetic(self, op: str, left: Operand, right: Operand, text: str) -> Operand:
        if ValueType.DURATION in (left.type, right.type) or (
            left.type is ValueType.DATETIME and right.type is ValueType.DATETIME
        ):
            return self._time_arithmetic(op, left, right, text)
        context = f"'{op}'"
        left = as_type(left, ValueType.NUMBER, self.where, context)
        right = as_type(right, ValueType.NUMBER, self.where, context)
        integer = left.integer and right.integer
        if left.constant and right.constant:
            if left.value is None or right.value is None:
                return constant(None, ValueType.NUMBER, text)
            return _number_constant(
                _fold_number(op, left.value, right.value, integer), integer, text, self.where
            )
        first, second = left.expression, right.expression
        if op in ("add", "sub", "mul"):
            if not integer:
                first, second = cast(first, Float()), cast(second, Float())
            sql: ColumnElement[Any] = {
                "add": first + second,
                "sub": first - second,
                "mul": first * second,
            }[op]
        elif op == "div":
            if integer:
                sql = first // func.nullif(second, 0)
            else:
                sql = cast(first, Float()) / func.nullif(cast(second, Float()), 0)
        elif integer:
            sql = first % func.nullif(second, 0)
        else:
            sql = number_remainder(first, second)
        return Operand(ValueType.NUMBER, text, sql, integer=integer)

    def _time_arithmetic(self, op: str, left: Operand, right: Operand, text: str) -> Operand:
        if left.type is ValueType.DATE and left.constant:
            left = date_as_datetime(left)
        types = (left.type, right.type)
        both_durations = types == (ValueType.DURATION, ValueType.DURATION)
        if both_durations and op in ("add", "sub") and left.constant and right.constant:
            total = left.value + right.value if op == "add" else left.value - right.value
            return constant(total, ValueType.DURATION, text)
        if op == "add" and types == (ValueType.DURATION, ValueType.DATETIME):
            left, right = right, left
            types = (left.type, right.type)
        if types == (ValueType.DATETIME, ValueType.DURATION) and op in ("add", "sub"):
            delta: timedelta = right.value if op == "add" else -right.value
            return self._shifted(left, delta, text)
        if types == (ValueType.DATETIME, ValueType.DATETIME) and op == "sub":
            if left.constant and right.constant:
                return constant(_start(left.value) - _start(right.value), ValueType.DURATION, text)
            raise BadQuery(
                f"{self.where}: '{text}': the difference of two stored times is not supported, "
                "compare the times instead (e.g. resultTime gt phenomenonTime add duration'PT1H')",
                token=text,
            )
        raise BadQuery(
            f"{self.where}: cannot {op} '{left.text}' ({left.type.value}) and "
            f"'{right.text}' ({right.type.value})",
            token=text,
        )

    def _shifted(self, moment: Operand, delta: timedelta, text: str) -> Operand:
        if moment.constant:
            if moment.value is None:
                return moment
            try:
                if isinstance(moment.value, tuple):
                    start, end = moment.value
                    return constant((start + delta, end + delta), ValueType.DATETIME, text)
                return constant(moment.value + delta, ValueType.DATETIME, text)
            except OverflowError:
                raise BadQuery(
                    f"{self.where}: '{text}' is outside the years 1 to 9999", token=text
                ) from None
        end = None if moment.end is None else time_shift(moment.end, delta)
        return Operand(ValueType.DATETIME, text, time_shift(moment.expression, delta), end)


def _start(value: Any) -> datetime:
    start: datetime = value[0] if isinstance(value, tuple) else value
    return start


def _compare_values(
    op: str, first: ColumnElement[Any], second: ColumnElement[Any], *, both: bool
) -> ColumnElement[bool]:
    if op == "eq":
        # two stored values: null eq null is true in OData; a constant side keeps `=` (indexes)
        return first.is_not_distinct_from(second) if both else first == second
    if op == "ne":
        return first.is_distinct_from(second)
    result: ColumnElement[bool] = getattr(first, _SQL_COMPARISON[op])(second)
    return result


def _within(op: str, left: Operand, right: Operand) -> ColumnElement[bool] | None:
    """For `geo.distance(a, b) lt x` (or `le`): the condition the spatial index serves,
    which every row the comparison keeps also meets."""
    if op not in ("lt", "le") or left.within is None or not right.constant:
        return None
    if not isinstance(right.value, int | float) or not math.isfinite(right.value):
        return None
    return left.within(float(right.value))


def _compare_times(op: str, left: Operand, right: Operand) -> ColumnElement[bool]:
    """Times that may be intervals.

    18-088 (clause 9.3.3.5.1, Table 24) defines the comparison operators on instants only and
    is silent on intervals; we follow the reference implementation, FROST-Server (its
    StaTimeIntervalWrapper): `lt` means the interval ends no later than the other starts (and
    starts before it), `gt` that it starts no earlier than the other ends (and after its
    start), `le`/`ge` compare both ends the same way, `eq` needs both ends equal, `ne` is its
    negation. An instant is the interval [t, t], so instants compare as plain times.
    """
    s1, s2 = left.expression, right.expression
    if left.end is None and right.end is None:
        return _compare_values(op, s1, s2, both=not (left.constant or right.constant))
    e1 = left.end if left.end is not None else s1
    e2 = right.end if right.end is not None else s2

    def ends(compare: Callable[[Any, Any], ColumnElement[bool]]) -> ColumnElement[bool]:
        """compare(e1, e2), each caller having compared the starts the same way already."""
        if right.end is None and left.open_end is not None:
            return _open_end(left, lambda end: compare(end, s2))
        if left.end is None and right.open_end is not None:
            return _open_end(right, lambda end: compare(s1, end))
        return compare(e1, e2)

    if op == "eq":
        return and_(s1 == s2, ends(operator.eq))
    if op == "ne":
        return not_(known(and_(s1 == s2, ends(operator.eq))))
    if op == "gt":
        return and_(s1 > s2, _open_end(right, lambda end: s1 >= end))
    if op == "ge":
        return and_(s1 >= s2, ends(operator.ge))
    if op == "lt":
        return and_(_open_end(left, lambda end: end <= s2), s1 < s2)
    return and_(s1 <= s2, ends(operator.le))


def _open_end(
    operand: Operand, compare: Callable[[ColumnElement[Any]], ColumnElement[bool]]
) -> ColumnElement[bool]:
    """compare(end of `operand`), where an instant's end is its start and the caller has
    compared that start so that the instant passes this test too.

    `end IS NULL OR compare(end)` says the same as compare(coalesce(end, start)) then, and
    PostgreSQL can estimate it from the column's statistics; it cannot estimate the
    coalesce, guesses a third of the rows for each such test, and then prefers reading the
    whole time window and sorting it to walking the index in order (query b, BENCHMARKS.md).
    """
    if operand.open_end is None:
        return compare(operand.end if operand.end is not None else operand.expression)
    return or_(operand.open_end.is_(None), compare(operand.open_end))


def _fold_number(op: str, a: Any, b: Any, integer: bool) -> Any:
    """Constant arithmetic with the database's semantics (integer division truncates)."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if b == 0:
        return None
    if op == "div":
        if integer:
            quotient = abs(a) // abs(b)
            return quotient if (a >= 0) == (b >= 0) else -quotient
        return a / b
    if integer:
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    return math.fmod(a, b)


def _number_constant(value: Any, integer: bool, text: str, where: str) -> Operand:
    if value is None:
        return constant(None, ValueType.NUMBER, text)
    if integer and not INT64_MIN <= value <= INT64_MAX:
        value, integer = float(value), False
    if isinstance(value, float) and math.isinf(value) and integer:
        raise BadQuery(f"{where}: '{text}' overflows", token=text)
    return constant(value, ValueType.NUMBER, text, integer=integer)


class ExpressionCompiler:
    """`$filter` and `$orderby` of one entity type, read from `root` (its table or an alias)."""

    def __init__(self, root_type: EntityType, root: FromClause, where: str) -> None:
        self.root_type = root_type
        self.root = root
        self.where = where
        self.now = datetime.now(UTC)

    def condition(self, expression: Expr) -> ColumnElement[bool]:
        """The filter as a condition; and/or/not are split so each predicate joins alone."""
        if isinstance(expression, BinaryOp) and expression.op in ("and", "or"):
            left, right = self.condition(expression.left), self.condition(expression.right)
            return and_(left, right) if expression.op == "and" else or_(left, right)
        if isinstance(expression, UnaryOp) and expression.op == "not":
            return not_(known(self.condition(expression.operand)))
        return self._predicate(expression)

    def _predicate(self, expression: Expr) -> ColumnElement[bool]:
        members = [resolve_path(self.root_type, p, self.where) for p in paths_in(expression)]
        chains = {member.chain for member in members if member.chain}
        tree = JoinTree(self.root, chains)
        compiler = OperandCompiler(self.root_type, tree.scopes, self.where, self.now)
        condition = compiler.condition(expression)
        if not chains:
            return condition
        reads_root = any(not member.chain for member in members)
        return tree.matching(condition, reads_root=reads_root)

    def sort_keys(self, expression: Expr) -> list[tuple[ColumnElement[Any], bool]]:
        """The SQL keys an `$orderby` expression sorts by, each with whether it may be null."""
        members = [resolve_path(self.root_type, p, self.where) for p in paths_in(expression)]
        for member in members:
            for navigation in member.chain:
                if navigation.to_many:
                    raise BadQuery(
                        f"{self.where}: cannot order by '{member.text}': {navigation.name} "
                        "links to many entities",
                        token=member.text,
                    )
        chains = {member.chain for member in members if member.chain}
        tree = JoinTree(self.root, chains)
        compiler = OperandCompiler(self.root_type, tree.scopes, self.where, self.now)
        operand = compiler.operand(expression)
        keys = _sort_columns(operand, self.where)
        if not chains:
            return keys
        return [(tree.value(key), True) for key, _ in keys]


def _sort_columns(operand: Operand, where: str) -> list[tuple[ColumnElement[Any], bool]]:
    if operand.constant:
        return []  # the same for every row: no effect on the order
    if operand.type is ValueType.JSON:
        assert operand.json is not None
        return [
            (operand.json.typed(ValueType.NUMBER), True),
            (text_ordered(operand.json.typed(ValueType.STRING)), True),
        ]
    if operand.type in (ValueType.GEOMETRY, ValueType.DURATION):
        raise mismatch(where, operand, "a value that can be ordered", "$orderby")
    if operand.type is ValueType.STRING:
        return [(text_ordered(operand.expression), operand.nullable)]
    return [(operand.expression, operand.nullable)]
