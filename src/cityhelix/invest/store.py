"""What the investment pillar's stores share: the staff check, one transaction per write
with its audit, and rows shaped for JSON (dates as ISO 8601, geometry as the GeoJSON sent).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import shapely.geometry
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.invest.errors import BadInput, Conflict, Forbidden

STAFF = frozenset({Role.ANALYST, Role.ADMIN})


def utc_now() -> datetime:
    """Now, aware, in UTC (what every time column stores)."""
    return datetime.now(UTC)


def require_staff(principal: Principal, doing: str) -> None:
    """Raise Forbidden unless the caller is an analyst or an admin."""
    if principal.role not in STAFF:
        raise Forbidden(
            f"{doing} needs the role analyst or admin; {principal.name} is {principal.role.value}"
        )


@asynccontextmanager
async def writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction for one write; a constraint the database enforces answers 409."""
    try:
        async with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise Conflict("the write conflicts with another change; retry it") from None


async def audit(
    connection: AsyncConnection, principal: Principal, method: str, path: str, kind: str, id_: int
) -> None:
    """Record one write in the audit trail, inside the write's own transaction."""
    await record_write(connection, principal, method, path, [(kind, id_)])


def plain(value: Any) -> Any:
    """A column value as JSON carries it: times in UTC with Z, days as YYYY-MM-DD."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


_GEOMETRY_COLUMNS = {
    "boundary_geom",
    "boundary_xmin",
    "boundary_ymin",
    "boundary_xmax",
    "boundary_ymax",
}


def json_row(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """A row as JSON, without the stored geometry and bounding box (the GeoJSON stays)."""
    mapping = row._mapping if isinstance(row, Row) else row
    return {k: plain(v) for k, v in mapping.items() if k not in _GEOMETRY_COLUMNS}


def geometry_columns(boundary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The boundary columns for a GeoJSON polygon (checked with shapely), or all None."""
    if boundary is None:
        return dict.fromkeys(["boundary", *sorted(_GEOMETRY_COLUMNS)])
    try:
        shape = shapely.geometry.shape(boundary)
    except (ValueError, TypeError, IndexError, AttributeError) as error:
        raise BadInput(
            f"boundary: not a valid GeoJSON polygon ({error})", field="boundary"
        ) from None
    if shape.is_empty or not shape.is_valid:
        raise BadInput("boundary: the polygon is empty or not valid", field="boundary")
    xmin, ymin, xmax, ymax = shape.bounds
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise BadInput("boundary: expected WGS 84 longitude/latitude", field="boundary")
    return {
        "boundary": dict(boundary),
        "boundary_geom": json.dumps(boundary),
        "boundary_xmin": xmin,
        "boundary_ymin": ymin,
        "boundary_xmax": xmax,
        "boundary_ymax": ymax,
    }
