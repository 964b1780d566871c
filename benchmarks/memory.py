"""Resident memory of a real `cityhelix serve` on PostgreSQL while it takes 10M readings (issue 5).

A few concurrent clients push DataArray requests of 10,000 readings to
`POST /v1.1/CreateObservations`; the server's VmRSS (from /proc/PID/status) is sampled
before the first reading, after the warm-up (100,000) and at every million. Goal: the
curve stays flat once warm, i.e. nothing grows with the number of readings taken.

Run from the repository root: `.venv/bin/python -m benchmarks.memory --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import orjson
from benchmarks.common import (
    ADMIN_HEADERS,
    POSTGRES_ADMIN_DSN,
    STEP,
    Served,
    cityhelix_served,
    code_under_test,
    create_city,
    first_reading_time,
    iso,
    keep_alive_client,
    machine_load,
    markdown_table,
    postgres_database,
    reading,
)

REQUEST_TIMEOUT_S = 300.0
COMPONENTS = ["phenomenonTime", "result"]


def resident_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of `pid` in MB: resident now and the peak so far."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB -> MB
    return fields["VmRSS"], fields["VmHWM"]


@dataclass(frozen=True)
class Sample:
    label: str
    readings: int
    seconds: float
    rss_mb: float
    peak_mb: float


@dataclass
class Run:
    """What the clients share: the next request to send, the readings taken, the samples."""

    pid: int
    streams: list[int]
    per_stream: int
    batch: int
    total: int
    every: int
    warm_up: int
    started: float = field(default_factory=time.perf_counter)
    next_request: int = 0
    readings: int = 0
    samples: list[Sample] = field(default_factory=list)
    marks: list[int] = field(default_factory=list)
    epoch: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        self.marks = sorted({self.warm_up, *range(self.every, self.total + 1, self.every)})
        self.epoch = first_reading_time(self.per_stream)

    def sample(self, label: str) -> None:
        rss, peak = resident_mb(self.pid)
        elapsed = time.perf_counter() - self.started
        self.samples.append(Sample(label, self.readings, elapsed, rss, peak))
        print(f"  {label}: {self.readings:,} readings, {elapsed:.0f} s, RSS {rss:.1f} MB")

    def body(self, number: int) -> bytes:
        """Request `number`: the next `batch` readings of one Datastream, every STEP."""
        index = number % len(self.streams)
        first = (number // len(self.streams)) * self.batch
        rows = [
            [iso(self.epoch + (first + k) * STEP), reading(index, first + k)]
            for k in range(self.batch)
        ]
        group = {"Datastream": {"@iot.id": self.streams[index]}, "components": COMPONENTS}
        return orjson.dumps([group | {"dataArray": rows}])


async def client_loop(run: Run, client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json", **ADMIN_HEADERS}
    requests = run.total // run.batch
    while run.next_request < requests:
        number = run.next_request
        run.next_request += 1
        body = run.body(number)
        response = await client.post("/v1.1/CreateObservations", content=body, headers=headers)
        if response.status_code != 201 or b'"error"' in response.content:
            raise RuntimeError(
                f"request {number}: HTTP {response.status_code} {response.text[:300]}"
            )
        run.readings += run.batch
        while run.marks and run.readings >= run.marks[0]:
            mark = run.marks.pop(0)
            run.sample("after warm-up" if mark == run.warm_up else f"{mark:,}")


async def push(server: Served, database_dsn: str, args: argparse.Namespace) -> Run:
    async with keep_alive_client(server.url, args.clients) as client:
        client.timeout = httpx.Timeout(REQUEST_TIMEOUT_S)
        started = time.perf_counter()
        streams = await create_city(client, args.streams // 4, 4, seed=args.seed)
        print(f"{len(streams)} Datastreams made in {time.perf_counter() - started:.1f} s")
        per_stream = -(-args.readings // len(streams))
        run = Run(
            server.pid, streams, per_stream, args.batch, args.readings, args.every, args.warm_up
        )
        run.sample("start (city made, no reading yet)")
        await asyncio.gather(*(client_loop(run, client) for _ in range(args.clients)))
        run.sample("end")
        await asyncio.sleep(args.idle)
        run.sample(f"end + {args.idle:.0f} s idle")
    connection = await asyncpg.connect(database_dsn)
    try:
        stored = await connection.fetchval("SELECT count(*) FROM observations")
    finally:
        await connection.close()
    print(f"check: {stored:,} Observations stored for {run.readings:,} sent")
    return run


def print_results(run: Run, at_start: tuple[float, float]) -> None:
    rows: list[list[object]] = [
        ["server started", 0, 0.0, f"{at_start[0]:.1f}", f"{at_start[1]:.1f}", ""]
    ]
    previous: Sample | None = None
    for sample in run.samples:
        rate = ""
        if previous is not None and sample.readings > previous.readings:
            taken = sample.readings - previous.readings
            rate = f"{taken / (sample.seconds - previous.seconds):,.0f}"
        rows.append(
            [
                sample.label,
                f"{sample.readings:,}",
                f"{sample.seconds:.0f}",
                f"{sample.rss_mb:.1f}",
                f"{sample.peak_mb:.1f}",
                rate,
            ]
        )
        previous = sample
    headers = ["when", "readings", "seconds", "VmRSS MB", "VmHWM MB", "readings/s since last"]
    print(f"\n### Results ({machine_load()})")
    print(markdown_table(headers, rows))
    warm = next(s for s in run.samples if s.label == "after warm-up")
    end = next(s for s in run.samples if s.label == "end")
    growth = end.rss_mb - warm.rss_mb
    print(
        f"RSS before {at_start[0]:.1f} MB, after warm-up {warm.rss_mb:.1f} MB, after "
        f"{end.readings:,} readings {end.rss_mb:.1f} MB: {growth:+.1f} MB since warm-up; "
        f"{end.readings / end.seconds:,.0f} readings/s over {end.seconds:.0f} s"
    )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="readings per request")
    parser.add_argument("--clients", type=int, default=3, help="requests in flight")
    parser.add_argument("--streams", type=int, default=100, help="Datastreams (4 a Thing)")
    parser.add_argument("--every", type=int, default=1_000_000, help="readings between samples")
    parser.add_argument("--warm-up", type=int, default=100_000, help="readings before warm")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before the last")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres-dsn", default=POSTGRES_ADMIN_DSN, help="an admin DSN")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if min(args.readings, args.batch, args.clients, args.every, args.warm_up) < 1:
        parser.error("counts must be positive")
    if args.streams < 4 or args.readings % args.batch:
        parser.error("--streams must be at least 4 and --readings a multiple of --batch")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(argv)
    from cityhelix.db.migrate import upgrade
    from cityhelix.pillars import SCHEMA

    started = time.perf_counter()
    print(f"# Memory benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print("arguments:", " ".join(sys.argv[1:] if argv is None else argv) or "(defaults)")
    print("code under test:", code_under_test())
    print(f"{args.readings:,} readings in requests of {args.batch:,}, {args.clients} clients")
    print(machine_load())
    with postgres_database(args.postgres_dsn, keep=args.keep) as database:
        upgrade(database.url, SCHEMA)
        with cityhelix_served(database, Path(args.log_dir) / "cityhelix-memory.log") as server:
            at_start = resident_mb(server.pid)
            run = asyncio.run(push(server, database.raw, args))
        print_results(run, at_start)
    print(f"\ntotal {time.perf_counter() - started:.0f} s, {machine_load()}")


if __name__ == "__main__":
    main()
