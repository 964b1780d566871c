"""SQL constructs of the SensorThings query language that differ between SQLite and PostgreSQL.

The hub's query compiler builds one expression with these; each renders per backend here
(JSON paths, UTC date parts, case mapping, geometry), so both answer every query alike.

A construct that compiles from attributes of its own (a JSON path, a date part) names them
in its `_traverse_internals`: they are then part of SQLAlchemy's cache key, and a statement
holding it is compiled once, not at every execution (without a key, SQLAlchemy cannot cache
the statement at all: `things_of_kind`, asked by the pillars' loops, compiled every time).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Integer,
    Interval,
    Numeric,
    String,
    Text,
    Time,
    bindparam,
    case,
    cast,
    collate,
    extract,
    func,
    literal_column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

from cityhelix.db.types import UtcDateTime


def has_lateral(dialect: Dialect) -> bool:
    """Whether the backend joins LATERAL subqueries: PostgreSQL does, SQLite does not."""
    return dialect.name == "postgresql"


# -- bind types for constants -------------------------------------------------------------------


class UtcTimeLiteral(TypeDecorator[datetime]):
    """An aware datetime bound like a `UtcDateTime` column value, zero-padded for every year."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(String(27))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return sqlite_time_text(value)


def sqlite_time_text(value: datetime) -> str:
    """The fixed-width UTC text SQLite stores times as (strftime drops zeros before year 1000)."""
    moment = value.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


class UtcDate(TypeDecorator[date]):
    """A calendar date: DATE on PostgreSQL, `YYYY-MM-DD` text on SQLite."""

    impl = Date
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Date())
        return dialect.type_descriptor(String(10))

    def process_bind_param(self, value: date | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


class TimeOfDay(TypeDecorator[time]):
    """A time of day: TIME on PostgreSQL, `HH:MM:SS.ffffff` text on SQLite."""

    impl = Time
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Time())
        return dialect.type_descriptor(String(15))

    def process_bind_param(self, value: time | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"


# -- JSON ---------------------------------------------------------------------------------------

JSON_KINDS = ("number", "string", "boolean")
_JSON_RESULT_TYPES: dict[str, TypeEngine[Any]] = {
    "number": Float(),
    "string": Text(),
    "boolean": Boolean(),
}


class json_value(FunctionElement[Any]):
    """The value at `keys` inside a JSON document when it is of `kind`, else NULL.

    Numbers compare as numbers and strings as strings; a value of another JSON type never
    raises (PostgreSQL would on a bad cast), it is simply not there.
    """

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("keys", InternalTraversal.dp_string_list),
        ("kind", InternalTraversal.dp_string),
    ]
    name = "json_value"

    def __init__(self, document: ColumnElement[Any], keys: tuple[str, ...], kind: str) -> None:
        if kind not in JSON_KINDS:
            raise ValueError(kind)
        self.keys = keys
        self.kind = kind
        self.type = _JSON_RESULT_TYPES[kind]
        super().__init__(document)


class json_kind(FunctionElement[str]):
    """The JSON type name of the value at `keys` ('null' for JSON null, NULL when missing)."""

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("keys", InternalTraversal.dp_string_list),
    ]
    name = "json_kind"
    type = Text()

    def __init__(self, document: ColumnElement[Any], keys: tuple[str, ...]) -> None:
        self.keys = keys
        super().__init__(document)


def _sqlite_json_path(keys: tuple[str, ...]) -> Any:
    # keys are identifiers (the parser allows word characters only); quoted for any of them
    return bindparam(None, "$" + "".join(f'."{key}"' for key in keys), type_=String())


def _postgresql_json_path(document: Any, keys: tuple[str, ...]) -> Any:
    expression = document
    for key in keys:
        expression = expression.op("->")(cast(bindparam(None, key, type_=String()), Text()))
    return expression


