"""A year chart from rollups against a GROUP BY over the raw rows, on PostgreSQL (issue 5).

One Datastream holds a year of 10-second readings (3,153,600 rows by default, loaded by
COPY into the hub's monthly partitions; rollups built by the hub's own backfill). Timed,
interleaved:
`GET /api/hub/datastreams/{id}/aggregates?interval=1h` over the year through a real
`cityhelix serve`, against `GROUP BY date_trunc('hour', ...)` over the raw rows in SQL
(asyncpg); both answers are compared bucket by bucket.

Run from the repository root: `.venv/bin/python -m benchmarks.year_chart --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from benchmarks.common import (
    ADMIN_HEADERS,
    POSTGRES_ADMIN_DSN,
    STEP,
    Database,
    Served,
    cityhelix_served,
    code_under_test,
    create_city,
    iso,
    keep_alive_client,
    latency,
    machine_load,
    markdown_table,
    post_first_readings,
    postgres_database,
    ratio,
    reading,
)

PER_DAY = 86_400 // int(STEP.total_seconds())  # 10-second readings a day
LOADED_COLUMNS = (
    "phenomenon_time_start",
    "result_type",  # 1: a float, as the API stores the JSON floats of `reading`
    "result_number",
    "result_json",
    "datastream_id",
    "feature_of_interest_id",
)
#: the raw answer: what the rollups must equal, "last" by the greatest (time, id)
RAW_WITH_LAST = """
SELECT date_trunc('hour', phenomenon_time_start, 'UTC') AS bucket, count(*),
       min(result_number), max(result_number), sum(result_number),
       (array_agg(result_number ORDER BY phenomenon_time_start DESC, id DESC))[1]
FROM observations
WHERE datastream_id = $1 AND result_number IS NOT NULL
  AND phenomenon_time_start >= $2 AND phenomenon_time_start < $3
GROUP BY 1 ORDER BY 1
"""
#: the plain GROUP BY a chart would run without rollups (no "last")
RAW_GROUP_BY = """
SELECT date_trunc('hour', phenomenon_time_start, 'UTC') AS bucket, count(*),
       min(result_number), max(result_number), sum(result_number)
FROM observations
WHERE datastream_id = $1 AND result_number IS NOT NULL
  AND phenomenon_time_start >= $2 AND phenomenon_time_start < $3
GROUP BY 1 ORDER BY 1
"""
#: the rollup rows behind our answer, read by the raw driver (no HTTP, no JSON)
ROLLUP_ROWS = """
SELECT bucket_start, count, min, max, sum, last FROM observation_rollups
WHERE datastream_id = $1 AND interval = '1h' AND bucket_start >= $2 AND bucket_start < $3
ORDER BY bucket_start
"""
PATHS = ("ours", "rollup SQL", "raw GROUP BY", "raw GROUP BY + last")


def year_start(days: int) -> datetime:
    """The UTC day `days` before today: the year ends about now, as live data would."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


async def make_partitions(database: Database, start: datetime, months: int) -> None:
    """The hub's monthly partitions for the whole year, made by its own maintenance."""
    from sqlalchemy.ext.asyncio import create_async_engine

    import cityhelix.app  # noqa: F401  (registers every table the hub's metadata links to)
    from cityhelix.db.partitions import maintain

    engine = create_async_engine(database.url)
    try:
        report = await maintain(engine, now=start, months_ahead=months)
    finally:
        await engine.dispose()
    print(f"partitions made: {len(report.created) + len(report.split_out)}")


def records(
    stream: int, feature: int, start: datetime, readings: int, json_null: str | None
) -> Iterator[Any]:
    for step in range(1, readings):  # step 0 came through the API
        yield start + step * STEP, 1, reading(0, step), json_null, stream, feature


async def load(database: Database, stream: int, start: datetime, readings: int) -> dict[str, float]:
    """COPY the year (FK triggers off: the ids are the API's own), then the hub's backfill."""
    timings: dict[str, float] = {}
    connection = await asyncpg.connect(database.raw)
    try:
        feature, json_is_null = await connection.fetchrow(
            "SELECT feature_of_interest_id, result_json IS NULL FROM observations "
            "WHERE datastream_id = $1",
            stream,
        )
        began = time.perf_counter()
        async with connection.transaction():
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.copy_records_to_table(
                "observations",
                records=records(stream, feature, start, readings, None if json_is_null else "null"),
                columns=LOADED_COLUMNS,
            )
            await connection.execute(
                "UPDATE datastreams SET phenomenon_time_end = $1 WHERE id = $2",
                start + (readings - 1) * STEP,
                stream,
            )
        timings[f"COPY {readings - 1:,} observations"] = time.perf_counter() - began
        began = time.perf_counter()
        await connection.execute("VACUUM ANALYZE observations")
        timings["VACUUM ANALYZE observations"] = time.perf_counter() - began
    finally:
        await connection.close()
    timings["rollups by the hub's backfill"] = await backfill(database, stream)
    return timings


async def backfill(database: Database, stream: int) -> float:
    """Drop the rollups the first reading made and build all of them with `backfill_sync`."""
    from sqlalchemy import delete
    from sqlalchemy.ext.asyncio import create_async_engine

    import cityhelix.app  # noqa: F401
    from cityhelix.hub.rollup_tables import observation_rollups
    from cityhelix.hub.rollups import backfill_sync

    engine = create_async_engine(database.url)
    try:
        began = time.perf_counter()
        async with engine.begin() as connection:
            await connection.execute(
                delete(observation_rollups).where(observation_rollups.c.datastream_id == stream)
            )
            await connection.run_sync(backfill_sync, stream)
        elapsed = time.perf_counter() - began
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE observation_rollups")
    finally:
        await engine.dispose()
    return elapsed


