"""Python functions registered on every SQLite connection for what SQLite lacks: Unicode case,
floor/ceiling/fmod, time shifts and geometry (shapely: the GEOS PostGIS uses), so that queries
answer as on PostgreSQL. Bad input gives NULL, never an error."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache, wraps
from typing import Any, ParamSpec, TypeVar

import orjson
from shapely import wkt as shapely_wkt
from shapely.errors import GEOSException
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry, BaseMultipartGeometry
from shapely.geometry.linestring import LineString

from cityhelix.db.query_functions import SPATIAL_RELATIONS, sqlite_time_text

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: what bad stored or given values raise inside these functions; they become NULL
_BAD_VALUE = (
    ValueError,
    TypeError,
    OverflowError,
    KeyError,
    IndexError,
    AttributeError,
    GEOSException,
    orjson.JSONDecodeError,
)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_PATTERN = re.compile(r"[0-9TF*]{9}")


def _null_on_bad_value(function: Callable[_P, _R]) -> Callable[_P, _R | None]:
    """An exception inside a SQLite function aborts the statement; a bad value is NULL instead."""

    @wraps(function)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        try:
            return function(*args, **kwargs)
        except _BAD_VALUE:
            return None

    return wrapper


def _simple_case(text: str, upper: bool) -> str:
    # one character to one, as PostgreSQL's lower()/upper() do ('ß' stays 'ß')
    mapped = []
    for character in text:
        changed = character.upper() if upper else character.lower()
        mapped.append(changed if len(changed) == 1 else character)
    return "".join(mapped)


@_null_on_bad_value
def lower(text: str | None) -> str | None:
    return None if text is None else _simple_case(str(text), upper=False)


@_null_on_bad_value
def upper(text: str | None) -> str | None:
    return None if text is None else _simple_case(str(text), upper=True)


@_null_on_bad_value
def floor(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return float(math.floor(number)) if math.isfinite(number) else number


@_null_on_bad_value
def ceiling(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return float(math.ceil(number)) if math.isfinite(number) else number


@_null_on_bad_value
def fmod(dividend: float | None, divisor: float | None) -> float | None:
    if dividend is None or divisor is None or divisor == 0:
        return None
    return math.fmod(float(dividend), float(divisor))


@_null_on_bad_value
def time_shift(text: str | None, microseconds: int | None) -> str | None:
    """A stored time text moved by a number of microseconds, in the same fixed-width form."""
    if text is None or microseconds is None:
        return None
    moment = datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
    return sqlite_time_text(moment + timedelta(microseconds=microseconds))


@lru_cache(maxsize=4096)
def _geometry(text: str) -> BaseGeometry:
    """A geometry from GeoJSON text (stored columns) or WKT (query literals)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        document = orjson.loads(stripped)
        if isinstance(document, dict) and document.get("type") == "Feature":
            document = document.get("geometry")
        return shape(document)
    return shapely_wkt.loads(stripped)


def _pair(first: str | None, second: str | None) -> tuple[BaseGeometry, BaseGeometry] | None:
    if first is None or second is None:
        return None
    return _geometry(str(first)), _geometry(str(second))


@_null_on_bad_value
def spatial(relation: str, first: str | None, second: str | None) -> int | None:
    """1 or 0 for one of the named DE-9IM predicates, as PostGIS's ST_<Relation>."""
    if relation not in SPATIAL_RELATIONS:
        return None
    pair = _pair(first, second)
    if pair is None:
        return None
    return int(bool(getattr(pair[0], relation)(pair[1])))


@_null_on_bad_value
def relate(first: str | None, second: str | None, pattern: str | None) -> int | None:
    pair = _pair(first, second)
    if pair is None or pattern is None or not _PATTERN.fullmatch(pattern.upper()):
        return None
    return int(bool(pair[0].relate_pattern(pair[1], pattern.upper())))


@_null_on_bad_value
def distance(first: str | None, second: str | None) -> float | None:
    pair = _pair(first, second)
    if pair is None or pair[0].is_empty or pair[1].is_empty:
        return None
    return float(pair[0].distance(pair[1]))


def _linear_length(geometry: BaseGeometry) -> float:
    if isinstance(geometry, LineString):
        return float(geometry.length)
    if isinstance(geometry, BaseMultipartGeometry):
        return sum(_linear_length(part) for part in geometry.geoms)
    return 0.0


@_null_on_bad_value
def length(text: str | None) -> float | None:
    """Length of the linear parts only: PostGIS's ST_Length gives 0 for points and polygons."""
    if text is None:
        return None
    return _linear_length(_geometry(str(text)))


#: name, number of arguments, implementation
FUNCTIONS: tuple[tuple[str, int, Callable[..., Any]], ...] = (
    ("cityhelix_lower", 1, lower),
    ("cityhelix_upper", 1, upper),
    ("cityhelix_floor", 1, floor),
    ("cityhelix_ceiling", 1, ceiling),
    ("cityhelix_fmod", 2, fmod),
    ("cityhelix_time_shift", 2, time_shift),
    ("cityhelix_spatial", 3, spatial),
    ("cityhelix_relate", 3, relate),
    ("cityhelix_distance", 2, distance),
    ("cityhelix_length", 1, length),
)


def register_sqlite_functions(connection: Any) -> None:
    """Register FUNCTIONS on a DBAPI connection (sqlite3, or SQLAlchemy's aiosqlite adapter)."""
    for name, arity, function in FUNCTIONS:
        connection.create_function(name, arity, function, deterministic=True)
