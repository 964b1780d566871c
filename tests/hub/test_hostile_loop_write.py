"""A write of 100,000 readings holds the event loop nowhere for long (issue 17): not at its
commit (the events made, encoded into the outbox, handed to the bus), nor where the
consumers of the durable stream and of the bus read and handle them afterwards.

A served process runs with asyncio's debug mode, which logs every callback of the event
loop that ran longer than `loop.slow_callback_duration` (0.1 s) as "Executing <...> took X
seconds"; the test reads that log from the write on until every consumer group has read
the write. uvicorn runs its loop with debug off whatever PYTHONASYNCIODEBUG says, so the
process is `cityhelix serve` started through `_SERVE_IN_DEBUG`, which turns it on.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.hub.factories import make_datastream
from tests.hub.hostile_support import data_array_body, postgres_database
from tests.served import cli_env, free_port, stop_process, wait_until_up

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROWS = 100_000
#: the longest callback the test lets pass. The goal is 0.1 s, and it is what an idle
#: machine shows (docs/operations.md); CI runs ~2,700 tests on 2 loaded cores, where the
#: scheduler can preempt the server mid-callback and stretch a 0.1 s step several times
#: over, so the test allows 0.5 s. Main's code before issue 17 held the loop 1 to 3 s at
#: the commit and in the consumers: far past it.
LONGEST_CALLBACK_S = 0.5
#: the consumer groups of a `cityhelix serve`: ops rules, city cameras, desk alerts, webhooks
GROUPS = 4
_SLOW = re.compile(r"Executing (.*?) took ([0-9.]+) seconds")
#: `cityhelix serve --port <argv[1]>`, its event loop in debug mode from its start. Debug
#: mode also records where each callback and future was made (a traceback, a stat of
#: every frame's file): that made the write ten times slower on SQLite (aiosqlite makes a
#: future per statement) and stretched the very callbacks measured, so it is skipped
_SERVE_IN_DEBUG = """
import asyncio, sys, traceback, uvicorn
traceback.StackSummary.extract = classmethod(lambda summary, *args, **kwargs: summary())
serve = uvicorn.Server.serve
async def serve_in_debug(self, *args, **kwargs):
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    return await serve(self, *args, **kwargs)
uvicorn.Server.serve = serve_in_debug
from cityhelix.cli import app
app(["serve", "--port", sys.argv[1]])
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/hub.db"
        return
    with postgres_database() as (url, _dsn):
        yield url


@contextmanager
def served_in_debug(database_url: str, log: Path, **env: str) -> Iterator[str]:
    """A `cityhelix serve` with asyncio's debug mode, its output in `log`; its base URL."""
    for attempt in range(3):
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-c", _SERVE_IN_DEBUG, str(port)],
                env=cli_env(database_url, **env),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            try:
                wait_until_up(process, f"http://127.0.0.1:{port}")
            except RuntimeError:
                # the free port was taken before the server bound it: another one
                if attempt < 2 and "address already in use" in log.read_text(errors="replace"):
                    continue
                raise RuntimeError(log.read_text(errors="replace")[-3000:]) from None
            yield f"http://127.0.0.1:{port}"
            return
        finally:
            stop_process(process)


async def _consumer_lags(client: httpx.AsyncClient) -> dict[str, int]:
    status = await client.get("/api/hub/stream", headers=AUTH)
    assert status.status_code == 200, status.text
    return {group["name"]: group["lag_events"] for group in status.json()["consumers"]}


async def _until(what: str, seconds: float, check: Callable[[], Awaitable[bool]]) -> None:
    """Until `check()` answers true; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.2)


def test_a_write_of_100000_readings_holds_the_event_loop_nowhere_long(
    database_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = {"CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN, "CITYHELIX_RATE_ANONYMOUS_READS_PER_SECOND": "0"}
    with served_in_debug(database_url, log, **env) as base:

        async def run() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=300) as client:
                stream = await make_datastream(client, AUTH)

                # every group reads before the write: one made after it ("latest") skips it
                async def groups_reading() -> bool:
                    return len(await _consumer_lags(client)) >= GROUPS

                await _until("the consumer groups", 60, groups_reading)
                body = data_array_body(stream, ROWS)
                start = log.stat().st_size
                answer = await client.post(
                    "/v1.1/CreateObservations",
                    content=body,
                    headers={**AUTH, "Content-Type": "application/json"},
                )
                assert answer.status_code == 201, answer.text[:300]
                assert len(answer.json()) == ROWS
                assert "error" not in answer.json()

                async def all_read() -> bool:
                    return all(lag == 0 for lag in (await _consumer_lags(client)).values())

                await _until("every group reading the write", 300, all_read)
                stored = await client.get(
                    f"/v1.1/Datastreams({stream})/Observations",
                    params={"$count": "true", "$top": "0"},
                )
                assert stored.json()["@iot.count"] == ROWS
                text = log.read_bytes()[start:].decode(errors="replace")
                slow = sorted(
                    ((float(seconds), what) for what, seconds in _SLOW.findall(text)),
                    reverse=True,
                )
                assert not slow or slow[0][0] <= LONGEST_CALLBACK_S, (
                    f"{len(slow)} callbacks over 0.1 s, the longest:\n"
                    + "\n".join(f"{seconds:.3f} s {what[:300]}" for seconds, what in slow[:5])
                )

        asyncio.run(run())
