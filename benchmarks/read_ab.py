"""Two trees' read path, A against B, in one run: is one slower than the other?

`sta_queries` measures each tree in a run of its own, against a bare route and raw SQL
that vary from run to run by more than a fraction of a millisecond; this script serves
both trees at once, each a real `cityhelix serve` on a PostgreSQL database of its own
loaded the same way through its API, and sends queries a (latest Observation of a
Datastream) and d (`geo.distance` on Locations) of `sta_queries` to each in turn, blocks
of 500 requests interleaved, the order reversed every round. With `--py-spy`, each
server is then sampled (1 kHz) over 3,000 more requests of each query: busy samples per
request are its CPU per request, whatever the machine's load.

    (A's tree: `--a`, B's: `--b`; the `src` folder of each, e.g. an exported commit)
    .venv/bin/python -m benchmarks.read_ab --a /tmp/old/src --b src [--py-spy .venv/bin/py-spy]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from benchmarks.common import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    CENTRE_LAT,
    CENTRE_LON,
    POSTGRES_ADMIN_DSN,
    Database,
    Served,
    create_city,
    free_port,
    machine_load,
    postgres_database,
    py_spy_record,
    served,
    server_env,
)

Request = tuple[str, dict[str, str]]
#: readings per Datastream: two hours, one every three minutes
READINGS = [
    [f"2026-11-01T{h:02d}:{m:02d}:00Z", h * 60 + m] for h in range(2) for m in range(0, 60, 3)
]


@contextmanager
def tree_served(src: Path, database: Database, log: Path, pillars: str) -> Iterator[Served]:
    """`cityhelix serve` importing the tree at `src`."""
    env = server_env(
        PYTHONPATH=str(src),
        CITYHELIX_DATABASE_URL=database.url,
        CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
        CITYHELIX_MQTT_PORT="0",
        **({"CITYHELIX_PILLARS": pillars} if pillars else {}),
    )
    port = free_port()
    argv = [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)]
    with served(argv, port, log, env) as server:
        yield server


async def load(server: Served, things: int) -> dict[str, list[Request]]:
    """The test city (a Location and two Datastreams per Thing, 40 readings each); the
    requests of queries a and d."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        streams = await create_city(client, things, 2)
        body = [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result"],
                "dataArray": READINGS,
            }
            for stream in streams
        ]
        answer = await client.post("/v1.1/CreateObservations", json=body, headers=ADMIN_HEADERS)
        answer.raise_for_status()
    near = f"geo.distance(location, geography'POINT({CENTRE_LON} {CENTRE_LAT})') lt 0.05"
    return {
        "a": [
            (
                f"/v1.1/Datastreams({stream})/Observations",
                {"$orderby": "phenomenonTime desc", "$top": "1"},
            )
            for stream in streams
        ],
        "d": [("/v1.1/Locations", {"$filter": near})],
    }


async def block(server: Served, requests: Sequence[Request], count: int) -> list[float]:
    """`count` requests in turn over one kept-alive connection; their seconds."""
    took = []
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        for index in range(count):
            path, params = requests[index % len(requests)]
            start = time.perf_counter()
            answer = await client.get(path, params=params)
            took.append(time.perf_counter() - start)
            if answer.status_code != 200:
                raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:200]}")
    return took


def busy_samples(profile: Path) -> int:
    """The samples of a collapsed-stack profile (`frame;frame;... count` lines; a frame
    name may itself hold a line break, so only lines ending in a count count)."""
    if not profile.exists():
        return 0
    counts = (line.rsplit(" ", 1)[-1] for line in profile.read_text().splitlines())
    return sum(int(count) for count in counts if count.isdigit())


async def measure(args: argparse.Namespace, servers: dict[str, Served]) -> None:
    queries = {name: await load(server, args.things) for name, server in servers.items()}
    for name, server in servers.items():  # warm-up
        for query in ("a", "d"):
            await block(server, queries[name][query], 300)
    took: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
        for name in order:
            for query in ("a", "d"):
                took.setdefault((name, query), [])
                took[(name, query)] += await block(servers[name], queries[name][query], 500)
    print(f"\n{args.rounds} rounds of 500 requests per query and tree, {machine_load()}")
    for query in ("a", "d"):
        p50 = {name: statistics.median(took[(name, query)]) * 1000 for name in servers}
        print(
            f"{query}: p50 A {p50['A']:.3f} ms, B {p50['B']:.3f} ms, B/A {p50['B'] / p50['A']:.3f}"
        )
    if not args.py_spy:
        return
    for query in ("a", "d"):
        per_request = {}
        for name, server in servers.items():
            profile = Path(args.log_dir) / f"read-ab-{name}-{query}-{int(time.time())}.txt"
            with py_spy_record(args.py_spy, server.pid, profile):
                await block(server, queries[name][query], 3000)
            per_request[name] = busy_samples(profile) / 3000
        print(
            f"{query}: py-spy busy ms per request (1 kHz) A {per_request['A']:.3f}, "
            f"B {per_request['B']:.3f}, B/A {per_request['B'] / max(per_request['A'], 1e-9):.3f}"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.read_ab", description=__doc__)
    parser.add_argument("--a", type=Path, required=True, help="A's src folder")
    parser.add_argument("--b", type=Path, required=True, help="B's src folder")
    parser.add_argument("--pillars-a", default="", help="A's CITYHELIX_PILLARS (empty: all)")
    parser.add_argument("--pillars-b", default="", help="B's CITYHELIX_PILLARS (empty: all)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--things", type=int, default=50)
    parser.add_argument("--py-spy", metavar="PATH", help="py-spy binary: CPU per request")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "cityhelix-bench"))
    args = parser.parse_args(argv)
    logs = Path(args.log_dir)
    with ExitStack() as stack:
        servers = {}
        for name, src, pillars in (("A", args.a, args.pillars_a), ("B", args.b, args.pillars_b)):
            database = stack.enter_context(postgres_database(POSTGRES_ADMIN_DSN))
            log = logs / f"read-ab-{name}.log"
            servers[name] = stack.enter_context(tree_served(src.resolve(), database, log, pillars))
            print(f"{name}: {src} on {servers[name].url}")
        asyncio.run(measure(args, servers))


if __name__ == "__main__":
    main()
