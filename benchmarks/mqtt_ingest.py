"""MQTT end to end: publish -> committed -> delivered to a subscriber, 1,000 Datastreams (issue 5).

A private Mosquitto (deploy/mosquitto.conf, adapted) and a real `cityhelix serve` connected
to it as an external-broker client. A paho publisher (its own process) sends readings at a
steady rate, QoS 1, either one plain Observation per message to
`v1.1/Datastreams(ID)/Observations` or DataArray messages to `v1.1/CreateObservations`; a
paho subscriber on `v1.1/Observations` times each reading from the send time it carries in
its `parameters`. The rate steps up until a step is not sustained (publisher behind, loss,
or p99 >= 1 s). Reference in the same run: the same payloads from the same publisher to the
same subscriber through the same broker, no hub. Goal: 20,000 readings/s, p99 < 1 s, no loss.

Run from the repository root: `.venv/bin/python -m benchmarks.mqtt_ingest --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import paho.mqtt.client as mqtt
from benchmarks.common import (
    ADMIN_TOKEN,
    POSTGRES_ADMIN_DSN,
    Database,
    Served,
    code_under_test,
    cpu_seconds,
    create_city,
    free_port,
    keep_alive_client,
    machine_load,
    markdown_table,
    mosquitto_served,
    percentile,
    post_first_readings,
    postgres_database,
    print_profile,
    py_spy_record,
    ratio,
    read_profile,
    served,
    server_env,
    sqlite_database,
)

REPOSITORY = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = REPOSITORY / "deploy" / "mosquitto.conf"
GOAL_READINGS_PER_S = 20_000
GOAL_P99_S = 1.0
THINGS, STREAMS_PER_THING = 100, 10  # 1,000 Datastreams
#: a DataArray message: one Thing's 10 Datastreams, READINGS_PER_GROUP readings each
READINGS_PER_GROUP = 10
READINGS_PER_MESSAGE = STREAMS_PER_THING * READINGS_PER_GROUP
#: a step is sustained when the publisher kept this share of its target rate
KEPT_PACE = 0.95
#: how long deliveries may trail the last publish before the rest counts as lost
DRAIN_S = 10.0
#: how long the hub may take to store a step's readings before the run stops stepping
STORE_S = 60.0
#: how long a hub that fell behind may take to catch up before the run gives up
BACKLOG_S = 300.0
#: how long the hub may take to create and announce the city
SETUP_S = 300.0
REFERENCE_TOPIC = "bench/reference"
MODES = ("plain", "array")
DEFAULT_RATES = {
    "plain": (50, 100, 250, 500, 1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 15_000, 20_000),
    "array": (100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 30_000, 40_000),
}


# ---------------------------------------------------------------------------- payloads


def _now_iso(sent: float) -> str:
    return datetime.fromtimestamp(sent, UTC).isoformat()


def plain_message(stream_id: int, run: int, seq: int) -> tuple[str, bytes]:
    """One Observation: topic of its Datastream, its send time and identity in parameters."""
    sent = time.time()
    body = {
        "phenomenonTime": _now_iso(sent),
        "result": round(20 + (seq % 97) * 0.1, 2),
        "parameters": {"run": run, "seq": seq, "sent": sent},
    }
    return f"v1.1/Datastreams({stream_id})/Observations", orjson.dumps(body)


def array_message(stream_ids: Sequence[int], run: int, first_seq: int) -> tuple[str, bytes]:
    """One CreateObservations message: READINGS_PER_GROUP readings for each of `stream_ids`."""
    sent = time.time()
    moment = _now_iso(sent)
    groups = []
    seq = first_seq
    for stream_id in stream_ids:
        rows = []
        for _ in range(READINGS_PER_GROUP):
            parameters = {"run": run, "seq": seq, "sent": sent}
            rows.append([moment, round(20 + (seq % 97) * 0.1, 2), parameters])
            seq += 1
        groups.append(
            {
                "Datastream": {"@iot.id": stream_id},
                "components": ["phenomenonTime", "result", "parameters"],
                "dataArray": rows,
            }
        )
    return "v1.1/CreateObservations", orjson.dumps(groups)


# ---------------------------------------------------------------------------- publisher


@dataclass(frozen=True)
class Plan:
    """One step: what the publisher sends, how fast, for how long."""

    port: int
    mode: str
    run: int
    readings_per_s: float
    seconds: float
    stream_ids: tuple[int, ...]
    #: None: to the hub's topics; else every message goes to this topic (the reference)
    topic: str | None


def _publish(plan: Plan, results: Connection) -> None:
    """The publisher process: paced QoS 1 publishes; sends back (messages, readings, seconds)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{plan.run}")
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", plan.port)
    client.loop_start()
    per_message = READINGS_PER_MESSAGE if plan.mode == "array" else 1
    messages = int(plan.readings_per_s * plan.seconds / per_message)
    interval = per_message / plan.readings_per_s
    things = [
        plan.stream_ids[i : i + STREAMS_PER_THING]
        for i in range(0, len(plan.stream_ids), STREAMS_PER_THING)
    ]
    infos = []
    start = time.monotonic()
    for index in range(messages):
        due = start + index * interval
        ahead = due - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        if plan.mode == "plain":
            stream_id = plan.stream_ids[index % len(plan.stream_ids)]
            topic, payload = plain_message(stream_id, plan.run, index)
        else:
            thing = things[index % len(things)]
            topic, payload = array_message(thing, plan.run, index * READINGS_PER_MESSAGE)
        infos.append(client.publish(plan.topic or topic, payload, qos=1))
    sent_in = time.monotonic() - start
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.loop_stop()
    client.disconnect()
    results.send((messages, messages * per_message, sent_in))


