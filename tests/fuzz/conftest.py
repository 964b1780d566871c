"""The fuzz stage: real `cityhelix serve` processes on both backends, shared by the
schemathesis run and the hostile-request generator, and one wall-clock budget for all.

The stage is bounded in time, not in examples: each test checks the budget left and stops
generating when it is spent (FUZZ_SECONDS on each backend), so `make test` keeps its
length whatever the machine's speed. The hostile generator runs first (its file sorts
first), then schemathesis takes what is left of each backend's budget.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.hub.hostile_support import postgres_database, served_limited

#: the stage's wall-clock budget on each backend in seconds, servers' start-up excluded
FUZZ_SECONDS = 18.0
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: the fuzzers' own traffic would trip the per-client limits, which tests/hub tests
SERVE_ENV = {
    "CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN,
    "CITYHELIX_RATE_ANONYMOUS_READS_PER_SECOND": "0",
    "CITYHELIX_RATE_AUTH_FAILURES_PER_MINUTE": "0",
}


class Budget:
    """What is left of FUZZ_SECONDS on each server, shared by every fuzz test of the
    session; a server's clock starts at its first test."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadlines: dict[str, float] = {}

    def left(self, server: str) -> float:
        deadline = self.deadlines.setdefault(server, time.monotonic() + self.seconds)
        return deadline - time.monotonic()


@pytest.fixture(scope="session")
def fuzz_budget() -> Budget:
    return Budget(FUZZ_SECONDS)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def served_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The base URL of a serve process on each backend, for the whole fuzz stage."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('fuzz')}/hub.db"
        with served_limited(url, **SERVE_ENV) as (base, _process):
            yield base
        return
    with postgres_database() as (url, _dsn), served_limited(url, **SERVE_ENV) as (base, _p):
        yield base
