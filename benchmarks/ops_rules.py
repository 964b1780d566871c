"""Rules on the MQTT stream (issue 14): readings per second evaluated against 10,000 rules,
and the latency from an MQTT publish of a reading over a threshold to its SSE alert event.

A private Mosquitto (deploy/mosquitto.conf, adapted), one PostgreSQL database and a real
`cityhelix serve` on the broker. A burst of readings (plain Observations, QoS 1, spread
over the Datastreams) is published twice: first with no rule (the reference: the hub's own
ingest rate, and the time for the `ops-rules` group to read it all), then with 10,000
threshold rules (100 per Datastream, loaded by SQL as the API stores them, the server
started again to read them). Rate = readings / (first publish -> the group's lag is 0).

Then one reading at a time over a threshold on a Datastream of its own: publish -> the
`alert` event on `GET /api/ops/stream`, split in three by the outbox's commit times (wall
clock, one machine): publish -> the reading committed (ingest), -> its alert committed (the
`ops-rules` group's wake-up and evaluation), -> the SSE event received (the SSE loop's
wake-up, read and send).

Run from the repository root: `.venv/bin/python -m benchmarks.ops_rules --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
import paho.mqtt.client as mqtt
from benchmarks.common import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    POSTGRES_ADMIN_DSN,
    Database,
    Served,
    code_under_test,
    create_city,
    free_port,
    machine_load,
    markdown_table,
    mosquitto_served,
    percentile,
    postgres_database,
    served,
    server_env,
    sqlite_database,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cityhelix.events.tables import event_outbox
from cityhelix.ops.alerting.rules import parse_rule, rule_body

REPOSITORY = Path(__file__).resolve().parent.parent
SHIPPED_CONFIG = REPOSITORY / "deploy" / "mosquitto.conf"
GOAL_P99_S = 1.0
THINGS, STREAMS_PER_THING = 10, 10  # 100 Datastreams


def hub_served(database: Database, broker: int, log: Path) -> Any:
    port = free_port()
    env = server_env(
        CITYHELIX_DATABASE_URL=database.url,
        CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
        CITYHELIX_MQTT_URL=f"mqtt://127.0.0.1:{broker}",
        CITYHELIX_MQTT_CLIENT_ID="bench-hub",
    )
    import sys

    return served([sys.executable, "-m", "cityhelix", "serve", "--port", str(port)], port, log, env)


class Publisher:
    """A paho client publishing QoS 1 readings; counts PUBACKs."""

    def __init__(self, port: int) -> None:
        self.acked = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_publish = self._on_publish
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_publish(self, *_: Any) -> None:
        with self.lock:
            self.acked += 1

    def publish(self, stream_id: int, result: float) -> None:
        body = orjson.dumps({"result": result})
        self.client.publish(f"v1.1/Datastreams({stream_id})/Observations", body, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(condition: Any, seconds: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {seconds} s")
        time.sleep(every)


def rules_lag(hub: Served) -> int:
    answer = httpx.get(f"{hub.url}/api/hub/stream", headers=ADMIN_HEADERS, timeout=30).json()
    for consumer in answer["consumers"]:
        if consumer["name"] == "ops-rules":
            return int(consumer["lag_changes"])
    return -1


async def stored(database: Database) -> int:
    if database.backend == "sqlite":
        with sqlite3.connect(database.raw) as lite:
            return int(lite.execute("SELECT count(*) FROM observations").fetchone()[0])
    connection = await asyncpg.connect(database.raw)
    try:
        return int(await connection.fetchval("SELECT count(*) FROM observations"))
    finally:
        await connection.close()


def burst(
    hub: Served, database: Database, broker: int, streams: list[int], readings: int
) -> tuple[float, float]:
    """(readings/s stored, readings/s evaluated) for a burst of `readings`."""
    before = asyncio.run(stored(database))
    publisher = Publisher(broker)
    started = time.monotonic()
    try:
        for n in range(readings):
            publisher.publish(streams[n % len(streams)], 1.0 + (n % 50))
        wait_for(
            lambda: asyncio.run(stored(database)) >= before + readings, 600, "stored burst", 0.2
        )
        stored_at = time.monotonic()
        wait_for(lambda: rules_lag(hub) == 0, 600, "ops-rules caught up", 0.2)
        evaluated_at = time.monotonic()
    finally:
        publisher.close()
    return readings / (stored_at - started), readings / (evaluated_at - started)


async def load_rules(database: Database, streams: list[int], count: int) -> None:
    """`count` threshold rules, spread evenly, that never fire (a level no reading reaches)."""
    now = datetime.now(UTC)
    rows = []
    for n in range(count):
        rule = parse_rule(
            {
                "name": f"bench {n}",
                "kind": "threshold",
                "datastream_ids": [streams[n % len(streams)]],
                "operator": "gt",
                "value": 1000.0 + n,
                "severity": "warning",
            }
        )
        rows.append((rule.name, "threshold", orjson.dumps(rule_body(rule)).decode(), now))
    if database.backend == "sqlite":
        with sqlite3.connect(database.raw) as lite:
            lite.executemany(
                "INSERT INTO ops_rules (name, kind, definition, enabled, created_at, "
                "updated_at, created_by) VALUES (?, ?, ?, 1, ?, ?, 'benchmark')",
                [(n, k, d, t.isoformat(), t.isoformat()) for n, k, d, t in rows],
            )
        return
    connection = await asyncpg.connect(database.raw)
    try:
        await connection.executemany(
            "INSERT INTO ops_rules (name, kind, definition, enabled, created_at, updated_at, "
            "created_by) VALUES ($1, $2, $3::jsonb, 1, $4, $4, 'benchmark')",
            rows,
        )
    finally:
        await connection.close()


def warm_up(hub: Served, broker: int, stream_id: int) -> None:
    """Rules written by SQL announce nothing: the server reads them when it starts, at its
    first reading. One reading, and a wait until the group has read it, so the next burst
    meets all of them in memory."""
    publisher = Publisher(broker)
    try:
        publisher.publish(stream_id, 1.0)
        wait_for(lambda: publisher.acked >= 1, 30, "the warm-up reading's PUBACK", 0.05)
    finally:
        publisher.close()
    wait_for(lambda: rules_lag(hub) == 0, 120, "ops-rules to read its rules", 0.2)


class AlertListener:
    """An SSE client on /api/ops/stream?kind=alert: when each alert value arrived (wall
    clock, to compare with the outbox's commit times)."""

    def __init__(self, url: str) -> None:
        self.arrived: dict[float, float] = {}
        self.ready = threading.Event()
        self.stop = False
        self.thread = threading.Thread(target=self._run, args=(url,), daemon=True)
        self.thread.start()
        assert self.ready.wait(30), "SSE did not connect"

    def _run(self, url: str) -> None:
        with (
            httpx.Client(timeout=None) as client,
            client.stream(
                "GET", f"{url}/api/ops/stream", params={"kind": "alert"}, headers=ADMIN_HEADERS
            ) as response,
        ):
            self.ready.set()
            for line in response.iter_lines():
                if self.stop:
                    return
                if line.startswith("data: "):
                    data = orjson.loads(line[6:])
                    self.arrived.setdefault(data["value"], time.time())


def latency(
    hub: Served, broker: int, stream_id: int, samples: int, rate: float
) -> tuple[dict[float, float], dict[float, float]]:
    """(publish time, SSE arrival time) of each latency reading's value (wall clock)."""
    made = httpx.post(
        f"{hub.url}/api/ops/rules",
        json={
            "name": "latency",
            "kind": "threshold",
            "datastream_ids": [stream_id],
            "operator": "gt",
            "value": 0,
            "severity": "critical",
        },
        headers=ADMIN_HEADERS,
        timeout=30,
    )
    made.raise_for_status()
    listener = AlertListener(hub.url)
    publisher = Publisher(broker)
    sent: dict[float, float] = {}
    try:
        for n in range(samples):
            value = 10_000.0 + n
            sent[value] = time.time()
            publisher.publish(stream_id, value)
            time.sleep(1 / rate)  # a steady rate of readings, not a wait for a result
        wait_for(lambda: len(listener.arrived) >= samples, 60, "every SSE alert event", 0.1)
    finally:
        publisher.close()
        listener.stop = True
    return sent, dict(listener.arrived)


async def committed(database: Database, stream_id: int) -> tuple[dict[float, float], ...]:
    """When the latency Datastream's readings, and their alerts, were committed (by value)."""
    engine = create_async_engine(database.url)
    readings: dict[float, float] = {}
    alerts: dict[float, float] = {}
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(event_outbox.c.committed_at, event_outbox.c.events)
            )
            for at, text in rows:
                moment = at if not isinstance(at, str) else datetime.fromisoformat(at)
                if moment.tzinfo is None:
                    moment = moment.replace(tzinfo=UTC)
                for _, entity, _, payload, pillar in orjson.loads(text):
                    if payload.get("datastream_id") != stream_id:
                        continue
                    if pillar == "hub" and entity == "Observation":
                        readings.setdefault(float(payload["result"]), moment.timestamp())
                    elif pillar == "ops" and entity == "Alert":
                        alerts.setdefault(float(payload["value"]), moment.timestamp())
    finally:
        await engine.dispose()
    return readings, alerts


