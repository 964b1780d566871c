"""Trees' bulk ingest, side by side in one run: does one spend more than another?

`bulk_ingest` measures one tree per run against COPY and a bare route, and this machine's
speed drifts by 10-25 % between runs minutes apart; this script serves every tree at once,
each a real `cityhelix serve` on a PostgreSQL database of its own, and sends each in turn
the same `CreateObservations` of 10,000 rows, the order rotated every round. Per request:
the wall time to the answer, and the CPU the server process and its PostgreSQL backends
spent from the request until the next one (from `/proc`, so the work the answer set off,
such as the pillars' consumer groups, counts too).

    .venv/bin/python -m benchmarks.ingest_ab --tree B=/tmp/old/src --tree H=src \\
        --tree Hall=src: [--rounds 30]       # NAME=SRC[:PILLARS]; no ":": the hub alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import orjson
from benchmarks.common import (
    ADMIN_HEADERS,
    POSTGRES_ADMIN_DSN,
    Database,
    Served,
    create_city,
    machine_load,
    postgres_database,
    print_profile,
    py_spy_record,
    read_profile,
)
from benchmarks.read_ab import tree_served

ROWS = 10_000
#: after each answer, before the next request: the work it set off (consumer groups) ends
SETTLE_S = 0.3
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Tree:
    name: str
    src: Path
    pillars: str  # CITYHELIX_PILLARS: "hub" (the hub alone) or "" (every pillar)
    server: Served | None = None
    database: Database | None = None
    streams: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    database_cpu: list[float] = field(default_factory=list)
    #: the server's CPU over all measured rounds, the other trees' turns included (the
    #: work a write sets off after the settling time, and the idle loops, count too)
    run_cpu: float = 0.0


def parse_tree(text: str) -> Tree:
    name, _, rest = text.partition("=")
    src, colon, pillars = rest.partition(":")
    if not name or not src:
        raise argparse.ArgumentTypeError(f"--tree NAME=SRC[:PILLARS], not {text!r}")
    return Tree(name, Path(src).resolve(), pillars if colon else "hub")


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU of `pids` so far (a process gone since counts nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


async def backends(admin: asyncpg.Connection, database: Database) -> list[int]:
    """The PostgreSQL backends serving `database` now."""
    name = database.url.rsplit("/", 1)[1]
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
    return [row["pid"] for row in rows]


def body(streams: list[int], request: int, count: int) -> bytes:
    """`count` rows on one Datastream (rotating), a minute apart, unique per request."""
    stream = streams[request % len(streams)]
    start = 1_700_000_000 + request * count * 60
    rows = [
        [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + i * 60)), (i % 997) * 0.25]
        for i in range(count)
    ]
    document = [
        {"Datastream": {"@iot.id": stream}, "components": ["phenomenonTime", "result"]}
        | {"dataArray": rows}
    ]
    return orjson.dumps(document)


async def measure(args: argparse.Namespace, trees: list[Tree]) -> None:
    admin = await asyncpg.connect(args.postgres_dsn)
    clients = {}
    try:
        for tree in trees:
            assert tree.server is not None
            client = httpx.AsyncClient(base_url=tree.server.url, timeout=120)
            clients[tree.name] = client
            tree.streams = await create_city(client, 1, 4)
        headers = {**ADMIN_HEADERS, "Content-Type": "application/json"}
        profiles = ExitStack()
        for round_ in range(-2, args.rounds):  # two rounds of warm-up
            if round_ == 0:
                for tree in trees:
                    assert tree.server is not None
                    tree.run_cpu = -cpu_seconds([tree.server.pid])
            if round_ == 0 and args.py_spy:
                for tree in trees:
                    assert tree.server is not None
                    output = Path(args.log_dir) / f"ingest-ab-{tree.name}.txt"
                    profiles.enter_context(py_spy_record(args.py_spy, tree.server.pid, output))
            shift = round_ % len(trees)
            for tree in trees[shift:] + trees[:shift]:
                assert tree.server is not None and tree.database is not None
                payload = body(tree.streams, round_ + 2, args.rows)
                pids = await backends(admin, tree.database)
                before = cpu_seconds([tree.server.pid]), cpu_seconds(pids)
                start = time.perf_counter()
                answer = await clients[tree.name].post(
                    "/v1.1/CreateObservations", content=payload, headers=headers
                )
                took = time.perf_counter() - start
                if answer.status_code != 201:
                    raise RuntimeError(f"{tree.name}: {answer.status_code} {answer.text[:300]}")
                await asyncio.sleep(args.settle)
                after = cpu_seconds([tree.server.pid]), cpu_seconds(pids)
                if round_ >= 0:
                    tree.wall.append(took * 1000)
                    tree.cpu.append((after[0] - before[0]) * 1000)
                    tree.database_cpu.append((after[1] - before[1]) * 1000)
        for tree in trees:
            assert tree.server is not None
            tree.run_cpu += cpu_seconds([tree.server.pid])
        profiles.close()
    finally:
        for client in clients.values():
            await client.aclose()
        await admin.close()
    first = trees[0]
    print(f"\n{args.rounds} requests of {args.rows:,} rows per tree, interleaved; {machine_load()}")
    print(
        "| tree | pillars | wall p50 ms | server CPU ms/request | its PostgreSQL CPU ms "
        f"| wall / {first.name} | server CPU / {first.name} | whole run: server CPU "
        f"ms/request, / {first.name} |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for tree in trees:
        wall, cpu = statistics.median(tree.wall), statistics.fmean(tree.cpu)
        print(
            f"| {tree.name} | {tree.pillars or 'every pillar'} | {wall:.0f} | {cpu:.1f} "
            f"| {statistics.fmean(tree.database_cpu):.1f} "
            f"| {wall / statistics.median(first.wall):.3f} "
            f"| {cpu / statistics.fmean(first.cpu):.3f} "
            f"| {tree.run_cpu * 1000 / args.rounds:.1f}, {tree.run_cpu / first.run_cpu:.3f} |"
        )
    for tree in trees if args.py_spy else ():
        output = Path(args.log_dir) / f"ingest-ab-{tree.name}.txt"
        if output.exists():
            print_profile(f"{tree.name}, {args.rounds} requests", read_profile(output))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_ab", description=__doc__)
    parser.add_argument(
        "--tree", type=parse_tree, action="append", required=True, help="NAME=SRC[:PILLARS]"
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--rows", type=int, default=ROWS, help="rows per request")
    parser.add_argument("--settle", type=float, default=SETTLE_S, help="seconds after each answer")
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: profile each server")
    parser.add_argument("--postgres-dsn", default=POSTGRES_ADMIN_DSN, help="an admin DSN")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    args = parser.parse_args(argv)
    trees: list[Tree] = args.tree
    with ExitStack() as stack:
        for tree in trees:
            tree.database = stack.enter_context(postgres_database(args.postgres_dsn))
            log = Path(args.log_dir) / f"ingest-ab-{tree.name}.log"
            served_tree = tree_served(tree.src, tree.database, log, tree.pillars)
            tree.server = stack.enter_context(served_tree)
            print(f"{tree.name}: {tree.src} ({tree.pillars or 'every pillar'}) {tree.server.url}")
        asyncio.run(measure(args, trees))


if __name__ == "__main__":
    main()
