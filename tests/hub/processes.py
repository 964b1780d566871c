"""Real processes for the ingest tests: Mosquitto with the shipped config, `cityhelix serve`.

Each test starts its own broker (deploy/mosquitto.conf on a free port) and its own hub
processes, with output to files (a full pipe would stall a busy server), and stops them.
"""

from __future__ import annotations

import asyncio
import getpass
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests.conftest import POSTGRES_ADMIN_DSN
from tests.served import ServedProcess, start_mosquitto, start_served

SHIPPED_CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto.conf"
#: lines of the shipped config that name the production host's listener, files and paths
_HOST_SPECIFIC = (
    "listener",
    "allow_anonymous",
    "password_file",
    "acl_file",
    "persistence_location",
)
START_SECONDS = 60.0


def wait_until(
    condition: Callable[[], bool], seconds: float, what: str, *, every: float = 0.05
) -> None:
    """Poll `condition` until it holds; AssertionError naming `what` after `seconds`.

    It is polled every `every` seconds: a condition that asks a busy server polls less
    often, so as not to slow the server down.
    """
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(every)


@contextmanager
def mosquitto(
    directory: Path, *, users: Path | None = None, acl: Path | None = None
) -> Iterator[int]:
    """A Mosquitto of our own with the shipped config, on a free port; its port.

    Anonymous, everyone may do anything, unless given a password file and an ACL file.
    """
    access = (
        [f"password_file {users}", f"acl_file {acl}", "allow_anonymous false"]
        if users is not None and acl is not None
        else ["allow_anonymous true"]
    )
    kept = [
        line
        for line in SHIPPED_CONFIG.read_text().splitlines()
        if not line.strip().startswith(_HOST_SPECIFIC)
    ]

    def config(port: int) -> list[str]:
        return [
            *kept,
            f"listener {port} 127.0.0.1",
            *access,
            f"persistence_location {directory}/",
            # as root Mosquitto would switch to the user "mosquitto", who cannot write here
            f"user {getpass.getuser()}",
        ]

    port, process = start_mosquitto(directory, config)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _postgres_admin(statement: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _run_admin(statement: str) -> None:
    # on a loop of its own: the caller may be a test of the session's running loop
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _postgres_admin(statement)).result()


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """The URL of a PostgreSQL database of one test's own, dropped after it.

    Hub processes write to it concurrently and are killed mid-transaction; the session's
    shared database, emptied between in-process tests, is no place for that.
    """
    name = f"cityhelix_proc_{uuid.uuid4().hex[:10]}"
    _run_admin(f'CREATE DATABASE "{name}"')
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        _run_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


#: a `cityhelix serve` process: its URL, and how to stop or kill it
Hub = ServedProcess


def start_hub(database_url: str, log: Path, **env: str) -> Hub:
    """A `cityhelix serve` on a free port, once it answers."""
    return start_served(database_url, log, seconds=START_SECONDS, **env)


@contextmanager
def running_hub(database_url: str, log: Path, **env: str) -> Iterator[Hub]:
    hub = start_hub(database_url, log, **env)
    try:
        yield hub
    finally:
        hub.stop()