def stage_rows(
    sent: dict[float, float],
    arrived: dict[float, float],
    readings: dict[float, float],
    alerts: dict[float, float],
) -> list[list[str]]:
    """p50/p99 of each stage of publish -> SSE, in ms."""
    stages = {
        "publish -> reading committed": [readings[v] - sent[v] for v in sent if v in readings],
        "reading -> alert committed": [alerts[v] - readings[v] for v in sent if v in alerts],
        "alert committed -> SSE event": [arrived[v] - alerts[v] for v in sent if v in alerts],
        "publish -> SSE event (whole)": [arrived[v] - sent[v] for v in sent],
    }
    rows = []
    for name, values in stages.items():
        ordered = sorted(values)
        rows.append(
            [
                name,
                f"{percentile(ordered, 0.5) * 1000:.0f}",
                f"{percentile(ordered, 0.99) * 1000:.0f}",
                f"{ordered[-1] * 1000:.0f}" if ordered else "-",
            ]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="latency readings per second")
    args = parser.parse_args()
    print(f"code under test: {code_under_test()}; {args.backend}; load {machine_load()}")
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = stack.enter_context(
            postgres_database(POSTGRES_ADMIN_DSN)
            if args.backend == "postgresql"
            else sqlite_database(folder / "db")
        )
        broker = stack.enter_context(mosquitto_served(SHIPPED_CONFIG, folder / "mosquitto"))
        with hub_served(database, broker, folder / "hub.log") as hub:

            async def city() -> list[int]:
                async with httpx.AsyncClient(base_url=hub.url, timeout=60) as client:
                    return await create_city(client, THINGS + 1, STREAMS_PER_THING)

            streams = asyncio.run(city())
            measured, latency_stream = streams[:-STREAMS_PER_THING], streams[-1]
            wait_for(lambda: rules_lag(hub) == 0, 60, "ops-rules group", 0.2)
            reference = burst(hub, database, broker, measured, args.readings)
        asyncio.run(load_rules(database, measured, args.rules))
        # started again: the evaluator reads the rules written by SQL as it starts
        hub = stack.enter_context(hub_served(database, broker, folder / "hub-rules.log"))
        warm_up(hub, broker, measured[0])
        with_rules = burst(hub, database, broker, measured, args.readings)
        sent, arrived = latency(hub, broker, latency_stream, args.samples, args.rate)
        readings, alerts = asyncio.run(committed(database, latency_stream))
    delays = sorted(arrived[v] - sent[v] for v in sent)
    p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
    print(
        markdown_table(
            ["run", "stored readings/s", "evaluated readings/s"],
            [
                ["no rules (reference)", f"{reference[0]:.0f}", f"{reference[1]:.0f}"],
                [f"{args.rules:,} rules", f"{with_rules[0]:.0f}", f"{with_rules[1]:.0f}"],
            ],
        )
    )
    print(
        markdown_table(
            ["publish -> SSE alert", "p50 ms", "p99 ms", "max ms", "goal p99 < 1 s"],
            [
                [
                    f"{args.samples} readings at {args.rate:g}/s",
                    f"{p50 * 1000:.0f}",
                    f"{p99 * 1000:.0f}",
                    f"{delays[-1] * 1000:.0f}",
                    "met" if p99 < GOAL_P99_S else "**MISSED**",
                ]
            ],
        )
    )
    print(
        markdown_table(
            ["stage (wall clock, outbox commit times)", "p50 ms", "p99 ms", "max ms"],
            stage_rows(sent, arrived, readings, alerts),
        )
    )


if __name__ == "__main__":
    main()
