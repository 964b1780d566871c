"""Two `cityhelix serve` processes on one database (PostgreSQL, or one SQLite file) share
the MQTT ingest of one external Mosquitto; readings published over MQTT are evaluated once
each, wherever they were written: one alert whose count is the number of readings, not two
alerts, not double."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hub.processes import Hub, fresh_postgres, mosquitto, start_hub, wait_until
from tests.hub.test_ingest_processes import (
    ADMIN,
    POLL,
    WAIT,
    Publisher,
    hub_env,
    ingest_status,
    make_datastream,
    observations_path,
    publish_all,
)

pytestmark = pytest.mark.slow


def _alerts(hub: Hub, rule_id: int) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{hub.url}/api/ops/alerts", params={"rule_id": rule_id}, headers=ADMIN, timeout=30
    )
    assert answer.status_code == 200, answer.text
    value: list[dict[str, Any]] = answer.json()["value"]
    return value


def _rules_lag(hub: Hub) -> int:
    answer = httpx.get(f"{hub.url}/api/hub/stream", headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    (group,) = [c for c in answer.json()["consumers"] if c["name"] == "ops-rules"]
    lag: int = group["lag_changes"]
    return lag


def _diagnosis(hubs: list[Hub], rule_id: int) -> str:
    """What a failed wait leaves to read: the alerts, the stream's groups, each log's end."""
    alerts = _alerts(hubs[0], rule_id)
    groups = httpx.get(f"{hubs[0].url}/api/hub/stream", headers=ADMIN, timeout=30).json()
    logs = [
        f"--- {hub.log.name}\n" + "\n".join(hub.log.read_text(errors="replace").splitlines()[-40:])
        for hub in hubs
    ]
    return f"alerts {alerts}\nstream {groups}\n" + "\n".join(logs)


@contextlib.contextmanager
def shared_database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
        return
    with fresh_postgres() as database:
        yield database


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_serve_processes_evaluate_each_mqtt_reading_once(tmp_path: Path, kind: str) -> None:
    count = 100 if kind == "sqlite" else 300  # the file variant: within the test budget
    with shared_database(kind, tmp_path) as database, mosquitto(tmp_path) as broker:
        url = f"mqtt://127.0.0.1:{broker}"
        # one SQLite file is migrated by one process at a time: start them in turn
        with ThreadPoolExecutor(1 if kind == "sqlite" else 2) as starting:
            starts = [
                starting.submit(
                    start_hub,
                    database,
                    tmp_path / f"hub-{n}.log",
                    **hub_env(CITYHELIX_MQTT_URL=url, CITYHELIX_MQTT_CLIENT_ID=f"hub-{n}"),
                )
                for n in (1, 2)
            ]
        try:
            hubs = [start.result() for start in starts]
            stream_id = make_datastream(hubs[0])
            made = httpx.post(
                f"{hubs[1].url}/api/ops/rules",
                json={
                    "name": "high",
                    "kind": "threshold",
                    "datastream_ids": [stream_id],
                    "operator": "gt",
                    "value": 50,
                    "clear_value": 40,
                    "severity": "warning",
                },
                headers=ADMIN,
                timeout=30,
            )
            assert made.status_code == 201, made.text
            rule_id = made.json()["id"]
            publisher = Publisher(broker)
            try:
                results = [100.0 + n for n in range(count)]
                publish_all(publisher, observations_path(stream_id), results).join(timeout=WAIT)
                wait_until(lambda: publisher.count() == count, WAIT, "the broker's PUBACKs")
            finally:
                publisher.close()

            def counted() -> int:
                return sum(a["count"] for a in _alerts(hubs[0], rule_id))

            try:
                wait_until(lambda: counted() >= count, WAIT, "every reading counted", every=POLL)
            except AssertionError as late:
                raise AssertionError(f"{late}: {_diagnosis(hubs, rule_id)}") from None
            # and nothing left to evaluate: a second evaluation would show now
            wait_until(lambda: _rules_lag(hubs[1]) == 0, WAIT, "ops-rules to catch up", every=POLL)
            statuses = [ingest_status(hub) for hub in hubs]
            found = _alerts(hubs[1], rule_id)
        finally:
            for start in starts:
                if start.exception() is None:
                    start.result().stop()
    assert all(s["readings"] > 0 for s in statuses), statuses  # both hubs wrote readings
    assert len(found) == 1, found
    # the readings of both hubs interleave; each counted once
    assert found[0]["count"] == count
