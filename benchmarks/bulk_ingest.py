"""Bulk ingest into PostgreSQL: `POST /v1.1/CreateObservations` against a bare COPY (issue 5).

DataArray requests of 10,000 rows (components phenomenonTime, result) go to a real
`cityhelix serve` process; the same rows go into the same table by asyncpg
`copy_records_to_table` and through a bare HTTP route (hand-written: orjson, one COPY, the
same links back, same uvicorn setup), batch for batch, interleaved in the same run.
Goal: rows/s over our HTTP API at least half of COPY's.

Run from the repository root: `.venv/bin/python -m benchmarks.bulk_ingest --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from benchmarks.common import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    POSTGRES_ADMIN_DSN,
    STEP,
    Database,
    Served,
    cityhelix_served,
    code_under_test,
    create_city,
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
)
from fastapi import FastAPI, Request
from fastapi.responses import Response

REPOSITORY = Path(__file__).resolve().parents[1]
GOAL = 0.5  # HTTP rows/s at least half of COPY's
PEER_ROWS_PER_S = 18_300  # istSOS4's bulk endpoint on a peer here (standards.md)
PEER_COPY_ROWS_PER_S = 213_000  # and raw COPY on that machine
COMPONENTS = ["phenomenonTime", "result"]
PATHS = ("ours", "bare", "copy")
#: the columns CreateObservations fills for a float result (result_json: a JSON null)
COPY_COLUMNS = (
    "phenomenon_time_start",
    "result_type",
    "result_number",
    "result_json",
    "datastream_id",
    "feature_of_interest_id",
)
REQUEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Batch:
    """One request's worth of readings, for each path: its Datastream and HTTP body."""

    streams: dict[str, int]  # path -> the Datastream it writes to (three of one Thing)
    bodies: dict[str, bytes]  # "ours" and "bare" -> the DataArray request
    rows: list[tuple[datetime, float]]


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    rows: int = 0

    @property
    def total_s(self) -> float:
        return sum(self.seconds)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.total_s if self.total_s else math.nan


@dataclass(frozen=True)
class City:
    """The Datastreams of each path, and what the API did with one first reading each.

    Every Thing also has a fourth Datastream that gets one reading through the API before
    the timed run: the API generates the Thing's FeatureOfInterest from its Location (all
    paths then reuse it) and shows how it stores a numeric result's `result_json` (SQL NULL
    or a JSON null), which the bare route and COPY then write alike.
    """

    triplets: list[dict[str, int]]
    feature_by_stream: dict[int, int]  # ours-path Datastream -> its Thing's feature
    result_json: str | None

    def feature(self, batch: Batch) -> int:
        return self.feature_by_stream[batch.streams["ours"]]


async def prepare_city(server: Served, database: Database, args: argparse.Namespace) -> City:
    async with keep_alive_client(server.url) as client:
        client.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
        streams = await create_city(client, args.things, len(PATHS) + 1, seed=args.seed)
        width = len(PATHS) + 1
        groups = [streams[i : i + width] for i in range(0, len(streams), width)]
        first = [group[-1] for group in groups]
        await post_first_readings(client, first, first_reading_time(1) - STEP)
    connection = await asyncpg.connect(database.raw)
    try:
        rows = await connection.fetch(
            "SELECT datastream_id, feature_of_interest_id, result_json IS NULL "
            "FROM observations WHERE datastream_id = ANY($1::bigint[])",
            first,
        )
    finally:
        await connection.close()
    feature_of_first = {r[0]: r[1] for r in rows}
    triplets = [dict(zip(PATHS, group[:-1], strict=True)) for group in groups]
    return City(
        triplets,
        {t["ours"]: feature_of_first[g[-1]] for t, g in zip(triplets, groups, strict=True)},
        None if all(r[2] for r in rows) else "null",
    )


def data_array(stream: int, rows: list[tuple[datetime, float]]) -> bytes:
    group = {
        "Datastream": {"@iot.id": stream},
        "components": COMPONENTS,
        "dataArray": [[iso(moment), value] for moment, value in rows],
    }
    return orjson.dumps([group])


