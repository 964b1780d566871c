"""`$batch` with one atomicity group of 1,000 Observation POSTs, against a DataArray (issue 17).

The same 1,000 readings go to a real `cityhelix serve` process three ways, interleaved
round by round: one JSON `$batch` whose requests share one atomicity group, the same as
multipart/mixed with one changeset, and one `POST /v1.1/CreateObservations` (DataArray),
the reference. Goal: the batch path proportionate, within a small factor of the DataArray.

Run from the repository root: `.venv/bin/python -m benchmarks.batch_group --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchmarks.common import (
    ADMIN_HEADERS,
    POSTGRES_ADMIN_DSN,
    STEP,
    Database,
    cityhelix_served,
    code_under_test,
    create_city,
    first_reading_time,
    iso,
    keep_alive_client,
    latency,
    machine_load,
    markdown_table,
    post_first_readings,
    postgres_database,
    print_profile,
    py_spy_record,
    read_profile,
    reading,
    sqlite_database,
)

PATHS = ("json batch", "multipart batch", "DataArray")
GOAL = 5.0  # a group's batch within 5x the DataArray of the same rows
REQUEST_TIMEOUT_S = 120.0


def json_batch(stream_id: int, start: datetime, rows: int) -> dict[str, Any]:
    """`rows` Observation POSTs in one atomicity group, the first a `$`-reference target."""
    return {
        "requests": [
            {
                "id": f"r{i}",
                "atomicityGroup": "g",
                "method": "post",
                "url": "Observations",
                "body": {
                    "phenomenonTime": iso(start + i * STEP),
                    "result": reading(0, i),
                    "Datastream": {"@iot.id": stream_id},
                },
            }
            for i in range(rows)
        ]
    }


def multipart_batch(stream_id: int, start: datetime, rows: int) -> tuple[str, bytes]:
    """The same readings as one multipart/mixed changeset (OGC 18-088 clause 11)."""
    parts = []
    for i in range(rows):
        body = orjson.dumps(
            {
                "phenomenonTime": iso(start + i * STEP),
                "result": reading(0, i),
                "Datastream": {"@iot.id": stream_id},
            }
        ).decode()
        parts.append(
            "--changeset_c\r\nContent-Type: application/http\r\n"
            f"Content-ID: {i + 1}\r\n\r\n"
            "POST /v1.1/Observations HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
            f"{body}\r\n"
        )
    changeset = "".join(parts) + "--changeset_c--\r\n"
    text = (
        "--batch_b\r\nContent-Type: multipart/mixed; boundary=changeset_c\r\n\r\n"
        f"{changeset}\r\n--batch_b--\r\n"
    )
    return "multipart/mixed; boundary=batch_b", text.encode()


def data_array(stream_id: int, start: datetime, rows: int) -> list[dict[str, Any]]:
    return [
        {
            "Datastream": {"@iot.id": stream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": [[iso(start + i * STEP), reading(0, i)] for i in range(rows)],
        }
    ]


async def one_round(
    client: httpx.AsyncClient, path: str, stream_id: int, start: datetime, rows: int
) -> float:
    """Seconds for one request of `rows` readings by `path`; checks every row was taken."""
    began = time.perf_counter()
    if path == "json batch":
        response = await client.post(
            "/v1.1/$batch", json=json_batch(stream_id, start, rows), headers=ADMIN_HEADERS
        )
        elapsed = time.perf_counter() - began
        statuses = [item["status"] for item in response.json()["responses"]]
        ok = response.status_code == 200 and statuses == [201] * rows
    elif path == "multipart batch":
        media_type, body = multipart_batch(stream_id, start, rows)
        response = await client.post(
            "/v1.1/$batch",
            content=body,
            headers={**ADMIN_HEADERS, "Content-Type": media_type},
        )
        elapsed = time.perf_counter() - began
        ok = response.status_code == 200 and response.text.count("HTTP/1.1 201") == rows
    else:
        response = await client.post(
            "/v1.1/CreateObservations",
            json=data_array(stream_id, start, rows),
            headers=ADMIN_HEADERS,
        )
        elapsed = time.perf_counter() - began
        ok = response.status_code == 201 and "error" not in response.json()
    if not ok:
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:500]}")
    return elapsed


async def measure(
    database: Database, rows: int, rounds: int, py_spy: str | None, work: Path
) -> list[list[object]]:
    with cityhelix_served(database, work / f"serve-{database.backend}.log") as server:
        async with keep_alive_client(server.url) as client:
            client.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
            streams = await create_city(client, things=1, streams_per_thing=len(PATHS))
            epoch = first_reading_time(rows * (rounds + 2) * 2)
            await post_first_readings(client, streams, epoch)
            samples: dict[str, list[float]] = {p: [] for p in PATHS}
            for round_index in range(rounds + 1):  # round 0 warms up
                order = PATHS[round_index % 3 :] + PATHS[: round_index % 3]
                for path in order:
                    stream = streams[PATHS.index(path)]
                    start = epoch + STEP * (1 + round_index * rows)
                    seconds = await one_round(client, path, stream, start, rows)
                    if round_index:
                        samples[path].append(seconds)
            if py_spy:
                out = work / f"batch-{database.backend}.txt"
                with py_spy_record(py_spy, server.pid, out):
                    start = epoch + STEP * (1 + (rounds + 1) * rows)
                    await one_round(client, "json batch", streams[0], start, rows)
                print_profile(f"JSON $batch group, {database.backend}", read_profile(out))
    reference = latency(samples["DataArray"])
    table = []
    for path in PATHS:
        series = latency(samples[path])
        table.append(
            [
                database.backend,
                path,
                series.n,
                series.p50_ms,
                series.p95_ms,
                series.p50_ms / reference.p50_ms,
            ]
        )
    return table


@contextmanager
def database_for(backend: str, folder: Path) -> Iterator[Database]:
    if backend == "postgresql":
        with postgres_database(POSTGRES_ADMIN_DSN) as database:
            yield database
    else:
        with sqlite_database(folder) as database:
            yield database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--rows", type=int, default=1000, help="readings per request")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per path")
    parser.add_argument("--py-spy", default=None, help="py-spy binary: profile one batch")
    args = parser.parse_args()
    print(f"code under test: {code_under_test()}")
    print(f"{datetime.now():%Y-%m-%d %H:%M} local, {machine_load()}")
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    table: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="cityhelix-batch-") as scratch:
        work = Path(scratch)
        for backend in backends:
            with database_for(backend, work) as database:
                table += asyncio.run(measure(database, args.rows, args.rounds, args.py_spy, work))
    headers = ["backend", "path", "n", "p50 ms", "p95 ms", "p50 / DataArray"]
    print(markdown_table(headers, table))
    print(f"goal: a group's batch within {GOAL:g}x the DataArray; {machine_load()}")


if __name__ == "__main__":
    main()
