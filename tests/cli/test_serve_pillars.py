"""`CITYHELIX_PILLARS`: a `cityhelix serve` process of some pillars only, as an operator runs
one for ingest alone (real processes on a fresh SQLite file)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN
from tests.hub.factories import thing
from tests.served import cli_env, served

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_a_hub_only_process_serves_sensorthings_and_runs_no_other_pillar(
    tmp_path: Path,
) -> None:
    # in a thread: the served process is waited for synchronously
    await asyncio.to_thread(_hub_only, f"sqlite+aiosqlite:///{tmp_path}/hub.db")


def _hub_only(url: str) -> None:
    with served(url, CITYHELIX_PILLARS="hub", CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN) as base:
        made = httpx.post(f"{base}/v1.1/Things", json=thing(), headers=ADMIN)
        assert made.status_code == 201, made.text
        assert httpx.get(f"{base}/v1.1/Things").json()["value"][0]["name"] == thing()["name"]
        for other in ("/console", "/api/ops/rules", "/api/invest/parks", "/api/city/air/stations"):
            assert httpx.get(f"{base}{other}", headers=ADMIN).status_code == 404, other
        groups = httpx.get(f"{base}/api/hub/stream", headers=ADMIN).json()["consumers"]
        assert groups == [], groups  # no pillar reads the stream in this process
    # the whole composition's schema was migrated: a full process starts on the same file
    with served(url, CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN) as base:
        assert httpx.get(f"{base}/api/ops/rules", headers=ADMIN).status_code == 200
        deadline = time.monotonic() + 30
        while not httpx.get(f"{base}/api/hub/stream", headers=ADMIN).json()["consumers"]:
            assert time.monotonic() < deadline, "the pillars' consumer groups never started"
            time.sleep(0.2)


def test_an_unknown_pillar_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cityhelix", "serve", "--port", "1"],
        env=cli_env(f"sqlite+aiosqlite:///{tmp_path}/x.db", CITYHELIX_PILLARS="hub,traffic"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    message = " ".join(done.stderr.split())
    assert "pillars: unknown 'traffic'" in message, message
