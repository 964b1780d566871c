"""`cityhelix invest load-demo` through a real `cityhelix` process, on each backend."""

from __future__ import annotations

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


def test_load_demo_loads_once(backend: Backend, engine: AsyncEngine) -> None:
    first = _cityhelix(backend, "invest", "load-demo")
    assert first.returncode == 0, first.stderr
    assert "loaded 28 parks" in first.stdout and "4053 synthetic projects" in first.stdout
    again = _cityhelix(backend, "invest", "load-demo")
    assert again.returncode == 0, again.stderr
    assert "nothing loaded" in again.stdout
