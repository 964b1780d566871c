"""STA query latency at 1M Observations: our server against the same answer by hand (issue 4).

Loads 50 Things / 100 Datastreams / N Observations on PostgreSQL and SQLite, then times five
hot queries three ways in the same run: a real `cityhelix serve` process, a bare FastAPI route
running hand-written SQL (same uvicorn setup, same JSON) and that SQL on the raw driver.

Run from the repository root: `.venv/bin/python -m benchmarks.sta_queries --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg
import httpx
import orjson
from benchmarks.common import (
    CENTRE_LAT,
    CENTRE_LON,
    POSTGRES_ADMIN_DSN,
    STEP,
    Database,
    Latency,
    Served,
    code_under_test,
    create_city,
    delayed_ack_suspected,
    first_reading_time,
    free_port,
    iso,
    keep_alive_client,
    latency,
    machine_load,
    markdown_table,
    post_first_readings,
    postgres_database,
    postgres_row_shapes,
    print_profile,
    py_spy_record,
    python_path,
    ratio,
    read_profile,
    reading,
    served,
    server_env,
    shape_differences,
    sqlite_database,
)
from benchmarks.common import cityhelix_served as cityhelix_process
from fastapi import FastAPI, Request
from fastapi.responses import Response

REPOSITORY = Path(__file__).resolve().parents[1]
PAGE_SIZE = 100  # the server's default page size (Settings.page_size)
GOAL = 1.5  # ours within 1.5x of hand-written SQL behind the bare route (p50)
DISTANCE = 0.05  # geo.distance threshold, in degrees as the CRS gives them
WINDOW = timedelta(hours=1)  # 360 readings; $top=100 keeps the first 100
MEASURE_BUDGET_S = 75.0  # per query and backend: loops stop here whatever --requests says
#: the istSOS4 p50 measured on a peer here (standards.md), for context only
PEER_P50 = {"a": "6-9", "b": "8-11", "c": "33-47", "d": "6", "e": "122"}
SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # cityhelix.db.types stores SQLite times this way

# ---------------------------------------------------------------------------- hand-written SQL
# Column lists are constants; every value is a bound parameter.

OBSERVATION_COLUMNS = (
    "id",
    "phenomenon_time_start",
    "phenomenon_time_end",
    "result_time",
    "result_type",
    "result_number",
    "result_string",
    "result_json",
    "result_quality",
    "valid_time_start",
    "valid_time_end",
    "parameters",
    "datastream_id",
    "multi_datastream_id",
)
DATASTREAM_COLUMNS = (
    "id",
    "name",
    "description",
    "unit_of_measurement",
    "observation_type",
    "observed_area",
    "phenomenon_time_start",
    "phenomenon_time_end",
    "result_time_start",
    "result_time_end",
    "properties",
)
THING_COLUMNS = ("id", "name", "description", "properties")


def _aliased(alias: str, columns: Sequence[str]) -> str:
    return ", ".join(f"{alias}.{c} AS {alias}_{c}" for c in columns)


_OBS = ", ".join(OBSERVATION_COLUMNS)
_THINGS_SELECT = (
    f"SELECT {_aliased('t', THING_COLUMNS)}, {_aliased('d', DATASTREAM_COLUMNS)}, "
    f"{_aliased('o', OBSERVATION_COLUMNS)} "
    f"FROM (SELECT {', '.join(THING_COLUMNS)} FROM things ORDER BY id LIMIT {{limit}}) AS t "
    "LEFT JOIN datastreams AS d ON d.thing_id = t.id "
)
_LOCATIONS = "SELECT id, name, description, encoding_type, location, properties FROM locations"

POSTGRES_SQL = {
    "latest": f"SELECT {_OBS} FROM observations WHERE datastream_id = $1 "
    "ORDER BY phenomenon_time_start DESC, id DESC LIMIT $2",
    "window": f"SELECT {_OBS} FROM observations WHERE datastream_id = $1 "
    "AND phenomenon_time_start >= $2 AND phenomenon_time_start < $3 "
    "ORDER BY phenomenon_time_start, id LIMIT $4",
    "things_latest": _THINGS_SELECT.format(limit="$1")
    + f"LEFT JOIN LATERAL (SELECT {_OBS} FROM observations WHERE datastream_id = d.id "
    "ORDER BY phenomenon_time_start DESC, id DESC LIMIT 1) AS o ON true "
    "ORDER BY t.id, d.id",
    "near": f"{_LOCATIONS} "
    "WHERE ST_DWithin(location_geom, ST_SetSRID(ST_MakePoint($1, $2), 4326), $3) "
    "AND ST_Distance(location_geom, ST_SetSRID(ST_MakePoint($1, $2), 4326)) < $3 "
    "ORDER BY id LIMIT $4",
    "count": "SELECT count(*) AS n FROM observations",
    "first": f"SELECT {_OBS} FROM observations ORDER BY id LIMIT $1",
}
SQLITE_SQL = {
    "latest": f"SELECT {_OBS} FROM observations WHERE datastream_id = ?1 "
    "ORDER BY phenomenon_time_start DESC, id DESC LIMIT ?2",
    "window": f"SELECT {_OBS} FROM observations WHERE datastream_id = ?1 "
    "AND phenomenon_time_start >= ?2 AND phenomenon_time_start < ?3 "
    "ORDER BY phenomenon_time_start, id LIMIT ?4",
    # no LATERAL in SQLite: the latest row's id comes from a correlated subquery
    "things_latest": _THINGS_SELECT.format(limit="?1")
    + "LEFT JOIN observations AS o ON o.id = (SELECT id FROM observations "
    "WHERE datastream_id = d.id ORDER BY phenomenon_time_start DESC, id DESC LIMIT 1) "
    "ORDER BY t.id, d.id",
    # the bounding box narrows, then the distance decides (exact for Point locations,
    # which is all this data set has)
    "near": f"{_LOCATIONS} WHERE location_xmin <= ?1 + ?3 AND location_xmax >= ?1 - ?3 "
    "AND location_ymin <= ?2 + ?3 AND location_ymax >= ?2 - ?3 "
    "AND (location_xmin - ?1) * (location_xmin - ?1) "
    "+ (location_ymin - ?2) * (location_ymin - ?2) < ?3 * ?3 ORDER BY id LIMIT ?4",
    "count": "SELECT count(*) AS n FROM observations",
    "first": f"SELECT {_OBS} FROM observations ORDER BY id LIMIT ?1",
}


class Fetch(Protocol):
    """Runs one named hand-written statement with positional parameters."""

    async def rows(self, name: str, *params: object) -> list[Any]: ...

    async def close(self) -> None: ...


async def _postgres_codecs(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name,
            encoder=lambda v: orjson.dumps(v).decode(),
            decoder=orjson.loads,
            schema="pg_catalog",
        )


class PostgresFetch:
    """asyncpg, on one connection (raw timings) or a pool (the bare route)."""

    def __init__(self, target: asyncpg.Connection | asyncpg.Pool) -> None:
        self.target = target

    @classmethod
    async def connect(cls, dsn: str, *, pool: bool) -> PostgresFetch:
        if pool:
            return cls(
                await asyncpg.create_pool(dsn, min_size=2, max_size=4, init=_postgres_codecs)
            )
        connection = await asyncpg.connect(dsn)
        await _postgres_codecs(connection)
        return cls(connection)

    async def rows(self, name: str, *params: object) -> list[Any]:
        return list(await self.target.fetch(POSTGRES_SQL[name], *params))

    async def close(self) -> None:
        await self.target.close()


def _sqlite_params(params: Sequence[object]) -> tuple[object, ...]:
    return tuple(
        p.astimezone(UTC).strftime(SQLITE_TIME) if isinstance(p, datetime) else p for p in params
    )


class SqliteFetch:
    """The standard library's sqlite3, blocking: the raw reference for SQLite."""

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path)
        self.connection.row_factory = sqlite3.Row

    async def rows(self, name: str, *params: object) -> list[Any]:
        return self.connection.execute(SQLITE_SQL[name], _sqlite_params(params)).fetchall()

    async def close(self) -> None:
        self.connection.close()


