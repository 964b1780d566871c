"""`cityhelix open311 keys` as an operator runs it (real processes): a key printed once,
listed by name only, accepted by POST requests until it is revoked."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx

from tests.conftest import Backend
from tests.served import cli_env


async def cityhelix(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI in a thread: the app's background writers share this event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(backend.url, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )


REPORT = {
    "service_code": "flooding",
    "lat": "10.9804",
    "long": "106.6519",
    "description": "Water up to the knees",
}


async def test_key_created_by_cli_posts_until_revoked(
    backend: Backend, client: httpx.AsyncClient
) -> None:
    name = f"citizen-app-{backend.name}"
    created = await cityhelix(backend, "open311", "keys", "create", name)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert len(key) >= 40
    again = await cityhelix(backend, "open311", "keys", "create", name)
    assert again.returncode == 1 and "exists already" in again.stdout
    listed = await cityhelix(backend, "open311", "keys", "list")
    assert name in listed.stdout and key not in listed.stdout
    posted = await client.post("/open311/v2/requests.json", data={**REPORT, "api_key": key})
    assert posted.status_code == 201, posted.text
    assert (await cityhelix(backend, "open311", "keys", "revoke", name)).returncode == 0
    refused = await client.post("/open311/v2/requests.json", data={**REPORT, "api_key": key})
    assert refused.status_code == 403
    assert refused.json() == [{"code": 403, "description": "api_key: invalid or revoked"}]
    assert (await cityhelix(backend, "open311", "keys", "revoke", name)).returncode == 1
