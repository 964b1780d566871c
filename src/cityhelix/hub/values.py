"""Property values between the wire (JSON) and the columns, one codec per `model.Kind`.

Parsing is where bad input is caught: each error names the property and what was
expected. Times go out in UTC with a `Z`, intervals as `start/end` (ISO 8601).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import orjson
from shapely.errors import GEOSException
from shapely.geometry import shape

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import Kind, Property
from cityhelix.hub.tables import RESULT_FLOAT, RESULT_INTEGER, RESULT_JSON, RESULT_STRING

GEOJSON_ENCODINGS = frozenset({"application/geo+json", "application/vnd.geo+json"})
_GEOJSON_TYPES = frozenset(
    {
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
        "Feature",
    }
)
#: JSON integers beyond this lose precision as floats; they are kept as JSON instead
_EXACT_FLOAT_LIMIT = 2**53
#: the instants the hub stores, [EARLIEST_TIME, LATEST_TIME): every one of them is held
#: exactly by both databases and falls in a month the PostgreSQL partitions can name. The
#: edges of Python's range are not: asyncpg writes 0001-01-01T00:00:00 as -infinity and
#: 9999-12-31T23:59:59.999999 as infinity, a month partition of 9999-12 would need an upper
#: bound in year 10000, and an offset that crosses either edge cannot even be converted to UTC
EARLIEST_TIME = datetime(1, 1, 2, tzinfo=UTC)
LATEST_TIME = datetime(9999, 12, 1, tzinfo=UTC)
#: the deepest JSON value (objects and arrays within each other) a body may hold: the JSON
#: writer refuses documents past 255 levels, and what is accepted must be readable with its
#: envelope and expansions around it (`MAX_EXPAND_DEPTH` levels of $expand add two each)
MAX_JSON_DEPTH = 64


def parse_time(text: object, field: str) -> datetime:
    """An ISO 8601 instant with a time zone offset, as an aware datetime."""
    if not isinstance(text, str):
        raise BadRequest(
            f"{field}: expected an ISO 8601 time string, got {_kind(text)}", field=field
        )
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadRequest(
            f"{field}: {text!r} is not an ISO 8601 time (e.g. 2026-01-31T08:00:00Z)", field=field
        ) from None
    if value.tzinfo is None:
        raise BadRequest(f"{field}: {text!r} has no time zone offset; add Z or +hh:mm", field=field)
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(text, field) from None
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise _out_of_range(text, field)
    return value


def _out_of_range(text: str, field: str) -> BadRequest:
    return BadRequest(
        f"{field}: {text!r} is outside the times the hub stores, from "
        f"{format_time(EARLIEST_TIME)} to before {format_time(LATEST_TIME)}",
        field=field,
    )


def in_stored_range(value: datetime) -> bool:
    """Whether an aware instant lies in [EARLIEST_TIME, LATEST_TIME) (see there)."""
    return EARLIEST_TIME <= value < LATEST_TIME


def quick_instant(text: object) -> datetime | None:
    """`parse_time`'s answer for a plain well-formed instant, else None (and no error).

    The DataArray fast path decodes thousands of times a request with this and sends
    anything it declines through `parse_time`, which gives the error message.
    """
    if type(text) is not str or "/" in text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None or not EARLIEST_TIME <= value < LATEST_TIME:
        return None  # `parse_time` names the problem (and converts offsets near the edges)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def parse_interval(text: object, field: str) -> tuple[datetime, datetime]:
    """An ISO 8601 interval `start/end` with start <= end."""
    if not isinstance(text, str) or text.count("/") != 1:
        raise BadRequest(
            f"{field}: expected an ISO 8601 interval 'start/end', got {text!r}", field=field
        )
    start_text, end_text = text.split("/")
    start, end = parse_time(start_text, field), parse_time(end_text, field)
    if end < start:
        raise BadRequest(f"{field}: interval {text!r} ends before it starts", field=field)
    return start, end


def format_time(value: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and `Z`, the form SensorThings clients expect.

    The year has four digits always (`0500-01-01...`): `strftime("%Y")` drops the zeros.
    """
    if value is None:
        return None
    value = value.astimezone(UTC)
    text = f"{value.year:04d}-" + value.strftime("%m-%dT%H:%M:%S")
    if value.microsecond % 1000:
        text += f".{value.microsecond:06d}"
    elif value.microsecond:
        text += f".{value.microsecond // 1000:03d}"
    return text + "Z"


