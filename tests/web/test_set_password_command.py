"""`cityhelix users set-password` as an administrator runs it: a real process, stdin piped."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from cityhelix.auth.service import check_password
from cityhelix.db.engine import create_engine
from tests.conftest import Backend
from tests.served import cli_env


def cityhelix(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _signs_in(backend: Backend, name: str, password: str) -> bool:
    async def check() -> bool:
        engine = create_engine(backend.settings)
        try:
            return await check_password(engine, name, password) is not None
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:  # the tests' own loop may be running
        return pool.submit(asyncio.run, check()).result()


@pytest.mark.slow
async def test_set_password_reads_stdin_and_the_password_then_signs_in(backend: Backend) -> None:
    # in a thread: the session app's loop keeps running, so none of its background writes
    # stands still mid-transaction holding SQLite's write lock while the CLI waits for it
    await asyncio.to_thread(_set_password_scenario, backend)


def _set_password_scenario(backend: Backend) -> None:
    name = f"pw-{backend.name[:2]}"
    assert cityhelix(backend.url, "users", "create", name).returncode == 0
    done = cityhelix(backend.url, "users", "set-password", name, stdin="river lantern 42\n")
    assert done.returncode == 0, done.stderr
    assert "password set" in done.stdout
    assert _signs_in(backend, name, "river lantern 42")
    assert not _signs_in(backend, name, "river lantern 42\n")
    short = cityhelix(backend.url, "users", "set-password", name, stdin="short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    unknown = cityhelix(backend.url, "users", "set-password", "nobody", stdin="long enough\n")
    assert unknown.returncode == 1 and "no active user named 'nobody'" in unknown.stderr
    assert _signs_in(backend, name, "river lantern 42")  # the failures changed nothing
