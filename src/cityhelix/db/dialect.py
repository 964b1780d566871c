"""The dialect seam: the few SQL constructs that differ between SQLite and PostgreSQL.

Services build one SQLAlchemy expression; the compilers registered here render it per
backend, so no `if postgresql` is scattered through the pillars.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class geometry_from_geojson(FunctionElement[str]):
    """GeoJSON text -> stored geometry (PostGIS geometry, or the text itself on SQLite)."""

    type = Text()
    inherit_cache = True
    name = "geometry_from_geojson"


class geometry_as_geojson(FunctionElement[str]):
    """Stored geometry -> GeoJSON text."""

    type = Text()
    inherit_cache = True
    name = "geometry_as_geojson"


@compiles(geometry_from_geojson)
@compiles(geometry_as_geojson)
def _geometry_passthrough(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(geometry_from_geojson, "postgresql")
def _postgis_from_geojson(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_SetSRID(ST_GeomFromGeoJSON({compiler.process(element.clauses, **kw)}), 4326)"


@compiles(geometry_as_geojson, "postgresql")
def _postgis_as_geojson(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"ST_AsGeoJSON({compiler.process(element.clauses, **kw)})"