# ---------------------------------------------------------------------------- subscriber


class Subscriber:
    """A paho subscriber: keeps (arrival time, payload) of every message, parsed afterwards."""

    def __init__(self, port: int, topic: str) -> None:
        self._received: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{topic.replace('/', '-')}"
        )
        self._client.on_message = self._on_message
        subscribed = threading.Event()
        self._client.on_subscribe = lambda *_: subscribed.set()
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        self._client.subscribe(topic, qos=1)
        if not subscribed.wait(10):
            raise TimeoutError(f"no SUBACK for {topic}")

    def _on_message(self, _client: Any, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._received.append((time.time(), message.payload))

    def count(self) -> int:
        return len(self._received)

    def take(self) -> list[tuple[float, bytes]]:
        with self._lock:
            taken, self._received = self._received, []
        return taken

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def _readings_of(payload: bytes) -> Iterator[dict[str, Any]]:
    """The `parameters` of each reading in a message (a notification, or a reference copy)."""
    document = orjson.loads(payload)
    if isinstance(document, dict):  # a notification, or a plain Observation body
        yield document.get("parameters") or {}
        return
    for group in document:  # a CreateObservations body (reference)
        for row in group["dataArray"]:
            yield row[2]


# ---------------------------------------------------------------------------- one step


@dataclass
class Step:
    """The outcome of one rate step."""

    target: float
    published: int  # readings
    publish_rate: float
    delivered: int  # distinct readings of this step delivered
    duplicates: int
    stored: int | None  # distinct readings of this step in the database (None: reference)
    p50_ms: float
    p99_ms: float
    delivered_rate: float  # distinct deliveries / (last arrival - first send)
    #: cores busy while the step ran: hub, postgresql, mosquitto, machine (all processes)
    cores: dict[str, float]

    @property
    def lost(self) -> int:
        return self.published - self.delivered

    @property
    def sustained(self) -> bool:
        return (
            self.publish_rate >= KEPT_PACE * self.target
            and self.lost == 0
            and (self.stored is None or self.stored == self.published)
            and self.p99_ms < GOAL_P99_S * 1000
        )


def run_step(
    plan: Plan,
    subscriber: Subscriber,
    stored: Any | None = None,
    *,
    hub_pids: Collection[int] = (),
    verbose: bool = True,
) -> Step:
    """Publish `plan`, wait for the deliveries, count and time them."""
    subscriber.take()  # what trailed an earlier step is not this one's
    cpu_before, clock_before = cpu_seconds(hub_pids), time.monotonic()
    context = multiprocessing.get_context("spawn")
    receiving, sending = context.Pipe(duplex=False)
    publisher = context.Process(target=_publish, args=(plan, sending))
    publisher.start()
    if not receiving.poll(plan.seconds + 120):
        publisher.kill()
        raise TimeoutError("the publisher did not finish")
    _messages, published, sent_in = receiving.recv()
    publisher.join()
    # wait for the deliveries: until all arrived, or nothing new came for DRAIN_S
    arrivals: list[tuple[float, bytes]] = []
    seen: set[int] = set()
    duplicates = 0
    latencies: list[float] = []
    first_sent = last_arrival = None
    quiet_since = time.monotonic()
    while len(seen) < published and time.monotonic() - quiet_since < DRAIN_S:
        time.sleep(0.2)
        arrivals = subscriber.take()
        if arrivals:
            quiet_since = time.monotonic()
        for arrived, payload in arrivals:
            for parameters in _readings_of(payload):
                if parameters.get("run") != plan.run:
                    continue
                seq, sent = parameters["seq"], parameters["sent"]
                if seq in seen:
                    duplicates += 1
                    continue
                seen.add(seq)
                latencies.append(arrived - sent)
                first_sent = sent if first_sent is None else min(first_sent, sent)
                last_arrival = arrived if last_arrival is None else max(last_arrival, arrived)
    cpu_after, clock_after = cpu_seconds(hub_pids), time.monotonic()
    wall = clock_after - clock_before
    cores = {name: (cpu_after[name] - cpu_before[name]) / wall for name in cpu_after}
    stored_count = None if stored is None else stored(plan.run, published)
    ordered = sorted(latencies)
    span = (last_arrival - first_sent) if first_sent and last_arrival else float("nan")
    step = Step(
        target=plan.readings_per_s,
        published=published,
        publish_rate=published / sent_in if sent_in else float("nan"),
        delivered=len(seen),
        duplicates=duplicates,
        stored=stored_count,
        p50_ms=percentile(ordered, 0.50) * 1000,
        p99_ms=percentile(ordered, 0.99) * 1000,
        delivered_rate=len(seen) / span if span == span and span > 0 else float("nan"),
        cores=cores,
    )
    hub_ms_per_reading = step.cores.get("hub", 0) * wall * 1000 / max(published, 1)
    if verbose:
        print(
            f"  {plan.mode:5} target {plan.readings_per_s:>8,.0f}/s: published "
            f"{step.published:,} at {step.publish_rate:,.0f}/s, delivered {step.delivered:,} "
            f"({step.duplicates} dup), stored {step.stored}, p50 {step.p50_ms:,.0f} ms, "
            f"p99 {step.p99_ms:,.0f} ms -> {'ok' if step.sustained else 'NOT sustained'}; "
            f"cores busy: "
            + ", ".join(f"{name} {value:.2f}" for name, value in step.cores.items())
            # the hub's CPU per reading compares code across runs at unequal machine load
            + f"; hub CPU {hub_ms_per_reading:.2f} ms/reading",
            flush=True,
        )
    return step


def step_up(
    port: int,
    mode: str,
    rates: Sequence[float],
    seconds: float,
    stream_ids: tuple[int, ...],
    subscriber: Subscriber,
    first_run: int,
    *,
    reference: bool,
    stored: Any | None = None,
    hub_pids: Collection[int] = (),
) -> list[Step]:
    """Steps of rising rate, stopping after the first that is not sustained."""
    steps = []
    for index, rate in enumerate(rates):
        topic = REFERENCE_TOPIC if reference else None
        plan = Plan(port, mode, first_run + index, rate, seconds, stream_ids, topic)
        step = run_step(plan, subscriber, stored, hub_pids=hub_pids)
        steps.append(step)
        if not step.sustained:
            if stored is not None and not drain(plan.run, step.published, subscriber, stored):
                raise SystemExit("stopping: the next steps would measure the backlog")
            break
    return steps


def drain(run: int, published: int, subscriber: Subscriber, stored: Any) -> bool:
    """Wait for a hub that fell behind: the next step must not start on its backlog."""
    started = time.monotonic()
    deadline = started + BACKLOG_S
    while stored(run, published) < published and time.monotonic() < deadline:
        pass  # each call waits up to STORE_S
    quiet = subscriber.count()
    while time.monotonic() < deadline:
        time.sleep(3)
        if subscriber.count() == quiet:
            break
        quiet = subscriber.count()
    subscriber.take()
    caught_up = time.monotonic() < deadline
    waited = time.monotonic() - started
    print(f"  (the hub {'caught up' if caught_up else 'still behind'} after {waited:,.0f} s)")
    return caught_up


def wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {seconds} s")
        time.sleep(0.2)


def best(steps: Sequence[Step]) -> Step | None:
    sustained = [s for s in steps if s.sustained]
    return max(sustained, key=lambda s: s.target) if sustained else None


# ---------------------------------------------------------------------------- the hub


@contextmanager
def hubs_served(
    database: Database,
    mqtt_port: int,
    logs: Path,
    share_group: str,
    count: int,
    qos: int,
    pillars: str = "",
) -> Iterator[list[Served]]:
    """`count` real `cityhelix serve` processes on `database`, clients of our Mosquitto (one
    shared subscription group: the broker gives each reading to one of them)."""
    with ExitStack() as stack:
        hubs = []
        for number in range(count):
            port = free_port()
            env = server_env(
                CITYHELIX_DATABASE_URL=database.url,
                CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
                CITYHELIX_MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}",
                CITYHELIX_MQTT_SHARE_GROUP=share_group,
                CITYHELIX_MQTT_NOTIFY_QOS=str(qos),
                CITYHELIX_PILLARS=pillars,
            )
            argv = [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)]
            hubs.append(stack.enter_context(served(argv, port, logs / f"hub-{number}.log", env)))
        yield hubs