def format_interval(start: datetime | None, end: datetime | None) -> str | None:
    if start is None:
        return None
    if end is None:
        return format_time(start)
    return f"{format_time(start)}/{format_time(end)}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def geometry_columns(column: str, value: object, encoding: object, field: str) -> dict[str, Any]:
    """The stored geometry and bounding box of a GeoJSON value (empty for other encodings)."""
    columns: dict[str, Any] = {
        f"{column}_geom": None,
        f"{column}_xmin": None,
        f"{column}_ymin": None,
        f"{column}_xmax": None,
        f"{column}_ymax": None,
    }
    if encoding not in GEOJSON_ENCODINGS:
        return columns
    if not isinstance(value, dict) or value.get("type") not in _GEOJSON_TYPES:
        raise BadRequest(
            f"{field}: expected a GeoJSON geometry object with a 'type' such as 'Point', "
            f"got {_kind(value)}",
            field=field,
        )
    geometry = value.get("geometry") if value["type"] == "Feature" else value
    try:
        parsed = shape(geometry)
    except (GEOSException, ValueError, TypeError, KeyError, AttributeError, IndexError) as error:
        raise BadRequest(f"{field}: invalid GeoJSON geometry: {error}", field=field) from None
    if parsed.is_empty:
        raise BadRequest(f"{field}: the GeoJSON geometry is empty", field=field)
    xmin, ymin, xmax, ymax = parsed.bounds
    if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
        raise BadRequest(f"{field}: coordinates must be finite numbers", field=field)
    columns.update(
        {
            f"{column}_geom": orjson.dumps(geometry).decode(),
            f"{column}_xmin": xmin,
            f"{column}_ymin": ymin,
            f"{column}_xmax": xmax,
            f"{column}_ymax": ymax,
        }
    )
    return columns


def result_columns(value: object) -> dict[str, Any]:
    """Spread a result over the typed columns so that numbers filter and sort as numbers."""
    columns: dict[str, Any] = {"result_number": None, "result_string": None, "result_json": None}
    if isinstance(value, bool) or value is None:
        columns.update(result_type=RESULT_JSON, result_json=value)
    elif isinstance(value, int) and abs(value) <= _EXACT_FLOAT_LIMIT:
        columns.update(result_type=RESULT_INTEGER, result_number=float(value))
    elif isinstance(value, float) and math.isfinite(value):
        columns.update(result_type=RESULT_FLOAT, result_number=value)
    elif isinstance(value, str):
        columns.update(result_type=RESULT_STRING, result_string=value)
    else:
        columns.update(result_type=RESULT_JSON, result_json=value)
    return columns


_OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/"
#: the simple observation types of OGC 18-088 Table 13 and what their result is. Their
#: result is one value: an array or an object is refused (it would break every reader of
#: the stream: charts, rules, aggregates). A scalar of another kind is kept, because
#: devices report faults as text ("offline", "sensor fault") in numeric streams and the
#: aggregates and rules skip such values by design.
_SIMPLE_TYPES: dict[str, str] = {
    _OM + "OM_Measurement": "a number",
    _OM + "OM_CountObservation": "an integer",
    _OM + "OM_TruthObservation": "a boolean",
    _OM + "OM_CategoryObservation": "a string (a category's name or URI)",
}


def result_mismatch(observation_type: str | None, result: object) -> str | None:
    """What a result of `observation_type` must be, when `result` cannot be that; else None."""
    expected = _SIMPLE_TYPES.get(observation_type or "")
    if expected is None or not isinstance(result, list | dict):
        return None
    return f"{expected}, a single value (not an array or object)"


def result_of_columns(columns: dict[str, Any]) -> object:
    """The result held by the typed columns `result_columns` made (the wire value)."""
    kind = columns.get("result_type")
    if kind == RESULT_INTEGER:
        return int(columns["result_number"])
    if kind == RESULT_FLOAT:
        return columns["result_number"]
    if kind == RESULT_STRING:
        return columns["result_string"]
    return columns.get("result_json")


def result_value(row: Any) -> Any:
    """The result as it was sent, read back from the typed columns of `row`."""
    kind = row.result_type
    if kind == RESULT_INTEGER:
        return int(row.result_number)
    if kind == RESULT_FLOAT:
        return row.result_number
    if kind == RESULT_STRING:
        return row.result_string
    return row.result_json


