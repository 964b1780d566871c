"""The dialect seam: the few SQL constructs that differ between SQLite and PostgreSQL.

Services build one SQLAlchemy expression; the compilers registered here render it per
backend, so no `if postgresql` is scattered through the pillars.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, Text
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


class transaction_id(FunctionElement[int]):
    """The writing transaction's id (PostgreSQL `pg_current_xact_id()`); 0 on SQLite.

    With `committed_horizon` it orders the durable stream's outbox without skipping rows
    of transactions that commit out of id order (SQLite has one writer at a time).
    """

    type = BigInteger()
    inherit_cache = True
    name = "transaction_id"


class committed_horizon(FunctionElement[int]):
    """Every transaction id below this has finished or belongs to another database: the
    lowest id running in the statement's snapshot, other databases' left out, on
    PostgreSQL; 1 on SQLite (every outbox row, xid 0, is final)."""

    type = BigInteger()
    inherit_cache = True
    name = "committed_horizon"


@compiles(transaction_id)
def _sqlite_transaction_id(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return "0"


@compiles(transaction_id, "postgresql")
def _pg_transaction_id(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return "(pg_current_xact_id()::text::bigint)"


@compiles(committed_horizon)
def _sqlite_horizon(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return "1"


@compiles(committed_horizon, "postgresql")
def _pg_horizon(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    # The lowest transaction still running in the statement's snapshot, not counting those
    # pg_stat_activity shows running in another database of the cluster (their ids are the
    # cluster's, but they never write this database's outbox): a long transaction in a
    # neighbour database must not hold this one's readers back. A transaction that ended
    # since the snapshot is no longer listed there and still counts: never too far.
    return (
        "(SELECT coalesce(min(x.xid::text::bigint), min(pg_snapshot_xmax(snap.s)::text::bigint))"
        " FROM (SELECT pg_current_snapshot() AS s) AS snap"
        " LEFT JOIN LATERAL pg_snapshot_xip(snap.s) AS x(xid) ON NOT EXISTS ("
        "SELECT 1 FROM pg_stat_activity AS a"
        " WHERE a.backend_xid::text = (x.xid::text::bigint % 4294967296)::text"
        " AND a.datname IS DISTINCT FROM current_database()))"
    )


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds, for two UTC time columns (`UtcDateTime`): PostgreSQL's
    `EXTRACT(EPOCH FROM ...)`, SQLite's `julianday` difference on the stored ISO text."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _sqlite_seconds_between(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _pg_seconds_between(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))::float8"