async def timed(
    server: Served, database: Database, stream: int, start: datetime, args: argparse.Namespace
) -> tuple[dict[str, list[float]], list[Any], list[Any]]:
    """Each path `--requests` times after one untimed round, in a rotating order."""
    end = start + timedelta(days=args.days)
    params = {"interval": "1h", "start": iso(start), "end": iso(end)}
    url = f"/api/hub/datastreams/{stream}/aggregates"
    seconds: dict[str, list[float]] = {path: [] for path in PATHS}
    ours: list[Any] = []
    raw: list[Any] = []
    connection = await asyncpg.connect(database.raw)
    async with keep_alive_client(server.url) as client:
        client.timeout = httpx.Timeout(300.0)

        async def run(path: str, number: int) -> None:
            nonlocal ours, raw
            began = time.perf_counter()
            if path == "ours":
                response = await client.get(url, params=params, headers=ADMIN_HEADERS)
                response.raise_for_status()
                ours = orjson.loads(response.content)["value"]
            elif path == "rollup SQL":
                await connection.fetch(ROLLUP_ROWS, stream, start, end)
            elif path == "raw GROUP BY":
                await connection.fetch(RAW_GROUP_BY, stream, start, end)
            else:
                raw = await connection.fetch(RAW_WITH_LAST, stream, start, end)
            if number >= 0:
                seconds[path].append(time.perf_counter() - began)

        try:
            for number in range(-1, args.requests):
                shift = number % len(PATHS)
                for path in PATHS[shift:] + PATHS[:shift]:
                    await run(path, number)
        finally:
            await connection.close()
    return seconds, ours, raw


def compare(ours: list[Any], raw: list[Any]) -> str:
    """Bucket by bucket: count, min, max and last exactly; sum and mean to 1e-12 relative
    (the rollups add minutes, the GROUP BY rows, in other orders)."""
    if len(ours) != len(raw):
        return f"DIFFER: {len(ours)} buckets served, {len(raw)} by SQL"
    worst = 0.0
    for bucket, row in zip(ours, raw, strict=True):
        when, count, low, high, total, last = row
        exact = (bucket["start"], bucket["count"], bucket["min"], bucket["max"], bucket["last"])
        if exact != (iso(when.astimezone(UTC)), count, low, high, last):
            return f"DIFFER at {bucket['start']}: {bucket} vs {tuple(row)}"
        for served, expected in ((bucket["sum"], total), (bucket["mean"], total / count)):
            worst = max(worst, abs(served - expected) / max(abs(expected), 1e-300))
    verdict = "equal" if worst <= 1e-12 else "DIFFER"
    return f"{verdict}: {len(ours):,} buckets; largest relative difference of sum/mean {worst:.1e}"


def print_results(seconds: dict[str, list[float]]) -> None:
    series = {path: latency(values) for path, values in seconds.items()}
    base = series["ours"]
    rows: list[list[object]] = []
    for path, found in series.items():
        rows.append(
            [
                path,
                found.n,
                found.p50_ms,
                found.p95_ms,
                found.min_ms,
                ratio(found.p50_ms, base.p50_ms),
            ]
        )
    print(f"\n### Results ({machine_load()})")
    print(markdown_table(["path", "N", "p50 ms", "p95 ms", "min ms", "p50 / ours p50"], rows))
    speedup = ratio(series["raw GROUP BY"].p50_ms, base.p50_ms)
    print(f"raw GROUP BY p50 / ours p50: {speedup:.1f}x" if not math.isnan(speedup) else "")


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.year_chart",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=15, help="timed requests per path")
    parser.add_argument("--days", type=int, default=365, help="days of readings to chart")
    parser.add_argument("--postgres-dsn", default=POSTGRES_ADMIN_DSN, help="an admin DSN")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.days < 1:
        parser.error("--requests and --days must be positive")
    return args


async def prepare(server: Served, start: datetime) -> int:
    """One Thing with one Datastream through the API, and its first reading at `start`."""
    async with keep_alive_client(server.url) as client:
        (stream,) = await create_city(client, 1, 1)
        await post_first_readings(client, [stream], start)
    return stream


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    from cityhelix.db.migrate import upgrade
    from cityhelix.pillars import SCHEMA

    began = time.perf_counter()
    print(f"# Year chart benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("arguments:", " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)")
    print("code under test:", code_under_test())
    print(machine_load())
    start = year_start(args.days)
    with postgres_database(args.postgres_dsn, keep=args.keep) as database:
        upgrade(database.url, SCHEMA)
        asyncio.run(make_partitions(database, start, args.days // 28 + 2))
        with cityhelix_served(database, Path(args.log_dir) / "cityhelix-year.log") as server:
            stream = asyncio.run(prepare(server, start))
            loaded = asyncio.run(load(database, stream, start, args.days * PER_DAY))
            for step, took in loaded.items():
                print(f"load: {step}: {took:.1f} s")
            seconds, ours, raw = asyncio.run(timed(server, database, stream, start, args))
        print_results(seconds)
        print("check: ours vs raw GROUP BY + last:", compare(ours, raw))
    print(f"\ntotal {time.perf_counter() - began:.0f} s, {machine_load()}")


if __name__ == "__main__":
    main()