class AioSqliteFetch:
    """aiosqlite (the driver our server uses), for the bare route on SQLite."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, path: str) -> AioSqliteFetch:
        connection = await aiosqlite.connect(path, timeout=30)
        connection.row_factory = sqlite3.Row
        await connection.execute("PRAGMA busy_timeout=30000")
        return cls(connection)

    async def rows(self, name: str, *params: object) -> list[Any]:
        async with self.connection.execute(SQLITE_SQL[name], _sqlite_params(params)) as cursor:
            return list(await cursor.fetchall())

    async def close(self) -> None:
        await self.connection.close()


# ---------------------------------------------------------------------------- the same JSON


def wire_time(value: datetime | str | None) -> str | None:
    """UTC ISO 8601 with `Z`, milliseconds only when there are any (as our server writes)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's fixed-width text, 2026-01-01T00:00:10.000000Z
        micro = value[20:26]
        if micro == "000000":
            return value[:19] + "Z"
        if micro.endswith("000"):
            return f"{value[:19]}.{micro[:3]}Z"
        return f"{value[:19]}.{micro}Z"
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond % 1000:
        return f"{text}.{value.microsecond:06d}Z"
    if value.microsecond:
        return f"{text}.{value.microsecond // 1000:03d}Z"
    return text + "Z"


def wire_interval(start: datetime | str | None, end: datetime | str | None) -> str | None:
    if start is None:
        return None
    if end is None:
        return wire_time(start)
    return f"{wire_time(start)}/{wire_time(end)}"


def json_value(value: Any) -> Any:
    """A JSON column's value: decoded already on PostgreSQL, text on SQLite."""
    return orjson.loads(value) if isinstance(value, str) else value


def _put(document: dict[str, Any], name: str, value: Any) -> None:
    if value is not None:
        document[name] = value


def observation_json(row: Any, base: str, p: str = "") -> dict[str, Any]:
    oid = row[p + "id"]
    link = f"{base}/Observations({oid})"
    kind, number = row[p + "result_type"], row[p + "result_number"]
    result = (
        int(number)
        if kind == 0
        else number
        if kind == 1
        else row[p + "result_string"]
        if kind == 2
        else json_value(row[p + "result_json"])
    )
    document: dict[str, Any] = {
        "@iot.id": oid,
        "@iot.selfLink": link,
        "phenomenonTime": wire_interval(
            row[p + "phenomenon_time_start"], row[p + "phenomenon_time_end"]
        ),
        "resultTime": wire_time(row[p + "result_time"]),
        "result": result,
    }
    _put(document, "resultQuality", json_value(row[p + "result_quality"]))
    _put(
        document, "validTime", wire_interval(row[p + "valid_time_start"], row[p + "valid_time_end"])
    )
    _put(document, "parameters", json_value(row[p + "parameters"]))
    # an empty to-one link gets no navigation link (an Observation has one of the two)
    if row[p + "datastream_id"] is not None:
        document["Datastream@iot.navigationLink"] = f"{link}/Datastream"
    if row[p + "multi_datastream_id"] is not None:
        document["MultiDatastream@iot.navigationLink"] = f"{link}/MultiDatastream"
    document["FeatureOfInterest@iot.navigationLink"] = f"{link}/FeatureOfInterest"
    return document