async def make_city(url: str) -> tuple[int, ...]:
    """1,000 Datastreams (100 Things of 10, deep inserts), one first reading each."""
    async with keep_alive_client(url) as client:
        stream_ids = await create_city(client, THINGS, STREAMS_PER_THING)
        now = datetime.now(UTC).replace(microsecond=0)
        for start in range(0, len(stream_ids), STREAMS_PER_THING):
            # a Thing at a time: one request for all 1,000 can outlast the client's timeout
            await post_first_readings(client, stream_ids[start : start + STREAMS_PER_THING], now)
    return tuple(stream_ids)


def stored_counter(database: Database) -> Any:
    """count(run, expected): distinct readings of `run` stored, waiting up to STORE_S for all."""

    def count_once(run: int) -> int:
        if database.backend == "postgresql":

            async def query() -> int:
                connection = await asyncpg.connect(database.raw)
                try:
                    found = await connection.fetchval(
                        "SELECT count(DISTINCT parameters->>'seq') FROM observations "
                        "WHERE parameters->>'run' = $1",
                        str(run),
                    )
                finally:
                    await connection.close()
                return int(found)

            return asyncio.run(query())
        with sqlite3.connect(database.raw) as connection:
            row = connection.execute(
                "SELECT count(DISTINCT json_extract(parameters, '$.seq')) FROM observations "
                "WHERE json_extract(parameters, '$.run') = ?",
                (run,),
            ).fetchone()
        return int(row[0])

    def count(run: int, expected: int) -> int:
        deadline = time.monotonic() + STORE_S
        found = count_once(run)
        while found < expected and time.monotonic() < deadline:
            time.sleep(0.5)
            found = count_once(run)
        return found

    return count