@compiles(json_value)
def _sqlite_json_value(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    document = next(iter(element.clauses))
    path = _sqlite_json_path(element.keys)
    kind = func.json_type(document, path)
    extracted = func.json_extract(document, path)
    if element.kind == "number":
        expression: Any = case((kind.in_(["integer", "real"]), extracted))
    elif element.kind == "string":
        expression = case((kind == "text", extracted))
    else:
        expression = case((kind == "true", 1), (kind == "false", 0))
    return str(compiler.process(expression, **kw))


@compiles(json_value, "postgresql")
def _postgresql_json_value(element: json_value, compiler: SQLCompiler, **kw: Any) -> str:
    value = _postgresql_json_path(next(iter(element.clauses)), element.keys)
    kind = func.jsonb_typeof(value)
    if element.kind == "number":
        expression: Any = case((kind == "number", cast(value, Float())))
    elif element.kind == "string":
        expression = case((kind == "string", value.op("#>>")(literal_column("'{}'"))))
    else:
        expression = case((kind == "boolean", cast(value, Boolean())))
    return str(compiler.process(expression, **kw))


@compiles(json_kind)
def _sqlite_json_kind(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    document = next(iter(element.clauses))
    return str(compiler.process(func.json_type(document, _sqlite_json_path(element.keys)), **kw))


@compiles(json_kind, "postgresql")
def _postgresql_json_kind(element: json_kind, compiler: SQLCompiler, **kw: Any) -> str:
    value = _postgresql_json_path(next(iter(element.clauses)), element.keys)
    return str(compiler.process(func.jsonb_typeof(value), **kw))


# -- text ---------------------------------------------------------------------------------------


class text_position(FunctionElement[int]):
    """1-based position of the second string in the first; 0 when it does not occur."""

    inherit_cache = True
    name = "text_position"
    type = Integer()


@compiles(text_position)
def _sqlite_text_position(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"instr({compiler.process(element.clauses, **kw)})"


@compiles(text_position, "postgresql")
def _postgresql_text_position(element: text_position, compiler: SQLCompiler, **kw: Any) -> str:
    return f"strpos({compiler.process(element.clauses, **kw)})"


class text_lower(FunctionElement[str]):
    """Unicode lower case (SQLite's own lower() maps ASCII only)."""

    inherit_cache = True
    name = "text_lower"
    type = Text()


class text_upper(FunctionElement[str]):
    """Unicode upper case, one character to one (as PostgreSQL does: 'ß' stays 'ß')."""

    inherit_cache = True
    name = "text_upper"
    type = Text()


@compiles(text_lower)
def _sqlite_lower(element: text_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_lower({compiler.process(element.clauses, **kw)})"


@compiles(text_upper)
def _sqlite_upper(element: text_upper, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_upper({compiler.process(element.clauses, **kw)})"


@compiles(text_lower, "postgresql")
def _postgresql_lower(element: text_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(text_upper, "postgresql")
def _postgresql_upper(element: text_upper, compiler: SQLCompiler, **kw: Any) -> str:
    return f"upper({compiler.process(element.clauses, **kw)})"


class text_ordered(FunctionElement[str]):
    """A string compared and sorted by code point, whatever the database's collation."""

    inherit_cache = True
    name = "text_ordered"
    type = Text()


@compiles(text_ordered)
def _sqlite_text_ordered(element: text_ordered, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))  # SQLite's BINARY collation already


@compiles(text_ordered, "postgresql")
def _postgresql_text_ordered(element: text_ordered, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(collate(next(iter(element.clauses)), "C"), **kw))


# -- time ---------------------------------------------------------------------------------------

TIME_PARTS = ("year", "month", "day", "hour", "minute", "second", "fraction", "date", "time")
TIME_SOURCES = ("datetime", "date", "time")

# where each part sits in SQLite's fixed-width texts: (first character, length)
_SQLITE_POSITIONS: dict[str, dict[str, tuple[int, int]]] = {
    # YYYY-MM-DDTHH:MM:SS.ffffffZ
    "datetime": {
        "year": (1, 4),
        "month": (6, 2),
        "day": (9, 2),
        "hour": (12, 2),
        "minute": (15, 2),
        "second": (18, 2),
        "fraction": (21, 6),
        "date": (1, 10),
        "time": (12, 15),
    },
    # YYYY-MM-DD
    "date": {"year": (1, 4), "month": (6, 2), "day": (9, 2)},
    # HH:MM:SS.ffffff
    "time": {"hour": (1, 2), "minute": (4, 2), "second": (7, 2), "fraction": (10, 6)},
}


def _part_type(part: str) -> TypeEngine[Any]:
    if part == "fraction":
        return Float()
    if part == "date":
        return UtcDate()
    if part == "time":
        return TimeOfDay()
    return Integer()


class time_part(FunctionElement[Any]):
    """A part of a time, date or time of day, read in UTC: year ... second, fraction (0 <= f < 1),
    date, time."""

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("part", InternalTraversal.dp_string),
        ("source", InternalTraversal.dp_string),
    ]
    name = "time_part"

    def __init__(self, value: ColumnElement[Any], part: str, source: str) -> None:
        if part not in _SQLITE_POSITIONS.get(source, {}):
            raise ValueError(f"{part} of {source}")
        self.part = part
        self.source = source
        self.type = _part_type(part)
        super().__init__(value)


@compiles(time_part)
def _sqlite_time_part(element: time_part, compiler: SQLCompiler, **kw: Any) -> str:
    value = next(iter(element.clauses))
    start, length = _SQLITE_POSITIONS[element.source][element.part]
    text = func.substr(value, start, length)
    if element.part in ("date", "time"):
        expression: Any = text
    elif element.part == "fraction":
        expression = cast(text, Integer()) / literal_column("1000000.0")
    else:
        expression = cast(text, Integer())
    return str(compiler.process(expression, **kw))


@compiles(time_part, "postgresql")
def _postgresql_time_part(element: time_part, compiler: SQLCompiler, **kw: Any) -> str:
    value: Any = next(iter(element.clauses))
    if element.source == "datetime":
        value = func.timezone("UTC", value)  # timestamptz -> UTC wall time, whatever the session
    part = element.part
    if part == "date":
        expression: Any = cast(value, Date())
    elif part == "time":
        expression = cast(value, Time())
    elif part == "fraction":
        micros = cast(extract("microseconds", value), BigInteger())
        expression = cast(func.mod(micros, 1000000), Float()) / literal_column("1000000.0")
    elif part == "second":
        expression = cast(func.floor(extract("second", value)), Integer())
    else:
        expression = cast(extract(part, value), Integer())
    return str(compiler.process(expression, **kw))


class time_shift(FunctionElement[datetime]):
    """A time moved by a duration; the result compares like a time column."""

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("delta", InternalTraversal.dp_plain_obj),
    ]
    name = "time_shift"

    def __init__(self, value: ColumnElement[Any], delta: timedelta) -> None:
        self.delta = delta
        self.type = UtcDateTime()
        super().__init__(value)


@compiles(time_shift)
def _sqlite_time_shift(element: time_shift, compiler: SQLCompiler, **kw: Any) -> str:
    micros = bindparam(None, element.delta // timedelta(microseconds=1), type_=Integer())
    value = next(iter(element.clauses))
    return str(compiler.process(func.cityhelix_time_shift(value, micros), **kw))


@compiles(time_shift, "postgresql")
def _postgresql_time_shift(element: time_shift, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(next(iter(element.clauses)), **kw)
    delta = compiler.process(bindparam(None, element.delta, type_=Interval()), **kw)
    return f"({value} + {delta})"


# -- numbers ------------------------------------------------------------------------------------

ROUNDINGS = ("round", "floor", "ceiling")


class number_rounded(FunctionElement[float]):
    """round (half away from zero, as OData says), floor or ceiling of a number."""

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("how", InternalTraversal.dp_string),
    ]
    name = "number_rounded"
    type = Float()

    def __init__(self, value: ColumnElement[Any], how: str) -> None:
        if how not in ROUNDINGS:
            raise ValueError(how)
        self.how = how
        super().__init__(value)


@compiles(number_rounded)
def _sqlite_rounded(element: number_rounded, compiler: SQLCompiler, **kw: Any) -> str:
    value = next(iter(element.clauses))
    if element.how == "round":
        expression: Any = func.round(value)
    else:
        expression = getattr(func, f"cityhelix_{element.how}")(value)
    return str(compiler.process(expression, **kw))


@compiles(number_rounded, "postgresql")
def _postgresql_rounded(element: number_rounded, compiler: SQLCompiler, **kw: Any) -> str:
    value = next(iter(element.clauses))
    if element.how == "round":
        # round(double precision) rounds half to even; round(numeric) away from zero
        expression: Any = cast(func.round(cast(value, Numeric())), Float())
    elif element.how == "floor":
        expression = func.floor(cast(value, Float()))
    else:
        expression = func.ceil(cast(value, Float()))
    return str(compiler.process(expression, **kw))


class number_remainder(FunctionElement[float]):
    """The remainder of a decimal division, with the sign of the dividend; NULL for x mod 0."""

    inherit_cache = True
    name = "number_remainder"
    type = Float()


@compiles(number_remainder)
def _sqlite_remainder(element: number_remainder, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_fmod({compiler.process(element.clauses, **kw)})"


@compiles(number_remainder, "postgresql")
def _postgresql_remainder(element: number_remainder, compiler: SQLCompiler, **kw: Any) -> str:
    dividend, divisor = list(element.clauses)
    expression = cast(
        func.mod(cast(dividend, Numeric()), cast(func.nullif(divisor, 0), Numeric())), Float()
    )
    return str(compiler.process(expression, **kw))


# -- geometry -----------------------------------------------------------------------------------

SPATIAL_RELATIONS = (
    "equals",
    "disjoint",
    "touches",
    "within",
    "overlaps",
    "crosses",
    "intersects",
    "contains",
)


class geometry_literal(FunctionElement[Any]):
    """A WKT constant in WGS 84 (SRID 4326) as the backend's geometry value."""

    inherit_cache = True
    name = "geometry_literal"
    type = Text()


@compiles(geometry_literal)
def _sqlite_geometry_literal(element: geometry_literal, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))  # the Python functions read WKT


@compiles(geometry_literal, "postgresql")
def _postgis_geometry_literal(element: geometry_literal, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_GeomFromText({compiler.process(element.clauses, **kw)}, 4326)"


class geometry_of_document(FunctionElement[Any]):
    """A GeoJSON document held in a JSON column, as the backend's geometry value."""

    inherit_cache = True
    name = "geometry_of_document"
    type = Text()


@compiles(geometry_of_document)
def _sqlite_geometry_of_document(
    element: geometry_of_document, compiler: SQLCompiler, **kw: Any
) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(geometry_of_document, "postgresql")
def _postgis_geometry_of_document(
    element: geometry_of_document, compiler: SQLCompiler, **kw: Any
) -> str:
    document = compiler.process(cast(next(iter(element.clauses)), Text()), **kw)
    return f"ST_SetSRID(ST_GeomFromGeoJSON({document}), 4326)"


class spatial_relation(FunctionElement[bool]):
    """One of the DE-9IM named predicates (SPATIAL_RELATIONS) between two geometries."""

    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("relation", InternalTraversal.dp_string),
    ]
    name = "spatial_relation"
    type = Boolean()

    def __init__(self, first: ColumnElement[Any], second: ColumnElement[Any], relation: str):
        if relation not in SPATIAL_RELATIONS:
            raise ValueError(relation)
        self.relation = relation
        super().__init__(first, second)


@compiles(spatial_relation)
def _sqlite_spatial_relation(element: spatial_relation, compiler: SQLCompiler, **kw: Any) -> str:
    relation = compiler.process(bindparam(None, element.relation, type_=String()), **kw)
    return f"cityhelix_spatial({relation}, {compiler.process(element.clauses, **kw)})"


@compiles(spatial_relation, "postgresql")
def _postgis_spatial_relation(element: spatial_relation, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_{element.relation.capitalize()}({compiler.process(element.clauses, **kw)})"


class spatial_relate(FunctionElement[bool]):
    """Whether two geometries' DE-9IM matrix matches a pattern such as 'T*F**F***'."""

    inherit_cache = True
    name = "spatial_relate"
    type = Boolean()


@compiles(spatial_relate)
def _sqlite_spatial_relate(element: spatial_relate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_relate({compiler.process(element.clauses, **kw)})"


@compiles(spatial_relate, "postgresql")
def _postgis_spatial_relate(element: spatial_relate, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_Relate({compiler.process(element.clauses, **kw)})"


class spatial_distance(FunctionElement[float]):
    """Planar distance between two geometries in their units (degrees for SRID 4326)."""

    inherit_cache = True
    name = "spatial_distance"
    type = Float()


@compiles(spatial_distance)
def _sqlite_spatial_distance(element: spatial_distance, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_distance({compiler.process(element.clauses, **kw)})"


@compiles(spatial_distance, "postgresql")
def _postgis_spatial_distance(element: spatial_distance, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_Distance({compiler.process(element.clauses, **kw)})"


class spatial_within(FunctionElement[bool]):
    """Whether two geometries lie within a distance of each other, in their units.

    On PostGIS `ST_DWithin`, which a GiST index on either geometry serves (`ST_Distance(a,
    b) < x` cannot use one).
    """

    inherit_cache = True
    name = "spatial_within"
    type = Boolean()


@compiles(spatial_within)
def _sqlite_spatial_within(element: spatial_within, compiler: SQLCompiler, **kw: Any) -> str:
    first, second, limit = (compiler.process(c, **kw) for c in element.clauses)
    return f"(cityhelix_distance({first}, {second}) <= {limit})"


@compiles(spatial_within, "postgresql")
def _postgis_spatial_within(element: spatial_within, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_DWithin({compiler.process(element.clauses, **kw)})"


class spatial_length(FunctionElement[float]):
    """Length of the linear parts of a geometry (0 for points and polygons, as PostGIS)."""

    inherit_cache = True
    name = "spatial_length"
    type = Float()


@compiles(spatial_length)
def _sqlite_spatial_length(element: spatial_length, compiler: SQLCompiler, **kw: Any) -> str:
    return f"cityhelix_length({compiler.process(element.clauses, **kw)})"


@compiles(spatial_length, "postgresql")
def _postgis_spatial_length(element: spatial_length, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_Length({compiler.process(element.clauses, **kw)})"
