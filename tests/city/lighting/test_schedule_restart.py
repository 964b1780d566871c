"""A schedule's switchings are issued once across a restart of the real `serve` process.

The lamps stand where civil dusk was a few minutes ago (found with astral for today), so
the first process issues their switch-on at once; it is stopped and a second process,
whose own runs see the same switchings still within the catch-up window, must issue none
again (the claim is a unique row in `lighting_issued`). On SQLite and PostgreSQL, side by
side.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cityhelix.city.lighting.sun import dusk_at
from tests.conftest import POSTGRES_ADMIN_DSN, _run_outside_loop
from tests.served import served

TOKEN = "lighting-restart-token-0123456789"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
def fresh_urls(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An empty database of each backend, for the served processes alone."""
    name = f"cityhelix_lighting_{uuid.uuid4().hex[:10]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    yield {
        "sqlite": f"sqlite+aiosqlite:///{tmp_path / 'lighting.db'}",
        "postgresql": f"postgresql+asyncpg://{host_part}/{name}",
    }
    _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def place_at_dusk(now: datetime) -> tuple[float, float, int]:
    """(lat, lon, on_offset_minutes) where dusk plus the offset was 3 minutes before `now`."""
    lat = 0.0
    lon = ((18.1 - (now.hour + now.minute / 60)) * 15 + 180) % 360 - 180
    candidates = [dusk_at(lat, lon, now.date() + timedelta(days=d), UTC_ZONE) for d in (-1, 0, 1)]
    dusk = min(candidates, key=lambda moment: abs(moment - now))
    offset = round((now - timedelta(minutes=3) - dusk).total_seconds() / 60)
    assert abs(offset) <= 60, (lon, dusk, now)
    return lat, lon, offset


def wait_for(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = check()
        if answer:
            return answer
        time.sleep(0.2)
    raise AssertionError(what)


def test_a_schedule_issues_each_switching_once_across_a_restart_on_both_backends(
    fresh_urls: dict[str, str],
) -> None:
    # the two backends side by side: a process start is most of this test's time
    with ThreadPoolExecutor(2) as pool:
        done = [pool.submit(restart_scenario, url) for url in fresh_urls.values()]
        for future in done:
            future.result()


def restart_scenario(fresh_url: str) -> None:
    env = {"CITYHELIX_ADMIN_TOKEN": TOKEN}
    now = datetime.now(UTC)
    lat, lon, offset = place_at_dusk(now)
    with served(fresh_url, **env) as url:
        for index in range(2):
            made = httpx.post(
                f"{url}/api/city/lighting/lamps",
                json={
                    "name": f"Pacific lamp {index}",
                    "lon": lon + index * 0.001,
                    "lat": lat,
                    "district": "Pacific",
                    "road": "Equator road",
                },
                headers=ADMIN,
            )
            assert made.status_code == 201, made.text
        refused = httpx.post(
            f"{url}/api/city/lighting/schedules",
            json={"name": "bad", "group": {"kind": "road", "value": "x"}, "on_offset_minutes": "a"},
            headers=ADMIN,
        )
        assert refused.status_code == 400 and refused.json()["field"] == "on_offset_minutes"
        created = httpx.post(
            f"{url}/api/city/lighting/schedules",
            json={
                "name": "Equator road",
                "group": {"kind": "road", "value": "Equator road"},
                "on_offset_minutes": offset,
                "timezone": "UTC",
            },
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text
        schedule_url = f"{url}/api/city/lighting/schedules/{created.json()['id']}"

        def issued_both() -> list[dict[str, Any]] | None:
            issued: list[dict[str, Any]] = httpx.get(schedule_url).json()["issued"]
            return issued if len(issued) == 2 and all(i["task_id"] for i in issued) else None

        first = wait_for(issued_both, "the first process issues both switch-ons")
    assert {i["level"] for i in first} == {100}
    restarted_at = datetime.now(UTC)
    with served(fresh_url, **env) as url:
        schedule_url = f"{url}/api/city/lighting/schedules/{created.json()['id']}"

        def ran_after_restart() -> dict[str, Any] | None:
            document: dict[str, Any] = httpx.get(schedule_url).json()
            last = document["last_run_at"]
            ran = last and datetime.fromisoformat(last.replace("Z", "+00:00")) > restarted_at
            return document if ran else None

        wait_for(ran_after_restart, "the second process runs the schedule")
        document = wait_for(ran_after_restart, "and runs it once more")
        tasks = httpx.get(f"{url}/v1.1/Tasks", params={"$count": "true"}).json()
    assert document["issued"] == first  # the same two, not re-issued
    assert tasks["@iot.count"] == 2
    assert sorted(t["@iot.id"] for t in tasks["value"]) == sorted(i["task_id"] for i in first)