def to_columns(prop: Property, value: object, body: dict[str, Any]) -> dict[str, Any]:
    """Validate one wire value of `prop` and return the column values it sets."""
    field = prop.name
    if value is None:
        if not prop.nullable:
            raise BadRequest(f"{field}: may not be null", field=field)
        return _null_columns(prop)
    column = prop.column
    match prop.kind:
        case Kind.TEXT:
            if not isinstance(value, str):
                raise BadRequest(f"{field}: expected a string, got {_kind(value)}", field=field)
            return {column: value}
        case Kind.JSON:
            _check_depth(value, field)
            if field in ("properties", "unitOfMeasurement", "parameters") and not isinstance(
                value, dict
            ):
                raise BadRequest(
                    f"{field}: expected a JSON object, got {_kind(value)}", field=field
                )
            if field in ("unitOfMeasurements", "multiObservationDataTypes") and not isinstance(
                value, list
            ):
                raise BadRequest(f"{field}: expected a JSON array, got {_kind(value)}", field=field)
            return {column: value}
        case Kind.INSTANT:
            return {column: parse_time(value, field)}
        case Kind.INTERVAL:
            start, end = parse_interval(value, field)
            return {f"{column}_start": start, f"{column}_end": end}
        case Kind.INSTANT_OR_INTERVAL:
            if isinstance(value, str) and "/" in value:
                start, end = parse_interval(value, field)
                return {f"{column}_start": start, f"{column}_end": end}
            return {f"{column}_start": parse_time(value, field), f"{column}_end": None}
        case Kind.RESULT:
            _check_depth(value, field)
            return result_columns(value)
        case Kind.GEOMETRY:
            _check_depth(value, field)
            return {column: value} | geometry_columns(
                column, value, body.get("encodingType", "application/geo+json"), field
            )
    raise AssertionError(prop.kind)  # pragma: no cover - every Kind is handled above


def too_deep(value: object, limit: int = MAX_JSON_DEPTH) -> str | None:
    """The path of the first container nested past `limit` levels in `value`, or None.

    Walks without recursion (a hostile body must not exhaust the stack either) and only
    visits containers. The paths are worked out only for a value that is too deep: a bulk
    write's 10,000 rows would otherwise cost a path string each on every request.
    """
    if not _nested_past(value, limit):
        return None
    stack: list[tuple[object, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict):
            if depth > limit:
                return _shown(path)
            for key, item in node.items():
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1, f"{path}/{key}" if path else str(key)))
        elif isinstance(node, list):
            if depth > limit:
                return _shown(path)
            for index, item in enumerate(node):
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1, f"{path}[{index}]"))
    return None


_CONTAINERS = (dict, list)
_SCALARS = frozenset((str, int, float, bool, type(None)))


def _nested_past(value: object, limit: int) -> bool:
    """Whether a container in `value` is nested past `limit` levels: a level at a time,
    each level's members gathered and typed in C (`chain`, `map`): the rows of a
    10,000-row DataArray are one level of 20,000 strings and numbers, which a test per
    member in Python took 2-5 ms of every bulk write to look at."""
    level: list[Any] = [value] if isinstance(value, _CONTAINERS) else []
    for _ in range(limit):
        if not level:
            return False
        kinds = set(map(type, level))
        if kinds == {list}:
            members = list(chain.from_iterable(level))
        elif kinds == {dict}:
            members = list(chain.from_iterable(map(dict.values, level)))
        else:
            members = [
                item
                for node in level
                for item in (node.values() if isinstance(node, dict) else node)
            ]
        kinds = set(map(type, members))
        if kinds <= _SCALARS:
            return False
        if kinds <= {list, dict}:
            level = members
        else:
            level = [item for item in members if isinstance(item, _CONTAINERS)]
    return bool(level)


def _shown(path: str) -> str:
    """A path short enough for a message (a deep one repeats itself)."""
    return path if len(path) <= 80 else path[:40] + "/…/" + path[-36:]


def _check_depth(value: object, field: str) -> None:
    """Refuse a stored JSON value nested past MAX_JSON_DEPTH (a JSON Patch can build one
    out of values that each passed the body's check)."""
    if isinstance(value, dict | list) and (deep := too_deep(value)) is not None:
        where = f"{field}/{deep}" if deep else field
        raise BadRequest(f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels", field=field)


def _null_columns(prop: Property) -> dict[str, Any]:
    column = prop.column
    match prop.kind:
        case Kind.INTERVAL | Kind.INSTANT_OR_INTERVAL:
            return {f"{column}_start": None, f"{column}_end": None}
        case Kind.RESULT:
            return result_columns(None)
        case Kind.GEOMETRY:
            return {column: None} | geometry_columns(column, None, None, prop.name)
    return {column: None}


def from_row(prop: Property, row: Any) -> Any:
    """The wire value of `prop` read from a result row of the entity's table."""
    column = prop.column
    match prop.kind:
        case Kind.INSTANT:
            return format_time(getattr(row, column))
        case Kind.INTERVAL | Kind.INSTANT_OR_INTERVAL:
            return format_interval(getattr(row, f"{column}_start"), getattr(row, f"{column}_end"))
        case Kind.RESULT:
            return result_value(row)
    return getattr(row, column)