# ---------------------------------------------------------------------------- report


def table(label: str, steps: Sequence[Step], reference: Step | None) -> list[list[object]]:
    rows: list[list[object]] = []
    for step in steps:
        rows.append(
            [
                label,
                step.target,
                step.publish_rate,
                step.delivered_rate,
                step.p50_ms,
                step.p99_ms,
                step.cores["hub"],
                step.cores["machine"],
                step.lost,
                step.duplicates,
                "n/a" if step.stored is None else step.published - step.stored,
                ratio(step.target, reference.target) if reference else float("nan"),
                "yes" if step.sustained else "no",
            ]
        )
    return rows


HEADERS = (
    "path",
    "target readings/s",
    "published/s",
    "delivered/s",
    "p50 ms",
    "p99 ms",
    "hub cores",
    "machine cores",
    "lost",
    "dup",
    "not stored",
    "x reference max",
    "sustained",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--modes", default="plain,array", help="plain,array")
    parser.add_argument("--seconds", type=float, default=6.0, help="each step's length")
    parser.add_argument("--plain-rates", default=",".join(map(str, DEFAULT_RATES["plain"])))
    parser.add_argument("--array-rates", default=",".join(map(str, DEFAULT_RATES["array"])))
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--py-spy", default=None, help="py-spy binary: profile one extra step")
    parser.add_argument("--admin-dsn", default=POSTGRES_ADMIN_DSN)
    parser.add_argument("--keep-logs", default="", help="a folder for the broker and hub logs")
    parser.add_argument("--hubs", type=int, default=1, help="hub processes sharing the ingest")
    parser.add_argument("--notify-qos", type=int, choices=(0, 1), default=1)
    parser.add_argument(
        "--pillars", default="", help="the hubs' CITYHELIX_PILLARS (e.g. hub); empty: all"
    )
    parser.add_argument(
        "--share-group",
        default="cityhelix",
        help="the hub's CITYHELIX_MQTT_SHARE_GROUP; empty: a hub alone (No Local, no echoes)",
    )
    args = parser.parse_args()
    if args.hubs > 1 and (args.backend != "postgresql" or not args.share_group):
        parser.error("several hubs need PostgreSQL and a share group")
    modes = [m for m in args.modes.split(",") if m]
    rates = {
        "plain": [float(r) for r in args.plain_rates.split(",")],
        "array": [float(r) for r in args.array_rates.split(",")],
    }
    print(f"cityhelix under test: {code_under_test()}")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine_load()}")
    started = time.monotonic()
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory(prefix="cityhelix-mqtt-bench-") as scratch:
        folder = Path(args.keep_logs or scratch)
        with mosquitto_served(SHIPPED_CONFIG, folder / "mosquitto") as mqtt_port:
            references: dict[str, Step | None] = {}
            run = 1000
            if not args.no_reference:
                subscriber = Subscriber(mqtt_port, REFERENCE_TOPIC)
                try:
                    for mode in modes:
                        print(f"reference ({mode}): paho -> Mosquitto -> paho, no hub")
                        steps = step_up(
                            mqtt_port,
                            mode,
                            rates[mode],
                            args.seconds,
                            tuple(range(1, 1001)),
                            subscriber,
                            run,
                            reference=True,
                        )
                        run += 100
                        references[mode] = best(steps)
                        rows += table(f"reference, {mode}", steps, None)
                finally:
                    subscriber.close()
            database_context = (
                postgres_database(args.admin_dsn)
                if args.backend == "postgresql"
                else sqlite_database(folder / "db")
            )
            with (
                database_context as database,
                hubs_served(
                    database,
                    mqtt_port,
                    folder,
                    args.share_group,
                    args.hubs,
                    args.notify_qos,
                    args.pillars,
                ) as hubs,
            ):
                hub = hubs[0]
                subscriber = Subscriber(mqtt_port, "v1.1/Observations")
                try:
                    made = time.monotonic()
                    stream_ids = asyncio.run(make_city(hub.url))
                    print(f"{len(stream_ids)} Datastreams on {database.backend}")
                    # the city's creations are announced first: wait for their end
                    wait_for(lambda: subscriber.count() >= len(stream_ids), SETUP_S)
                    print(f"city made and announced in {time.monotonic() - made:,.1f} s")
                    stored = stored_counter(database)
                    for mode in modes:
                        print(f"hub ({mode}, {database.backend})")
                        steps = step_up(
                            mqtt_port,
                            mode,
                            rates[mode],
                            args.seconds,
                            stream_ids,
                            subscriber,
                            run,
                            reference=False,
                            stored=stored,
                            hub_pids={served.pid for served in hubs},
                        )
                        run += 100
                        label = f"hub {database.backend}, {mode}"
                        if not args.share_group:
                            label += ", alone"
                        if args.hubs > 1:
                            label += f", {args.hubs} processes"
                        if args.notify_qos == 0:
                            label += ", notifications QoS 0"
                        if args.pillars:
                            label += f", pillars {args.pillars}"
                        rows += table(label, steps, references.get(mode))
                        if args.py_spy:
                            rate = steps[-1].target
                            output = folder / f"profile-{mode}.txt"
                            plan = Plan(mqtt_port, mode, run, rate, args.seconds, stream_ids, None)
                            run += 1
                            with py_spy_record(args.py_spy, hub.pid, output) as recording:
                                run_step(plan, subscriber, stored, hub_pids=(hub.pid,))
                            if recording and output.exists():
                                print_profile(
                                    f"hub, {mode}, {rate:,.0f} readings/s", read_profile(output)
                                )
                finally:
                    subscriber.close()
    print()
    print(markdown_table(HEADERS, rows))
    for mode in modes:
        reference = references.get(mode)
        if reference:
            print(f"reference max ({mode}): {reference.target:,.0f} readings/s sustained")
    print(f"whole run: {time.monotonic() - started:,.0f} s; {machine_load()}")


if __name__ == "__main__":
    main()