def datastream_json(row: Any, base: str, p: str = "") -> dict[str, Any]:
    link = f"{base}/Datastreams({row[p + 'id']})"
    document: dict[str, Any] = {"@iot.id": row[p + "id"], "@iot.selfLink": link}
    document["name"] = row[p + "name"]
    _put(document, "description", row[p + "description"])
    document["unitOfMeasurement"] = json_value(row[p + "unit_of_measurement"])
    document["observationType"] = row[p + "observation_type"]
    _put(document, "observedArea", json_value(row[p + "observed_area"]))
    _put(
        document,
        "phenomenonTime",
        wire_interval(row[p + "phenomenon_time_start"], row[p + "phenomenon_time_end"]),
    )
    _put(
        document,
        "resultTime",
        wire_interval(row[p + "result_time_start"], row[p + "result_time_end"]),
    )
    _put(document, "properties", json_value(row[p + "properties"]))
    for name in ("Thing", "Sensor", "ObservedProperty", "Observations"):
        document[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    return document


def thing_json(row: Any, base: str, p: str = "") -> dict[str, Any]:
    link = f"{base}/Things({row[p + 'id']})"
    document: dict[str, Any] = {"@iot.id": row[p + "id"], "@iot.selfLink": link}
    document["name"] = row[p + "name"]
    _put(document, "description", row[p + "description"])
    _put(document, "properties", json_value(row[p + "properties"]))
    for name in (
        "Locations",
        "HistoricalLocations",
        "Datastreams",
        "MultiDatastreams",
        "TaskingCapabilities",  # Tasking (issue 16)
    ):
        document[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    return document


def location_json(row: Any, base: str) -> dict[str, Any]:
    link = f"{base}/Locations({row['id']})"
    document: dict[str, Any] = {"@iot.id": row["id"], "@iot.selfLink": link}
    document["name"] = row["name"]
    _put(document, "description", row["description"])
    document["encodingType"] = row["encoding_type"]
    document["location"] = json_value(row["location"])
    _put(document, "properties", json_value(row["properties"]))
    for name in ("Things", "HistoricalLocations"):
        document[f"{name}@iot.navigationLink"] = f"{link}/{name}"
    return document


def _page(rows: list[Any], top: int, next_link: str) -> tuple[list[Any], dict[str, Any]]:
    """The first `top` rows, and a nextLink when the query found one more."""
    return rows[:top], ({"@iot.nextLink": next_link} if len(rows) > top else {})


async def answer_latest(fetch: Fetch, base: str, stream: int) -> dict[str, Any]:
    rows, head = _page(
        await fetch.rows("latest", stream, 2),
        1,
        f"{base}/Datastreams({stream})/Observations?$orderby=phenomenonTime+desc&$top=1&$skip=1",
    )
    return head | {"value": [observation_json(r, base) for r in rows]}


async def answer_window(
    fetch: Fetch, base: str, stream: int, start: datetime, end: datetime
) -> dict[str, Any]:
    rows, head = _page(
        await fetch.rows("window", stream, start, end, 101),
        100,
        f"{base}/Datastreams({stream})/Observations?$top=100&$skip=100",
    )
    return head | {"value": [observation_json(r, base) for r in rows]}


async def answer_things_latest(fetch: Fetch, base: str) -> dict[str, Any]:
    things: dict[int, dict[str, Any]] = {}
    for row in await fetch.rows("things_latest", PAGE_SIZE + 1):
        thing = things.get(row["t_id"])
        if thing is None:
            thing = things[row["t_id"]] = thing_json(row, base, "t_") | {"Datastreams": []}
        if row["d_id"] is None:
            continue
        stream = datastream_json(row, base, "d_")
        stream["Observations"] = (
            [observation_json(row, base, "o_")] if row["o_id"] is not None else []
        )
        thing["Datastreams"].append(stream)
    page, head = _page(list(things.values()), PAGE_SIZE, f"{base}/Things?$skip={PAGE_SIZE}")
    return head | {"value": page}


async def answer_near(
    fetch: Fetch, base: str, lon: float, lat: float, distance: float
) -> dict[str, Any]:
    rows, head = _page(
        await fetch.rows("near", lon, lat, distance, PAGE_SIZE + 1),
        PAGE_SIZE,
        f"{base}/Locations?$skip={PAGE_SIZE}",
    )
    return head | {"value": [location_json(r, base) for r in rows]}


async def answer_count(fetch: Fetch, base: str) -> dict[str, Any]:
    count = (await fetch.rows("count"))[0]["n"]
    rows, head = _page(
        await fetch.rows("first", 2), 1, f"{base}/Observations?$count=true&$top=1&$skip=1"
    )
    return {"@iot.count": count} | head | {"value": [observation_json(r, base) for r in rows]}


# ---------------------------------------------------------------------------- the bare route


def bare_app(backend: str, raw: str) -> FastAPI:
    """The reference server: hand-written SQL behind one FastAPI route per query."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        fetch: Fetch
        if backend == "postgresql":
            fetch = await PostgresFetch.connect(raw, pool=True)
        else:
            fetch = await AioSqliteFetch.connect(raw)
        app.state.fetch = fetch
        try:
            yield
        finally:
            await fetch.close()

    app = FastAPI(lifespan=lifespan)

    def reply(document: dict[str, Any]) -> Response:
        return Response(orjson.dumps(document), media_type="application/json")

    def context(request: Request) -> tuple[Fetch, str]:
        return request.app.state.fetch, str(request.base_url).rstrip("/") + "/v1.1"

    @app.get("/bare/latest")
    async def latest(request: Request, datastream: int) -> Response:
        return reply(await answer_latest(*context(request), datastream))

    @app.get("/bare/window")
    async def window(request: Request, datastream: int, start: datetime, end: datetime) -> Response:
        return reply(await answer_window(*context(request), datastream, start, end))

    @app.get("/bare/things-latest")
    async def things_latest(request: Request) -> Response:
        return reply(await answer_things_latest(*context(request)))

    @app.get("/bare/locations-near")
    async def near(request: Request, lon: float, lat: float, distance: float) -> Response:
        return reply(await answer_near(*context(request), lon, lat, distance))

    @app.get("/bare/count")
    async def count(request: Request) -> Response:
        return reply(await answer_count(*context(request)))

    return app


def serve_bare_route(backend: str, raw: str, port: int) -> None:
    """Serve `bare_app` exactly as `cityhelix serve` serves ours (uvicorn.run, one worker)."""
    import uvicorn

    uvicorn.run(bare_app(backend, raw), host="127.0.0.1", port=port, log_level="info")


@contextmanager
def bare_served(database: Database, log: Path) -> Iterator[Served]:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.sta_queries", "--serve-bare-route", str(port)]
    argv += ["--backend", database.backend, "--bare-database", database.raw]
    env = server_env(PYTHONPATH=python_path(REPOSITORY))
    with served(argv, port, log, env) as server:
        yield server


# ---------------------------------------------------------------------------- loading


@dataclass
class City:
    streams: list[int]
    feature_by_stream: dict[int, int]
    per_stream: int  # readings per Datastream, the API's first one included
    epoch: datetime  # the first reading of every Datastream
    #: what CreateObservations stored in result_json for a number: SQL NULL or JSON null
    result_json: str | None

    def time_of(self, step: int) -> datetime:
        return self.epoch + step * STEP


async def build_city(
    database: Database, server: Served, observations: int, things: int, streams_per_thing: int
) -> tuple[City, dict[str, float]]:
    """Things, Datastreams and first readings through the API; the rest by the fastest path."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with keep_alive_client(server.url) as client:
        stream_ids = await create_city(client, things, streams_per_thing)
        per_stream = max(1, observations // len(stream_ids))
        epoch = first_reading_time(per_stream)
        await post_first_readings(client, stream_ids, epoch)
    timings["API: Things, Datastreams, first readings"] = time.perf_counter() - started
    if database.backend == "postgresql":
        connection = await asyncpg.connect(database.raw)
        try:
            rows = await connection.fetch(FIRST_READINGS)
            city = City(stream_ids, _features(rows), per_stream, epoch, _result_json(rows))
            timings |= await _load_postgres(connection, city)
        finally:
            await connection.close()
    else:
        with sqlite3.connect(database.raw) as connection:
            rows = connection.execute(FIRST_READINGS).fetchall()
        city = City(stream_ids, _features(rows), per_stream, epoch, _result_json(rows))
        timings |= _load_sqlite(database.raw, city)
    return city, timings


#: the API's first readings: each stream's FeatureOfInterest and how result_json was stored
FIRST_READINGS = (
    "SELECT datastream_id, feature_of_interest_id, result_json IS NULL FROM observations"
)


def _features(rows: Sequence[Any]) -> dict[int, int]:
    return {r[0]: r[1] for r in rows}


def _result_json(rows: Sequence[Any]) -> str | None:
    """Load what the API stored for a numeric result: SQL NULL (None) or a JSON null."""
    return None if all(r[2] for r in rows) else "null"


def _records(city: City, make_time: Callable[[int], object]) -> Iterator[tuple[object, ...]]:
    """Readings 1.. of every stream, time-major (as live sensors would have sent them)."""
    for step in range(1, city.per_stream):
        moment = make_time(step)
        for index, stream in enumerate(city.streams):
            feature = city.feature_by_stream[stream]
            yield moment, 1, reading(index, step), city.result_json, stream, feature


LOADED_COLUMNS = (
    "phenomenon_time_start",
    "result_type",  # 1: a float
    "result_number",
    "result_json",
    "datastream_id",
    "feature_of_interest_id",
)


async def _load_postgres(connection: asyncpg.Connection, city: City) -> dict[str, float]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    async with connection.transaction():
        # the ids come from the API's own rows above, so the per-row FK triggers can rest
        await connection.execute("SET LOCAL session_replication_role = replica")
        await connection.copy_records_to_table(
            "observations",
            records=_records(city, city.time_of),
            columns=LOADED_COLUMNS,
        )
        await connection.execute(
            "UPDATE datastreams SET phenomenon_time_end = $1 WHERE id = ANY($2::bigint[])",
            city.time_of(city.per_stream - 1),
            city.streams,
        )
    timings["COPY observations (FK triggers off)"] = time.perf_counter() - started
    started = time.perf_counter()
    await connection.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
    timings["VACUUM ANALYZE"] = time.perf_counter() - started
    orphans = await connection.fetchval(
        "SELECT count(*) FROM observations o LEFT JOIN datastreams d ON d.id = o.datastream_id "
        "LEFT JOIN features_of_interest f ON f.id = o.feature_of_interest_id "
        "WHERE d.id IS NULL OR f.id IS NULL"
    )
    if orphans:
        raise RuntimeError(f"{orphans} loaded Observations point at nothing")
    return timings


def _load_sqlite(path: str, city: City) -> dict[str, float]:
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        connection.execute("PRAGMA synchronous=OFF")  # for the load only
        connection.execute("BEGIN")
        columns = ", ".join(LOADED_COLUMNS)
        connection.executemany(
            f"INSERT INTO observations ({columns}) VALUES (?, ?, ?, ?, ?, ?)",
            _records(city, lambda step: city.time_of(step).strftime(SQLITE_TIME)),
        )
        connection.executemany(
            "UPDATE datastreams SET phenomenon_time_end = ? WHERE id = ?",
            [(city.time_of(city.per_stream - 1).strftime(SQLITE_TIME), s) for s in city.streams],
        )
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return {"executemany observations (one transaction)": time.perf_counter() - started}


async def rows_alike(database: Database, stream: int) -> str:
    """Compare the API-written first row of `stream` with a loaded one: NULL-ness and type."""
    if database.backend == "postgresql":
        connection = await asyncpg.connect(database.raw)
        try:
            api, loaded = await postgres_row_shapes(connection, stream)
        finally:
            await connection.close()
    else:
        with sqlite3.connect(database.raw) as connection:
            cursor = connection.execute(
                "SELECT * FROM observations WHERE datastream_id = ? "
                "ORDER BY phenomenon_time_start LIMIT 2",
                (stream,),
            )
            names = [d[0] for d in cursor.description]
            api, loaded = (
                {n: type(v).__name__ for n, v in zip(names, r, strict=True)}
                for r in cursor.fetchall()
            )
    differing = shape_differences(api, loaded)
    return "same NULLs, same types" if not differing else f"DIFFER: {'; '.join(differing)}"


# ---------------------------------------------------------------------------- the queries


@dataclass(frozen=True)
class Probe:
    """One request of a query, three ways."""

    ours: tuple[str, dict[str, str]]
    bare: tuple[str, dict[str, str]]
    raw: Callable[[Fetch], Awaitable[object]]


@dataclass(frozen=True)
class Query:
    key: str
    title: str
    url: str  # the standard URL, for the report
    probes: list[Probe]


def build_queries(city: City, count: int, seed: int) -> list[Query]:
    """Five queries, each `count` probes with deterministic, varying parameters."""
    rng = random.Random(seed)
    streams = city.streams
    last_step = city.per_stream - 1
    window_steps = int(WINDOW / STEP)

    def latest(i: int) -> Probe:
        stream = streams[i % len(streams)]
        return Probe(
            (
                f"/v1.1/Datastreams({stream})/Observations",
                {"$orderby": "phenomenonTime desc", "$top": "1"},
            ),
            ("/bare/latest", {"datastream": str(stream)}),
            lambda f: f.rows("latest", stream, 2),
        )

    def window(_: int) -> Probe:
        stream = rng.choice(streams)
        start = city.time_of(rng.randint(0, max(0, last_step - window_steps)))
        end = start + WINDOW
        return Probe(
            (
                f"/v1.1/Datastreams({stream})/Observations",
                {
                    "$filter": f"phenomenonTime ge {iso(start)} and phenomenonTime lt {iso(end)}",
                    "$orderby": "phenomenonTime",
                    "$top": "100",
                },
            ),
            ("/bare/window", {"datastream": str(stream), "start": iso(start), "end": iso(end)}),
            lambda f: f.rows("window", stream, start, end, 101),
        )

    things = Probe(
        (
            "/v1.1/Things",
            {"$expand": "Datastreams($expand=Observations($orderby=phenomenonTime desc;$top=1))"},
        ),
        ("/bare/things-latest", {}),
        lambda f: f.rows("things_latest", PAGE_SIZE + 1),
    )
    near = Probe(
        (
            "/v1.1/Locations",
            {
                "$filter": f"geo.distance(location, geography'POINT({CENTRE_LON} {CENTRE_LAT})') "
                f"lt {DISTANCE}"
            },
        ),
        (
            "/bare/locations-near",
            {"lon": str(CENTRE_LON), "lat": str(CENTRE_LAT), "distance": str(DISTANCE)},
        ),
        lambda f: f.rows("near", CENTRE_LON, CENTRE_LAT, DISTANCE, PAGE_SIZE + 1),
    )

    async def count_raw(f: Fetch) -> object:
        return (await f.rows("count"), await f.rows("first", 2))

    counted = Probe(
        ("/v1.1/Observations", {"$count": "true", "$top": "1"}), ("/bare/count", {}), count_raw
    )
    return [
        Query(
            "a",
            "latest Observation of one Datastream",
            "/v1.1/Datastreams(ID)/Observations?$orderby=phenomenonTime desc&$top=1",
            [latest(i) for i in range(count)],
        ),
        Query(
            "b",
            "1 h window of one Datastream, $top=100",
            "/v1.1/Datastreams(ID)/Observations?$filter=phenomenonTime ge T1 and "
            "phenomenonTime lt T2&$orderby=phenomenonTime&$top=100",
            [window(i) for i in range(count)],
        ),
        Query(
            "c",
            "Things + Datastreams + latest Observation each",
            "/v1.1/Things?$expand=Datastreams($expand=Observations($orderby=phenomenonTime "
            "desc;$top=1))",
            [things] * count,
        ),
        Query(
            "d",
            "geo.distance on Locations",
            "/v1.1/Locations?$filter=geo.distance(location, geography'POINT(106.65 10.98)') "
            "lt 0.05",
            [near] * count,
        ),
        Query(
            "e",
            "$count=true on all Observations",
            "/v1.1/Observations?$count=true&$top=1",
            [counted] * count,
        ),
    ]


# ---------------------------------------------------------------------------- measuring


@dataclass
class Measured:
    query: Query
    ours: Latency | None = None
    bare: Latency | None = None
    raw: Latency | None = None
    ours_refused: str | None = None  # the server's answer when it cannot serve the query yet
    same_answer: str = "not compared"
    truncated: bool = False
    notes: list[str] = field(default_factory=list)


def _normalised(document: Any, base: str) -> Any:
    """The document with the server's root replaced and paging links dropped."""
    if isinstance(document, dict):
        return {k: _normalised(v, base) for k, v in document.items() if not k.endswith("nextLink")}
    if isinstance(document, list):
        return [_normalised(v, base) for v in document]
    if isinstance(document, str):
        return document.replace(base, "BASE")
    return document


def _differences(ours: Any, bare: Any, where: str = "", limit: int = 5) -> list[str]:
    found: list[str] = []
    if isinstance(ours, dict) and isinstance(bare, dict):
        for key in sorted(set(ours) | set(bare)):
            if key not in ours or key not in bare:
                found.append(f"{where}/{key}: only in {'ours' if key in ours else 'bare'}")
            else:
                found += _differences(ours[key], bare[key], f"{where}/{key}", limit)
            if len(found) >= limit:
                break
    elif isinstance(ours, list) and isinstance(bare, list):
        if len(ours) != len(bare):
            found.append(f"{where}: {len(ours)} items in ours, {len(bare)} in bare")
        for index, (a, b) in enumerate(zip(ours, bare, strict=False)):
            found += _differences(a, b, f"{where}[{index}]", limit)
            if len(found) >= limit:
                break
    elif ours != bare:
        found.append(f"{where}: ours {ours!r} vs bare {bare!r}")
    return found[:limit]


async def measure(
    query: Query,
    ours: httpx.AsyncClient,
    bare: httpx.AsyncClient,
    fetch: Fetch,
    warmup: int,
) -> Measured:
    """Interleave ours, bare and raw request by request, so that load spikes hit all three."""
    result = Measured(query)
    samples: dict[str, list[float]] = {"ours": [], "bare": [], "raw": []}
    started = time.monotonic()
    for index, probe in enumerate(query.probes):
        if time.monotonic() - started > MEASURE_BUDGET_S:
            result.truncated = True
            break
        order = ("ours", "bare", "raw")[index % 3 :] + ("ours", "bare", "raw")[: index % 3]
        for variant in order:
            if variant == "ours" and result.ours_refused is not None:
                continue
            begun = time.perf_counter()
            if variant == "raw":
                await probe.raw(fetch)
            else:
                client, (path, params) = (
                    (ours, probe.ours) if variant == "ours" else (bare, probe.bare)
                )
                response = await client.get(path, params=params)
                if response.status_code != 200:
                    if variant == "bare":
                        raise RuntimeError(f"bare route {path}: {response.text[:500]}")
                    result.ours_refused = f"HTTP {response.status_code}: {response.text[:300]}"
                    continue
            elapsed = time.perf_counter() - begun
            if index >= warmup:
                samples[variant].append(elapsed)
    result.ours = latency(samples["ours"]) if samples["ours"] else None
    raw = latency(samples["raw"])
    result.bare, result.raw = latency(samples["bare"]), raw
    if result.ours_refused is None:
        differences: list[str] = []
        # the first, middle and last probes: b's windows and a's Datastreams vary by probe
        for index in sorted({0, len(query.probes) // 2, len(query.probes) - 1}):
            path, params = query.probes[index].ours
            mine = (await ours.get(path, params=params)).json()
            path, params = query.probes[index].bare
            reference = (await bare.get(path, params=params)).json()
            differences += _differences(
                _normalised(mine, str(ours.base_url).rstrip("/")),
                _normalised(reference, str(bare.base_url).rstrip("/")),
                f"probe {index}",
            )
        result.same_answer = "same JSON" if not differences else "; ".join(differences[:5])
    for name, series in (("ours", result.ours), ("bare", result.bare)):
        if series is not None and delayed_ack_suspected(series, raw):
            result.notes.append(
                f"{name}: every request pays ~40 ms more than its SQL (delayed ACK?)"
            )
    return result


# ---------------------------------------------------------------------------- EXPLAIN


async def our_statements(database: Database, query: Query) -> list[tuple[str, Any]]:
    """The SQL our server runs for the query's first probe, captured in-process.

    The app is the one `cityhelix serve` runs (`create_app`), driven through ASGI; a
    SQLAlchemy `before_cursor_execute` listener records each statement and its parameters.
    """
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from cityhelix.app import create_app
    from cityhelix.settings import Settings

    captured: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        _connection, _cursor, statement, parameters = args[:4]
        captured.append((statement, parameters))

    app = create_app(Settings(database_url=database.url, mqtt_port=0), migrate=False)
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://in-process") as c:
                path, params = query.probes[0].ours
                captured.clear()
                response = await c.get(path, params=params)
                if response.status_code != 200:
                    return []
    finally:
        event.remove(Engine, "before_cursor_execute", capture)
    # the other pillars' background work (webhook deliveries, consumer groups) runs in the
    # same engine meanwhile: only the hub's own reads answer the query
    return [
        (s, p)
        for s, p in captured
        if s.lstrip().upper().startswith("SELECT") and not _OTHER_TABLES.search(s)
    ]


_OTHER_TABLES = re.compile(r"\bFROM\s+(ops|event|helix|invest|city|web)_\w+", re.IGNORECASE)


async def explain(database: Database, statement: str, parameters: Any) -> list[str]:
    """EXPLAIN ANALYZE (PostgreSQL) or EXPLAIN QUERY PLAN (SQLite) of one statement."""
    params = tuple(parameters or ())
    if database.backend == "postgresql":
        connection = await asyncpg.connect(database.raw)
        try:
            rows = await connection.fetch(
                "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + statement, *params
            )
            plan = [r[0] for r in rows]
            await connection.execute("SET plan_cache_mode = force_generic_plan")
            generic = [
                r[0] for r in await connection.fetch("EXPLAIN (COSTS OFF) " + statement, *params)
            ]
            if _scans(generic) != _scans(plan):
                plan += ["-- the generic plan a prepared statement may switch to:", *generic]
            return plan
        finally:
            await connection.close()
    from cityhelix.db.sqlite_functions import register_sqlite_functions

    with sqlite3.connect(database.raw) as connection:
        register_sqlite_functions(connection)  # geo.distance and friends run in Python
        rows = connection.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
    return [f"{'  ' * _depth(rows, r[0])}{r[3]}" for r in rows]


def _depth(rows: list[Any], node: int) -> int:
    parents = {r[0]: r[1] for r in rows}
    depth = 0
    while parents.get(node, 0):
        node = parents[node]
        depth += 1
    return depth


def _scans(plan: list[str]) -> list[str]:
    """The plan's node lines, without ANALYZE's figures and the nodes' detail lines."""
    nodes = (re.sub(r"\s*\(actual .*\)$", "", line) for line in plan)
    return [n.strip() for n in nodes if ":" not in n and "Planning" not in n]


def _sorted_observations(plan: list[str]) -> bool:
    """Whether a Sort node (not a Merge Append's ordered merge) sorts Observation rows."""
    in_sort = False
    for line in plan:
        if re.search(r"(^|->\s+)(Incremental )?Sort \(", line.strip()):
            in_sort = True
        elif in_sort and "Sort Key:" in line:
            if "observations" in line:
                return True
            in_sort = False
    return False


def index_notes(backend: str, statement: str, plan: list[str]) -> list[str]:
    """Where a plan reads a big table without an index, or sorts what an index could order."""
    notes: list[str] = []
    text = "\n".join(plan)
    # a scan in id order that a LIMIT stops after a few rows costs nothing
    in_id_order = bool(re.search(r"ORDER BY\s+(observations\.)?id(\s+ASC)?\s+LIMIT", statement))
    if backend == "postgresql":
        if "Seq Scan on observations" in text:
            notes.append("MISSES ITS INDEX: sequential scan of observations")
        for small in ("locations", "things", "datastreams"):
            if f"Seq Scan on {small}" in text:
                notes.append(f"sequential scan of {small} (a small table here: fine at this size)")
        if _sorted_observations(plan):
            notes.append("sorts Observations an index could deliver in order")
    else:
        for line in plan:
            stripped = line.strip()
            if stripped.startswith("SCAN observations") and "INDEX" not in stripped:
                notes.append(
                    "reads observations in id order until the LIMIT: fine"
                    if in_id_order and "TEMP B-TREE" not in text
                    else "MISSES ITS INDEX: full scan of observations"
                )
            if stripped.startswith("SCAN locations"):
                notes.append("full scan of locations (a small table here: fine at this size)")
            if "TEMP B-TREE" in stripped:
                notes.append(f"sorts in a temporary b-tree: {stripped}")
    return notes


async def explain_report(
    database: Database, queries: list[Query], measured: list[Measured]
) -> None:
    print(f"\n### EXPLAIN, {database.backend}")
    for query, result in zip(queries, measured, strict=True):
        print(f"\n#### {query.key}. {query.title}")
        if result.ours_refused is not None:
            print(f"our server cannot answer it yet ({result.ours_refused[:120]})")
        else:
            for statement, parameters in await our_statements(database, query):
                print("our SQL:", " ".join(statement.split()))
                print("parameters:", parameters)
                await print_plan(database, query, statement, parameters)
        raw_sql = (POSTGRES_SQL if database.backend == "postgresql" else SQLITE_SQL)[
            {"a": "latest", "b": "window", "c": "things_latest", "d": "near", "e": "count"}[
                query.key
            ]
        ]
        print("hand-written SQL:", raw_sql if query.key == "e" else "(see POSTGRES_SQL/SQLITE_SQL)")
        await print_plan(database, query, raw_sql, _raw_explain_params(query, database.backend))


async def print_plan(database: Database, query: Query, statement: str, parameters: Any) -> None:
    plan = await explain(database, statement, parameters)
    print("\n".join("    " + line for line in plan))
    counting = query.key == "e" and "count(" in statement.lower()
    if counting:
        print("  NOTE: count(*) reads every row (or index entry) by nature")
        if database.backend == "sqlite":
            print("  NOTE:", sqlite_count_path(database, statement, parameters))
        return
    for note in index_notes(database.backend, statement, plan):
        print("  NOTE:", note)


def sqlite_count_path(database: Database, statement: str, parameters: Any) -> str:
    """Whether SQLite counts from the b-tree's page headers (its `Count` opcode) or row by row.

    EXPLAIN QUERY PLAN says `SCAN` either way; the bytecode tells the two apart.
    """
    with sqlite3.connect(database.raw) as connection:
        opcodes = {
            r[1] for r in connection.execute("EXPLAIN " + statement, tuple(parameters or ()))
        }
    if "Count" in opcodes:
        return "SQLite uses its count fast path (Count opcode)"
    return "SQLite counts row by row (no Count opcode): a WHERE clause defeats the fast path"


def _raw_explain_params(query: Query, backend: str) -> tuple[object, ...]:
    _, params = query.probes[0].bare
    values: tuple[object, ...]
    if query.key == "a":
        values = (int(params["datastream"]), 2)
    elif query.key == "b":
        start = datetime.fromisoformat(params["start"])
        end = datetime.fromisoformat(params["end"])
        values = (int(params["datastream"]), start, end, 101)
    elif query.key == "c":
        values = (PAGE_SIZE + 1,)
    elif query.key == "e":
        values = ()
    else:
        values = (CENTRE_LON, CENTRE_LAT, DISTANCE, PAGE_SIZE + 1)
    return values if backend == "postgresql" else _sqlite_params(values)


# ---------------------------------------------------------------------------- one backend


@contextmanager
def benchmark_database(backend: str, args: argparse.Namespace) -> Iterator[Database]:
    if backend == "postgresql":
        with postgres_database(args.postgres_dsn, keep=args.keep) as database:
            yield database
    else:
        with sqlite_database(Path(args.sqlite_dir), keep=args.keep) as database:
            yield database


def run_backend(backend: str, args: argparse.Namespace) -> None:
    from cityhelix.db.migrate import upgrade
    from cityhelix.pillars import SCHEMA

    print(f"\n## {backend}: {args.observations:,} Observations, {machine_load()}")
    logs = Path(args.log_dir)
    with benchmark_database(backend, args) as database:
        started = time.perf_counter()
        upgrade(database.url, SCHEMA)
        print(f"migrations: {time.perf_counter() - started:.1f} s")
        with cityhelix_process(database, logs / f"cityhelix-{backend}.log") as server:
            city, timings = asyncio.run(
                build_city(database, server, args.observations, args.things, args.streams)
            )
            total = city.per_stream * len(city.streams)
            for step, seconds in timings.items():
                print(f"load: {step}: {seconds:.1f} s")
            print(f"loaded {total:,} Observations in {len(city.streams)} Datastreams")
            with bare_served(database, logs / f"bare-{backend}.log") as bare:
                asyncio.run(_measure_all(database, server, bare, city, args))


async def _measure_all(
    database: Database, server: Served, bare: Served, city: City, args: argparse.Namespace
) -> None:
    fetch: Fetch = (
        await PostgresFetch.connect(database.raw, pool=False)
        if database.backend == "postgresql"
        else SqliteFetch(database.raw)
    )
    try:
        print("loaded rows vs API rows:", await rows_alike(database, city.streams[0]))
        queries = build_queries(city, args.warmup + args.requests, args.seed)
        measured: list[Measured] = []
        async with keep_alive_client(server.url) as ours, keep_alive_client(bare.url) as reference:
            for query in queries:
                result = await measure(query, ours, reference, fetch, args.warmup)
                measured.append(result)
                print(f"measured {query.key} ({query.title}): {_short(result)}")
            print_results(database.backend, measured, args)
            if args.py_spy:
                await profile_ours(server, ours, queries, measured, args)
        if args.explain:
            await explain_report(database, queries, measured)
    finally:
        await fetch.close()


def _short(result: Measured) -> str:
    def p50(series: Latency | None) -> str:
        return f"{series.p50_ms:.2f}" if series else "-"

    ours = p50(result.ours) if result.ours_refused is None else "refused"
    return f"p50 ours {ours} / bare {p50(result.bare)} / raw {p50(result.raw)} ms"


def print_results(backend: str, measured: list[Measured], args: argparse.Namespace) -> None:
    print(f"\n### Results, {backend} ({machine_load()}, N={args.requests} after {args.warmup})")
    rows: list[list[object]] = []
    nan = float("nan")
    for m in measured:
        ours, bare, raw = m.ours, m.bare, m.raw
        assert bare is not None and raw is not None
        o50 = ours.p50_ms if ours else nan
        o95 = ours.p95_ms if ours else nan
        over_bare = ratio(o50, bare.p50_ms)
        if m.ours_refused is not None:
            goal = "not served yet"
        elif m.same_answer != "same JSON":
            goal = "answer differs"
        else:
            goal = "met" if over_bare <= GOAL else "MISSED"
        rows.append(
            [
                f"{m.query.key}. {m.query.title}",
                o50,
                o95,
                bare.p50_ms,
                bare.p95_ms,
                raw.p50_ms,
                raw.p95_ms,
                over_bare,
                ratio(o95, bare.p95_ms),
                ratio(o50, raw.p50_ms),
                ratio(bare.p50_ms, raw.p50_ms),
                goal,
                PEER_P50[m.query.key],
            ]
        )
    headers = [
        "query",
        "ours p50",
        "ours p95",
        "bare p50",
        "bare p95",
        "raw p50",
        "raw p95",
        "ours/bare p50",
        "ours/bare p95",
        "ours/raw p50",
        "bare/raw p50",
        f"goal <= {GOAL}x bare",
        "istSOS4 p50",
    ]
    print("(milliseconds; ratios are ours over bare route, ours over raw SQL, bare over raw)")
    print(markdown_table(headers, rows))
    for m in measured:
        details = [f"answers: {m.same_answer}"] if m.ours_refused is None else []
        if m.ours_refused is not None:
            details.append(f"our server refused it: {m.ours_refused}")
        if m.truncated:
            details.append(f"stopped by the {MEASURE_BUDGET_S:.0f} s budget")
        floor = ", ".join(
            f"{name} min {s.min_ms:.2f} ms" for name, s in (("ours", m.ours), ("bare", m.bare)) if s
        )
        details.append(f"40 ms floor check: {floor}; " + ("; ".join(m.notes) or "no floor"))
        print(f"- {m.query.key}: " + "; ".join(details))


async def profile_ours(
    server: Served,
    client: httpx.AsyncClient,
    queries: list[Query],
    measured: list[Measured],
    args: argparse.Namespace,
) -> None:
    """py-spy the server while it answers each query it serves (after the timed runs)."""
    folder = Path(args.log_dir)
    for query, result in zip(queries, measured, strict=True):
        if result.ours_refused is not None:
            continue
        output = folder / f"profile-{server.log.stem}-{query.key}-{os.getpid()}.txt"
        with py_spy_record(args.py_spy, server.pid, output):
            for probe in query.probes[: args.requests]:
                path, params = probe.ours
                await client.get(path, params=params)
        if output.exists():
            profile = read_profile(output)
            print_profile(f"{query.key}. {query.title}", profile)


# ---------------------------------------------------------------------------- command line


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sta_queries",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--backend", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--observations", type=int, default=1_000_000, help="rows to load")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per query")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before them")
    parser.add_argument("--things", type=int, default=50, help="Things (one Location each)")
    parser.add_argument("--streams", type=int, default=2, help="Datastreams per Thing")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--postgres-dsn", default=POSTGRES_ADMIN_DSN, help="an admin DSN")
    parser.add_argument("--sqlite-dir", default=tempfile.gettempdir(), help="SQLite files here")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument(
        "--no-explain", dest="explain", action="store_false", help="skip the EXPLAIN report"
    )
    parser.add_argument(
        "--py-spy", metavar="PATH", help="py-spy binary: profile our server on each query"
    )
    # internal: this module also serves the bare route, in its own process
    parser.add_argument("--serve-bare-route", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-database", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.observations < 1 or arguments.requests < 1 or arguments.warmup < 0:
        parser.error("--observations and --requests must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    if args.serve_bare_route is not None:
        serve_bare_route(args.backend, args.bare_database, args.serve_bare_route)
        return
    started = time.perf_counter()
    print(f"# STA query benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("command:", " ".join([Path(sys.executable).name, "-m", "benchmarks.sta_queries"]))
    print("arguments:", " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)")
    print("code under test:", code_under_test())
    backends = ("postgresql", "sqlite") if args.backend == "both" else (args.backend,)
    for backend in backends:
        run_backend(backend, args)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, {machine_load()}")


if __name__ == "__main__":
    main()
