"""What every benchmark script shares: fresh databases, served processes, the test city.

Also latency statistics (with the 40 ms Nagle / delayed-ACK floor check of standards.md),
machine load, markdown tables and py-spy sampling of a server process.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Collection, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

POSTGRES_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_TOKEN = "benchmark-admin-token-5f0c2d9e"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
#: the test city: Thu Dau Mot, Binh Duong; Things are scattered over ~30 x 30 km around it
CENTRE_LON, CENTRE_LAT = 106.65, 10.98
HALF_SPAN_LON, HALF_SPAN_LAT = 0.137, 0.136  # 15 km at 11 degrees north
#: readings of a Datastream follow each other every `STEP`
STEP = timedelta(seconds=10)
#: a Nagle / delayed-ACK stall costs this much per request (see standards.md)
DELAYED_ACK_S = 0.040
SERVER_START_TIMEOUT_S = 60.0


# ---------------------------------------------------------------------------- databases


@dataclass(frozen=True)
class Database:
    """One benchmark database: the URL the server takes and the raw driver's address."""

    backend: str  # "postgresql" or "sqlite"
    url: str  # SQLAlchemy URL, as CITYHELIX_DATABASE_URL
    raw: str  # asyncpg DSN, or the SQLite file path


@contextmanager
def postgres_database(admin_dsn: str, *, keep: bool = False) -> Iterator[Database]:
    """A new, empty PostgreSQL database, dropped on exit unless `keep`."""
    name = f"cityhelix_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_postgres_admin(admin_dsn, f'CREATE DATABASE "{name}"'))
    host_part = admin_dsn.removeprefix("postgresql://").rsplit("/", 1)[0]
    try:
        yield Database(
            "postgresql",
            f"postgresql+asyncpg://{host_part}/{name}",
            f"postgresql://{host_part}/{name}",
        )
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            asyncio.run(
                _postgres_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


async def _postgres_admin(admin_dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(admin_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def sqlite_database(folder: Path, *, keep: bool = False) -> Iterator[Database]:
    """A new SQLite file in `folder`, removed (with its WAL) on exit unless `keep`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"cityhelix_bench_{uuid.uuid4().hex[:10]}.db"
    try:
        yield Database("sqlite", f"sqlite+aiosqlite:///{path}", str(path))
    finally:
        if keep:
            print(f"kept database {path}")
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Served:
    """A server process on 127.0.0.1: its root URL, pid and log file."""

    url: str
    pid: int
    log: Path


@contextmanager
def served(argv: Sequence[str], port: int, log: Path, env: dict[str, str]) -> Iterator[Served]:
    """Run `argv` (a server listening on `port`); wait until `GET /ready-probe` answers.

    The output goes to `log`, not to a pipe: uvicorn's access log would fill an unread pipe
    after a few hundred requests and stall the server mid-benchmark.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{argv[:4]} exited early:\n{log.read_text()[-3000:]}")
            try:
                httpx.get(f"{url}/", timeout=1)
                break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{argv[:4]} did not answer within {SERVER_START_TIMEOUT_S} s")
            time.sleep(0.1)
        yield Served(url, process.pid, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)


def server_env(**values: str) -> dict[str, str]:
    """The environment minus any CITYHELIX_ setting of the caller, plus `values`; the
    anonymous read limit off (one benchmark client sends hundreds of reads a second: the
    limit answered 429 to the SQLite run of `sta_queries`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHELIX_")}
    env["CITYHELIX_RATE_ANONYMOUS_READS_PER_SECOND"] = "0"
    env.update(values)
    return env


def python_path(*first: Path) -> str:
    """PYTHONPATH with `first` ahead of the caller's own (which may point at another tree)."""
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join([*map(str, first), *inherited])


def code_under_test() -> str:
    """Which `cityhelix` the served processes import (PYTHONPATH may point at an export)."""
    import cityhelix

    return str(Path(cityhelix.__file__).resolve().parent)


@contextmanager
def cityhelix_served(database: Database, log: Path, pillars: str = "") -> Iterator[Served]:
    """A real `cityhelix serve` process (one uvicorn worker) on a free port, running
    `pillars` (`CITYHELIX_PILLARS`; empty: all)."""
    port = free_port()
    env = server_env(
        CITYHELIX_DATABASE_URL=database.url,
        CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
        CITYHELIX_MQTT_PORT="0",
        **({"CITYHELIX_PILLARS": pillars} if pillars else {}),
    )
    argv = [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)]
    with served(argv, port, log, env) as server:
        yield server


# ---------------------------------------------------------------------------- the test city


@dataclass(frozen=True)
class Stream:
    """A Datastream of the test city and the FeatureOfInterest its readings point at."""

    id: int
    thing_id: int
    feature_of_interest_id: int


def thing_body(index: int, streams: int, rng: random.Random) -> dict[str, Any]:
    """A Thing with one Location and `streams` Datastreams (each its Sensor and property)."""
    lon = CENTRE_LON + rng.uniform(-HALF_SPAN_LON, HALF_SPAN_LON)
    lat = CENTRE_LAT + rng.uniform(-HALF_SPAN_LAT, HALF_SPAN_LAT)
    return {
        "name": f"Station {index}",
        "description": "air-quality station",
        "properties": {"district": f"D{index % 5}"},
        "Locations": [
            {
                "name": f"Site {index}",
                "description": "kerbside",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        ],
        "Datastreams": [
            {
                "name": f"Station {index} stream {k}",
                "description": "PM2.5 every 10 s",
                "observationType": MEASUREMENT,
                "unitOfMeasurement": {
                    "name": "microgram per cubic metre",
                    "symbol": "ug/m3",
                    "definition": "http://unitsofmeasure.org/ucum.html#para-30",
                },
                "Sensor": {
                    "name": f"PMS5003 #{index}-{k}",
                    "description": "optical particle counter",
                    "encodingType": "application/pdf",
                    "metadata": "https://example.org/pms5003.pdf",
                },
                "ObservedProperty": {
                    "name": f"PM2.5 ({index}-{k})",
                    "definition": "http://vocab.nerc.ac.uk/collection/P01/current/PM25XXXX/",
                },
            }
            for k in range(streams)
        ],
    }


def reading(stream_index: int, step: int) -> float:
    """A deterministic reading; a JSON float, so the API stores it with result_type float."""
    return round(20.0 + 8.0 * math.sin(step / 360.0 + stream_index) + (step % 7) * 0.01, 3)


async def create_city(
    client: httpx.AsyncClient, things: int, streams_per_thing: int, seed: int = 7
) -> list[int]:
    """Create the Things through the API; their Datastream ids in creation order."""
    rng = random.Random(seed)
    stream_ids: list[int] = []
    for index in range(things):
        response = await client.post(
            "/v1.1/Things", json=thing_body(index, streams_per_thing, rng), headers=ADMIN_HEADERS
        )
        response.raise_for_status()
        thing_id = response.json()["@iot.id"]
        listed = await client.get(
            f"/v1.1/Things({thing_id})/Datastreams", params={"$orderby": "id", "$top": "1000"}
        )
        listed.raise_for_status()
        stream_ids.extend(int(d["@iot.id"]) for d in listed.json()["value"])
    return stream_ids


def first_reading_time(readings: int) -> datetime:
    """When a Datastream of `readings` starts so that its last reading is about now.

    Recent data is what a live hub holds; on PostgreSQL it lands in the current month's
    partition, made ahead at start-up. Early in a month the start is held at the month's
    first instant (the last readings then lie a little ahead): readings of the month
    before would wait in the default partition until the server's maintenance moves them,
    in the middle of a run.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    month = now.replace(day=1, hour=0, minute=0)
    return max(now - readings * STEP, month)


async def post_first_readings(
    client: httpx.AsyncClient, stream_ids: Sequence[int], epoch: datetime
) -> None:
    """One reading at `epoch` per Datastream through CreateObservations.

    The API generates each Thing's FeatureOfInterest from its Location and sets the
    Datastreams' phenomenonTime, so bulk-loaded rows can point at what the API made.
    """
    body = [
        {
            "Datastream": {"@iot.id": stream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": [[iso(epoch), reading(index, 0)]],
        }
        for index, stream_id in enumerate(stream_ids)
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=ADMIN_HEADERS)
    response.raise_for_status()
    errors = [answer for answer in response.json() if answer == "error"]
    if errors:
        raise RuntimeError(f"CreateObservations refused {len(errors)} first readings")


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def postgres_row_shapes(
    connection: asyncpg.Connection, datastream_id: int, rows: int = 2
) -> list[dict[str, str]]:
    """Each column's type and NULL-ness for the first `rows` Observations of a Datastream.

    A decoded value would hide it, but SQL NULL and a JSON null differ here: rows loaded
    by a benchmark must look like the rows the API writes.
    """
    names = [
        r[0]
        for r in await connection.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'observations' ORDER BY ordinal_position"
        )
    ]
    shapes = ", ".join(f"pg_typeof({n})::text || ({n} IS NULL)::text" for n in names)
    found = await connection.fetch(
        f"SELECT {shapes} FROM observations WHERE datastream_id = $1 "
        "ORDER BY phenomenon_time_start LIMIT $2",
        datastream_id,
        rows,
    )
    return [dict(zip(names, r, strict=True)) for r in found]


def shape_differences(reference: dict[str, str], other: dict[str, str]) -> list[str]:
    return [
        f"{n}: {reference[n]} vs {other.get(n)}" for n in reference if reference[n] != other.get(n)
    ]


# ---------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Latency:
    """Latency percentiles of one series of requests, in milliseconds."""

    n: int
    p50_ms: float
    p95_ms: float
    min_ms: float
    mean_ms: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted series."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def latency(samples_s: Sequence[float]) -> Latency:
    ordered = sorted(s * 1000 for s in samples_s)
    if not ordered:
        return Latency(0, math.nan, math.nan, math.nan, math.nan)
    return Latency(
        n=len(ordered),
        p50_ms=percentile(ordered, 0.50),
        p95_ms=percentile(ordered, 0.95),
        min_ms=ordered[0],
        mean_ms=sum(ordered) / len(ordered),
    )


def delayed_ack_suspected(series: Latency, work: Latency) -> bool:
    """True when `series` sits a fixed ~40 ms above the `work` it does (the raw SQL's time).

    A delayed-ACK stall adds the same 40 ms to every request, so even the fastest request
    of the series pays it; a slow query does not look like that.
    """
    if series.n == 0 or work.n == 0:
        return False
    excess = series.min_ms - work.min_ms
    return DELAYED_ACK_S * 900 <= excess <= DELAYED_ACK_S * 1200


def ratio(numerator: float, denominator: float) -> float:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return math.nan
    return numerator / denominator


def machine_load() -> str:
    """`uptime`'s load averages and the core count, to print beside every figure."""
    loads = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {' '.join(loads)} on {os.cpu_count()} cores"


def cpu_seconds(hub_pids: Collection[int] = ()) -> dict[str, float]:
    """CPU seconds (user + system) used so far: by the hub processes, PostgreSQL, Mosquitto,
    the machine.

    Read from /proc, so that a figure can say which of the two cores' work went where.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    used = {"hub": 0.0, "postgresql": 0.0, "mosquitto": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / ticks
        if int(entry.name) in hub_pids:
            used["hub"] += seconds
        elif command.startswith("postgres"):
            used["postgresql"] += seconds
        elif command == "mosquitto":
            used["mosquitto"] += seconds
    cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    idle = int(cpu[3]) + int(cpu[4])
    used["machine"] = (sum(map(int, cpu)) - idle) / ticks
    return used


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub markdown table, ready to paste into BENCHMARKS.md."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "n/a"
            return f"{value:.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- profiling


@contextmanager
def py_spy_record(py_spy: str | None, pid: int, output: Path) -> Iterator[bool]:
    """Sample `pid` with `py-spy record` (non-blocking) while the block runs.

    Yields False (and samples nothing) when no py-spy binary is given. The samples are
    written as collapsed stacks, one `frame;frame;... count` line per stack.
    """
    if py_spy is None:
        yield False
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "1000"]
    command += ["--nonblocking", "--output", str(output)]
    recorder = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # py-spy attaches before the work starts
    try:
        yield True
    finally:
        recorder.send_signal(signal.SIGINT)
        try:
            _, errors = recorder.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            recorder.kill()
            _, errors = recorder.communicate(timeout=10)
        if not output.exists():
            print(f"py-spy wrote no profile: {errors.decode(errors='replace')[-500:]}")


_FRAME_LINE = re.compile(r"\s*\((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    """`handle (cityhelix/hub/dispatch.py:212)` -> `handle (cityhelix/hub/dispatch.py)`."""
    match = _FRAME_LINE.search(frame)
    if match is None:
        return frame
    file = match.group("file")
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{frame[: match.start()]} ({file})"


@dataclass(frozen=True)
class Profile:
    """Where a sampled process spent its busy time: by layer, by function (self, inclusive)."""

    samples: int
    layer_share: list[tuple[str, float]]
    self_share: list[tuple[str, float]]
    inclusive_share: list[tuple[str, float]]


#: the layer a frame belongs to, by the first matching path fragment of its file
LAYERS = (
    ("cityhelix/", "cityhelix (our code)"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("asyncpg/", "asyncpg"),
    ("aiosqlite/", "aiosqlite + sqlite3"),
    ("sqlite3/", "aiosqlite + sqlite3"),
    ("fastapi/", "FastAPI + Starlette"),
    ("starlette/", "FastAPI + Starlette"),
    ("pydantic", "pydantic"),
    ("uvicorn/", "uvicorn + httptools"),
    ("httptools/", "uvicorn + httptools"),
    ("asyncio/", "asyncio + uvloop"),
    ("uvloop/", "asyncio + uvloop"),
    ("threading.py", "threads (queue hand-off)"),
    ("queue.py", "threads (queue hand-off)"),
    ("orjson", "orjson"),
)


def layer_of(frame: str) -> str:
    for fragment, layer in LAYERS:
        if fragment in frame:
            return layer
    return "other (stdlib, generated __init__, ...)"


#: a leaf frame in the event loop's own run call means the loop waited (uvloop is C code)
IDLE_LEAVES = ("Runner.run (", "run_forever (", "select (", "poll (", "_run_once (", "wait (")


def read_profile(path: Path, *, top: int = 15) -> Profile:
    """Summarise a py-spy collapsed-stack file, leaving out samples of an idle event loop."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames or frames[-1].startswith(IDLE_LEAVES):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        layers[layer_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    share = 1 / total if total else 0.0
    return Profile(
        total,
        [(name, n * share) for name, n in layers.most_common()],
        [(name, n * share) for name, n in own.most_common(top)],
        [(name, n * share) for name, n in inclusive.most_common(top * 4)],
    )


def print_profile(title: str, profile: Profile, *, focus: str = "cityhelix/") -> None:
    """Busy time by layer (self time), the top self frames, our own inclusive frames."""
    print(f"\n#### py-spy: {title} ({profile.samples} busy samples)")
    print("self time by layer:")
    for name, share in profile.layer_share:
        print(f"  {share:6.1%}  {name}")
    print("top self time:")
    for name, share in profile.self_share:
        print(f"  {share:6.1%}  {name}")
    print(f"inclusive time in {focus}:")
    shown = [(n, s) for n, s in profile.inclusive_share if focus in n][:15]
    for name, share in shown:
        print(f"  {share:6.1%}  {name}")


# ---------------------------------------------------------------------------- clients


@asynccontextmanager
async def keep_alive_client(
    base_url: str, connections: int = 1
) -> AsyncIterator[httpx.AsyncClient]:
    """Keep-alive connections (one by default), as a dashboard or ingest client holds them."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:
        yield client


# ---------------------------------------------------------------------------- MQTT

#: lines of deploy/mosquitto.conf that name the production host's listener, files and paths
_MOSQUITTO_HOST_LINES = (
    "listener",
    "allow_anonymous",
    "password_file",
    "acl_file",
    "persistence_location",
)


@contextmanager
def mosquitto_served(config: Path, directory: Path) -> Iterator[int]:
    """A private Mosquitto with `config` (the shipped one) on a free port, anonymous; its port.

    The host-specific lines (listener, logins, paths) are replaced; the queueing limits that
    make it keep QoS 1 messages for a slow subscriber stay as shipped.
    """
    import getpass  # here: only the MQTT benchmark needs it

    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    kept = [
        line
        for line in config.read_text().splitlines()
        if not line.strip().startswith(_MOSQUITTO_HOST_LINES)
    ]
    path = directory / "mosquitto.conf"
    path.write_text(
        "\n".join(
            [
                *kept,
                f"listener {port} 127.0.0.1",
                "allow_anonymous true",
                f"persistence_location {directory}/",
                # as root Mosquitto would switch to the user "mosquitto", who cannot write here
                f"user {getpass.getuser()}",
                f"log_dest file {directory}/mosquitto.log",
                "",
            ]
        )
    )
    process = subprocess.Popen(
        ["mosquitto", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                log = directory / "mosquitto.log"
                raise RuntimeError(f"mosquitto exited: {log.read_text() if log.exists() else ''}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("mosquitto did not listen within 10 s") from None
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
