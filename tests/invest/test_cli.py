"""`cityhelix invest load-demo` through a real `cityhelix` process, on each backend."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import Backend


def _cityhelix(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CITYHELIX_DATABASE_URL": backend.url}
    return subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_load_demo_loads_once(backend: Backend, engine: AsyncEngine) -> None:
    # async, the process waited for in a thread: the app's loop keeps running meanwhile, so
    # no background task of it stays frozen inside a write transaction (SQLite's lock)
    first = await asyncio.to_thread(_cityhelix, backend, "invest", "load-demo")
    assert first.returncode == 0, first.stderr
    assert "loaded 28 parks" in first.stdout and "4053 synthetic projects" in first.stdout
    again = await asyncio.to_thread(_cityhelix, backend, "invest", "load-demo")
    assert again.returncode == 0, again.stderr
    assert "nothing loaded" in again.stdout
