"""`cityhelix users` and `cityhelix migrate` as a user runs them: real processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import httpx
import pytest

from tests.conftest import Backend
from tests.hub.factories import thing
from tests.served import cli_env, served


def cityhelix(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
async def test_users_create_list_revoke_and_token_works_over_http(backend: Backend) -> None:
    # in a thread: the session app's loop keeps running, so none of its background writes
    # stands still mid-transaction holding SQLite's write lock while the CLI waits for it
    await asyncio.to_thread(_users_scenario, backend)


def _users_scenario(backend: Backend) -> None:
    url = backend.url
    assert cityhelix(url, "migrate").returncode == 0
    name = f"ops-{backend.name[:2]}"
    created = cityhelix(url, "users", "create", name, "--role", "operator")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 40
    duplicate = cityhelix(url, "users", "create", name, "--role", "operator")
    assert duplicate.returncode == 1 and "exists already" in duplicate.stdout
    listed = cityhelix(url, "users", "list")
    assert name in listed.stdout and "operator" in listed.stdout
    assert token not in listed.stdout
    with served(url) as base:
        headers = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{base}/v1.1/Things", json=thing(), headers=headers).status_code == 201
        assert cityhelix(url, "users", "revoke", name).returncode == 0
        assert httpx.post(f"{base}/v1.1/Things", json=thing(), headers=headers).status_code == 401
    assert cityhelix(url, "users", "revoke", "nobody-here").returncode == 1
    bad_role = cityhelix(url, "users", "create", "x", "--role", "emperor")
    assert bad_role.returncode != 0