def build_batches(triplets: list[dict[str, int]], total_rows: int, batch_rows: int) -> list[Batch]:
    """`total_rows` readings in batches of `batch_rows`, round-robin over the Things.

    Each Datastream's readings follow each other every STEP and end about now, so they
    land in the current month's partition as live readings would.
    """
    batches_total = max(1, total_rows // batch_rows)
    per_stream_batches = -(-batches_total // len(triplets))
    epoch = first_reading_time(per_stream_batches * batch_rows)
    batches: list[Batch] = []
    for number in range(batches_total):
        index = number % len(triplets)
        streams = triplets[index]
        first_step = (number // len(triplets)) * batch_rows
        rows = [
            (epoch + (first_step + k) * STEP, reading(index, first_step + k))
            for k in range(batch_rows)
        ]
        bodies = {path: data_array(streams[path], rows) for path in ("ours", "bare")}
        batches.append(Batch(streams, bodies, rows))
    return batches


async def post_batch(client: httpx.AsyncClient, path: str, batch: Batch) -> float:
    """POST one DataArray request; its duration. Every row must be answered with a link."""
    headers = {"Content-Type": "application/json", **ADMIN_HEADERS}
    url = "/v1.1/CreateObservations" if path == "ours" else "/bare/CreateObservations"
    begun = time.perf_counter()
    response = await client.post(url, content=batch.bodies[path], headers=headers)
    elapsed = time.perf_counter() - begun
    if response.status_code != 201:
        raise RuntimeError(f"{url}: HTTP {response.status_code} {response.text[:300]}")
    answers = orjson.loads(response.content)
    refused = sum(1 for a in answers if a == "error")
    if refused or len(answers) != len(batch.rows):
        raise RuntimeError(f"{url} refused {refused} of {len(batch.rows)} rows")
    return elapsed


async def copy_batch(connection: asyncpg.Connection, batch: Batch, city: City) -> float:
    """COPY the batch's rows (into the COPY path's Datastream); its duration."""
    stream, feature, result_json = batch.streams["copy"], city.feature(batch), city.result_json
    records = [(moment, 1, value, result_json, stream, feature) for moment, value in batch.rows]
    begun = time.perf_counter()
    await connection.copy_records_to_table("observations", records=records, columns=COPY_COLUMNS)
    return time.perf_counter() - begun


# ---------------------------------------------------------------------------- the bare route
# Hand-written, as a careful engineer would write the endpoint for this one shape: the
# same checks in kind (token, Datastream, FeatureOfInterest from the Thing's Location, each
# row's time and number), ids reserved from the sequence, one COPY, the Datastream's
# phenomenonTime folded in, one audit row, the same JSON list of links back.

FEATURE_OF_STREAM = (
    "SELECT f.id FROM datastreams d JOIN thing_locations tl ON tl.thing_id = d.thing_id "
    "JOIN features_of_interest f ON f.location_id = tl.location_id "
    "WHERE d.id = $1 ORDER BY tl.location_id, f.id LIMIT 1"
)
RESERVE_IDS = "SELECT nextval('observations_id_seq') FROM generate_series(1, $1)"
FOLD_TIMES = (
    "UPDATE datastreams SET "
    "phenomenon_time_start = LEAST(phenomenon_time_start, $2), "
    "phenomenon_time_end = GREATEST(phenomenon_time_end, $3) WHERE id = $1"
)
AUDIT = (
    "INSERT INTO audit_log (at, user_name, method, path, entity_type, entity_id) "
    "VALUES ($1, 'admin', 'POST', $2, NULL, NULL)"
)


def _row(row: Any, at_time: int, at_result: int) -> tuple[datetime, int, float] | None:
    """(phenomenonTime, result_type, result_number) of a valid row, else None."""
    try:
        moment = datetime.fromisoformat(row[at_time])
        value = row[at_result]
    except (ValueError, TypeError, IndexError):
        return None
    if moment.tzinfo is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return moment.astimezone(UTC), 0 if isinstance(value, int) else 1, float(value)


def bare_app(dsn: str, result_json: str | None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        try:
            yield
        finally:
            await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/bare/CreateObservations")
    async def create_observations(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {ADMIN_TOKEN}":
            return Response(status_code=401)
        groups = orjson.loads(await request.body())
        base = str(request.base_url).rstrip("/") + "/v1.1"
        answers: list[str] = []
        async with request.app.state.pool.acquire() as connection, connection.transaction():
            for group in groups:
                stream = group["Datastream"]["@iot.id"]
                feature = await connection.fetchval(FEATURE_OF_STREAM, stream)
                if feature is None:
                    return Response(b'"no FeatureOfInterest"', status_code=400)
                components = group["components"]
                at_time, at_result = components.index("phenomenonTime"), components.index("result")
                parsed = [_row(row, at_time, at_result) for row in group["dataArray"]]
                valid = [p for p in parsed if p is not None]
                ids = [r[0] for r in await connection.fetch(RESERVE_IDS, len(valid))]
                records = [
                    (i, moment, kind, number, result_json, stream, feature)
                    for i, (moment, kind, number) in zip(ids, valid, strict=True)
                ]
                await connection.copy_records_to_table(
                    "observations", records=records, columns=("id", *COPY_COLUMNS)
                )
                if valid:
                    times = [v[0] for v in valid]
                    await connection.execute(FOLD_TIMES, stream, min(times), max(times))
                links = iter(ids)
                answers += [
                    "error" if p is None else f"{base}/Observations({next(links)})" for p in parsed
                ]
            await connection.execute(AUDIT, datetime.now(UTC), request.url.path)
        return Response(orjson.dumps(answers), status_code=201, media_type="application/json")

    return app


def serve_bare_route(dsn: str, port: int, result_json: str | None) -> None:
    """Serve `bare_app` exactly as `cityhelix serve` serves ours (uvicorn.run, one worker)."""
    import uvicorn

    uvicorn.run(bare_app(dsn, result_json), host="127.0.0.1", port=port, log_level="info")


@contextmanager
def bare_served(database: Database, log: Path, result_json: str | None) -> Iterator[Served]:
    port = free_port()
    argv = [sys.executable, "-m", "benchmarks.bulk_ingest", "--serve-bare-route", str(port)]
    argv += ["--bare-database", database.raw, "--bare-result-json", result_json or "SQL NULL"]
    with served(argv, port, log, server_env(PYTHONPATH=python_path(REPOSITORY))) as server:
        yield server


# ---------------------------------------------------------------------------- the run


async def run(
    database: Database, server: Served, bare: Served, city: City, args: argparse.Namespace
) -> None:
    async with (
        keep_alive_client(server.url, args.concurrency) as ours,
        keep_alive_client(bare.url, args.concurrency) as reference,
    ):
        ours.timeout = reference.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
        started = time.perf_counter()
        batches = build_batches(city.triplets, args.rows, args.batch)
        print(f"built {len(batches)} request bodies in {time.perf_counter() - started:.1f} s")
        connections = [await asyncpg.connect(database.raw) for _ in range(args.concurrency)]
        try:
            clients = {"ours": ours, "bare": reference}
            timings = await interleave(clients, connections, batches, city, args)
            print_results(timings, args)
            await check_written(connections[0], batches, timings)
            if args.py_spy:
                await profile(server, ours, batches, args)
        finally:
            for connection in connections:
                await connection.close()


async def interleave(
    clients: dict[str, httpx.AsyncClient],
    connections: list[asyncpg.Connection],
    batches: list[Batch],
    city: City,
    args: argparse.Namespace,
) -> dict[str, Timings]:
    """The three paths wave by wave (a wave is `--concurrency` batches in parallel).

    Interleaving, in an order that rotates from wave to wave, gives all three the same
    table size, cache and autovacuum weather.
    """
    timings = {path: Timings() for path in PATHS}
    started = time.monotonic()
    for wave_number, first in enumerate(range(0, len(batches), args.concurrency)):
        if time.monotonic() - started > args.budget:
            print(f"stopped by the {args.budget:.0f} s budget after {wave_number} waves")
            break
        wave = batches[first : first + args.concurrency]
        shift = wave_number % len(PATHS)
        line = []
        for path in PATHS[shift:] + PATHS[:shift]:
            if path == "copy":
                jobs = [
                    copy_batch(connection, b, city)
                    for connection, b in zip(connections, wave, strict=False)
                ]
            else:
                jobs = [post_batch(clients[path], path, b) for b in wave]
            begun = time.perf_counter()
            await asyncio.gather(*jobs)
            timings[path].seconds.append(time.perf_counter() - begun)
            timings[path].rows += sum(len(b.rows) for b in wave)
            line.append(f"{path} {timings[path].seconds[-1] * 1000:.0f} ms")
        print(f"  wave {wave_number + 1}: " + ", ".join(line))
    return timings


def print_results(timings: dict[str, Timings], args: argparse.Namespace) -> None:
    ours, bare, copy = (timings[p] for p in PATHS)
    unit = f"{args.batch * args.concurrency:,}"
    rows: list[list[object]] = []
    for name, series in (
        ("POST /v1.1/CreateObservations (ours)", ours),
        ("bare HTTP route: orjson + one COPY", bare),
        ("asyncpg copy_records_to_table (bare COPY)", copy),
    ):
        rows.append(
            [
                name,
                f"{series.rows:,}",
                series.total_s,
                series.rows_per_s,
                latency(series.seconds).p50_ms,
                ratio(series.rows_per_s, copy.rows_per_s),
                ratio(series.rows_per_s, bare.rows_per_s),
            ]
        )
    rows.append(
        [
            "istSOS4 bulk endpoint, peer (standards.md)",
            "1,000,000",
            "",
            float(PEER_ROWS_PER_S),
            "",
            ratio(PEER_ROWS_PER_S, PEER_COPY_ROWS_PER_S),
            "",
        ]
    )
    headers = ["path", "rows", "seconds", "rows/s", f"p50 ms per {unit} rows"]
    headers += ["share of COPY", "share of bare route"]
    print(f"\n### Results ({machine_load()}, {args.concurrency} request(s) in flight)")
    print(markdown_table(headers, rows))
    share = ratio(ours.rows_per_s, copy.rows_per_s)
    verdict = "met" if share >= GOAL else "MISSED"
    print(f"goal: ours >= {GOAL} x COPY: {verdict} ({share:.2f})")
    print(f"ours against the istSOS4 peer figure: {ratio(ours.rows_per_s, PEER_ROWS_PER_S):.1f}x")


async def check_written(
    connection: asyncpg.Connection, batches: list[Batch], timings: dict[str, Timings]
) -> None:
    """Each path wrote every row it was given; the HTTP paths derived phenomenonTime."""
    for path in PATHS:
        written = await connection.fetchval(
            "SELECT count(*) FROM observations WHERE datastream_id = ANY($1::bigint[])",
            sorted({b.streams[path] for b in batches}),
        )
        print(f"check: {path}: {written:,} rows stored for {timings[path].rows:,} sent")
    wrong = await connection.fetchval(
        "SELECT count(*) FROM datastreams d, LATERAL (SELECT min(phenomenon_time_start) AS low, "
        "max(phenomenon_time_start) AS high FROM observations o WHERE o.datastream_id = d.id) r "
        "WHERE d.id = ANY($1::bigint[]) AND (d.phenomenon_time_start IS DISTINCT FROM r.low "
        "OR d.phenomenon_time_end IS DISTINCT FROM r.high)",
        sorted({b.streams[p] for b in batches for p in ("ours", "bare")}),
    )
    print("check: Datastream phenomenonTime " + (f"{wrong} WRONG" if wrong else "as derived"))
    first = batches[0].streams
    ours = (await postgres_row_shapes(connection, first["ours"], 1))[0]
    for path in ("bare", "copy"):
        other = (await postgres_row_shapes(connection, first[path], 1))[0]
        differing = shape_differences(ours, other)
        print(f"check: {path} rows vs ours: " + ("; ".join(differing) or "same NULLs and types"))


async def profile(
    server: Served, client: httpx.AsyncClient, batches: list[Batch], args: argparse.Namespace
) -> None:
    """py-spy the server over a few more requests (after the timed run, not during it)."""
    output = Path(args.log_dir) / f"profile-ingest-{int(time.time())}.txt"
    extra = batches[: max(1, min(len(batches), args.profile_requests))]
    with py_spy_record(args.py_spy, server.pid, output):
        for batch in extra:
            await post_batch(client, "ours", batch)
    if output.exists():
        title = f"CreateObservations, {len(extra)} requests of {args.batch:,} rows"
        print_profile(title, read_profile(output))


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bulk_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=500_000, help="rows per path")
    parser.add_argument("--batch", type=int, default=10_000, help="rows per request")
    parser.add_argument("--things", type=int, default=5, help="Things (4 Datastreams each)")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds before stopping")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-dsn", default=POSTGRES_ADMIN_DSN, help="an admin DSN")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--pillars", default="", help="the server's CITYHELIX_PILLARS (e.g. hub); empty: all"
    )
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: profile our server")
    parser.add_argument("--profile-requests", type=int, default=10, help="requests to profile")
    # internal: this module also serves the bare route, in its own process
    parser.add_argument("--serve-bare-route", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--bare-database", help=argparse.SUPPRESS)
    parser.add_argument("--bare-result-json", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.rows < 1 or arguments.batch < 1 or arguments.concurrency < 1:
        parser.error("--rows, --batch and --concurrency must be positive")
    return arguments


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    if args.serve_bare_route is not None:
        result_json = None if args.bare_result_json == "SQL NULL" else args.bare_result_json
        serve_bare_route(args.bare_database, args.serve_bare_route, result_json)
        return
    from cityhelix.db.migrate import upgrade
    from cityhelix.pillars import SCHEMA

    started = time.perf_counter()
    print(f"# Bulk ingest benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("arguments:", " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)")
    print("code under test:", code_under_test())
    print(f"{args.rows:,} rows per path in requests of {args.batch:,}; {machine_load()}")
    logs = Path(args.log_dir)
    with postgres_database(args.postgres_dsn, keep=args.keep) as database:
        upgrade(database.url, SCHEMA)
        with cityhelix_served(database, logs / "cityhelix-ingest.log", args.pillars) as server:
            city = asyncio.run(prepare_city(server, database, args))
            shown = "SQL NULL" if city.result_json is None else "a JSON null"
            print(f"{args.things} Things, a Datastream per path each; result_json: {shown}")
            with bare_served(database, logs / "bare-ingest.log", city.result_json) as bare:
                asyncio.run(run(database, server, bare, city, args))
    print(f"\ntotal {time.perf_counter() - started:.0f} s, {machine_load()}")


if __name__ == "__main__":
    main()
