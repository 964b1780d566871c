"""Fixtures that build the real thing: a migrated database on each backend, the app, clients.

Every test that takes `client` runs twice, on SQLite and on PostgreSQL (a database made
for this run and dropped after it). PostgreSQL is not optional: when it cannot be
reached the tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import atexit
import gc
import getpass
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user
from cityhelix.db.engine import SQLITE_BUSY_MS
from cityhelix.db.metadata import metadata
from cityhelix.settings import Settings
from tests.served import start_mosquitto


def _a_mosquitto_for_this_worker() -> None:
    """Under pytest-xdist, a Mosquitto of each worker's own for the tests that use "the"
    broker (`CITYHELIX_TEST_MQTT_URL`: tests/hub/test_mqtt.py, tests/city): two hubs of
    two tests on one broker would take each other's readings (every test database has its
    Datastream 1). Set before the test modules read the variable; gone with the worker."""
    if not os.environ.get("PYTEST_XDIST_WORKER") or "CITYHELIX_TEST_MQTT_URL" in os.environ:
        return
    directory = Path(tempfile.mkdtemp(prefix="cityhelix-test-mosquitto-"))
    port, process = start_mosquitto(
        directory,
        lambda port: [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            f"user {getpass.getuser()}",
        ],
    )
    atexit.register(process.terminate)
    os.environ["CITYHELIX_TEST_MQTT_URL"] = f"mqtt://127.0.0.1:{port}"


_a_mosquitto_for_this_worker()


POSTGRES_ADMIN_DSN = os.environ.get(
    "CITYHELIX_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ADMIN_TOKEN = "test-admin-token-0123456789"
BACKENDS = ("sqlite", "postgresql")


@dataclass
class Backend:
    name: str
    url: str
    settings: Settings


async def _postgres_admin(statement: str) -> None:
    admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


def _run_outside_loop(statement: str) -> None:
    """Run one admin statement on its own loop (fixtures may be set up inside a loop)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _postgres_admin(statement)).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped at the end."""
    name = f"cityhelix_test_{uuid.uuid4().hex[:10]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    yield f"postgresql+asyncpg://{host_part}/{name}"
    _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "cityhelix.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Backend:
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else sqlite_url
    # MQTT off: tests/hub/test_mqtt.py starts its own bridges on free ports; rule
    # evaluation off: its consumer group and lease rows would come and go under tests that
    # count rows (tests/ops starts apps of its own with it on)
    settings = Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        page_size=100,
        mqtt_port=0,
        ops_rules_live=False,
        ops_attachments_dir=str(tmp_path_factory.mktemp(f"attachments-{request.param}")),
        ops_webhook_allowed_hosts=["127.0.0.1"],  # the tests' receivers: loopback allowed
        # overdue incidents escalate within a test's patience
        ops_escalation_seconds=0.2,
        # webhook retries within a test's patience: 0.1 s, 0.2 s, then the dead-letter list
        ops_webhook_poll_seconds=0.2,
        ops_webhook_backoff_seconds=0.1,
        ops_webhook_max_attempts=3,
    )
    return Backend(request.param, url, settings)


@pytest.fixture(scope="session")
async def running_app(backend: Backend) -> AsyncIterator[object]:
    app = create_app(backend.settings)
    async with app.router.lifespan_context(app):
        yield app


#: a reset that lost a lock race is tried again, this many times
_RESET_ATTEMPTS = 20
#: SQLite: how long the reset waits for the write lock each time (the connection gets the
#: app's own wait, `SQLITE_BUSY_MS`, back after)
_RESET_BUSY_MS = 2_000


async def _empty_all_tables(engine: AsyncEngine) -> None:
    """Every table emptied, ids from 1 again.

    The session's app keeps running between tests, and its background tasks (escalation,
    webhook delivery, the event relay) write while the reset runs: on PostgreSQL the reset's
    locks, taken table by table, can deadlock with one of them, on SQLite the write lock can
    stay taken past the busy timeout while the loop is busy elsewhere. Either way the reset
    rolled back whole and is simply tried again. On SQLite the collector runs first (a
    connection dropped inside a reference cycle keeps its transaction, and the file's write
    lock, until it is collected), and a reset that still fails names who holds locks on the
    file: this process or another one.
    """
    for attempt in range(_RESET_ATTEMPTS):
        try:
            await _empty_all_tables_once(engine)
            return
        except (DBAPIError, asyncpg.PostgresError) as lost:
            # (the PostgreSQL reset runs on the driver's connection: asyncpg's own errors)
            message = str(getattr(lost, "orig", lost)).lower()
            lock_race = "deadlock detected" in message or "database is locked" in message
            if not lock_race:
                raise
            if attempt == _RESET_ATTEMPTS - 1:
                holders = _lock_holders(engine)
                raise AssertionError(f"the reset lost every lock race; {holders}") from lost
            gc.collect()
            await asyncio.sleep(0.1 * (attempt + 1))


def _lock_holders(engine: AsyncEngine) -> str:
    """Who holds POSIX locks on the SQLite file and its WAL index (Linux's /proc/locks)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or not Path("/proc/locks").exists():
        return "no lock table to look at"
    inodes = {
        os.stat(path).st_ino: path
        for path in (database, f"{database}-shm", f"{database}-wal")
        if os.path.exists(path)
    }
    holders = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        pid, where = fields[4], fields[5].split(":")
        if len(where) == 3 and int(where[2]) in inodes:
            holders.append(f"pid {pid} ({fields[3]}) on {Path(inodes[int(where[2])]).name}")
    return f"this process is {os.getpid()}; locks: {', '.join(holders) or 'none'}"


#: the sequences the tables own (their ids), found once per PostgreSQL database
_OWNED_SEQUENCES: dict[str, list[str]] = {}
_SEQUENCES_OF = text(
    "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
    "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "WHERE s.relkind = 'S' AND s.relnamespace = current_schema()::regnamespace"
)


async def _empty_all_tables_once(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # DELETE, not TRUNCATE: a TRUNCATE of the 66 tables makes new files for each
            # (0.44 s a test; 0.02 s this way, in one round trip). The tables are locked
            # first, as TRUNCATE locks them: a background writer's transaction in flight
            # (an alert of the lighting round) ends before the rows go, not after
            key = str(engine.url)
            if key not in _OWNED_SEQUENCES:
                found = await connection.execute(_SEQUENCES_OF)
                _OWNED_SEQUENCES[key] = list(found.scalars())
            quote = connection.dialect.identifier_preparer.quote
            tables = ", ".join(quote(t.name) for t in metadata.sorted_tables)
            script = "; ".join(
                [f"LOCK TABLE {tables} IN ACCESS EXCLUSIVE MODE"]
                + [f"DELETE FROM {quote(t.name)}" for t in reversed(metadata.sorted_tables)]
                + [f"ALTER SEQUENCE {quote(name)} RESTART" for name in _OWNED_SEQUENCES[key]]
            )
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute(script)  # type: ignore[union-attr]
        else:
            # a short wait for the write lock, then the collector and another try (see
            # `_empty_all_tables`): the app's 30 s made one held lock cost minutes
            await connection.execute(text(f"PRAGMA busy_timeout={_RESET_BUSY_MS}"))
            try:
                for table in reversed(metadata.sorted_tables):
                    await connection.execute(delete(table))
                # ids start again at 1, as RESTART IDENTITY does on PostgreSQL
                await connection.execute(text("DELETE FROM sqlite_sequence"))
            finally:
                # (not transactional: the pooled connection gets the app's wait back)
                await connection.execute(text(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}"))


@pytest.fixture
async def engine(running_app: object) -> AsyncIterator[AsyncEngine]:
    """The app's engine, on tables emptied before each test."""
    engine: AsyncEngine = running_app.state.engine  # type: ignore[attr-defined]
    await _empty_all_tables(engine)
    yield engine


@pytest.fixture
async def client(running_app: object, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to the app, anonymous; pass `headers=auth(...)` to write."""
    transport = httpx.ASGITransport(app=running_app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def tokens(engine: AsyncEngine) -> dict[str, str]:
    """A token per role (and a second tenant), made through the auth service."""
    made = {
        role.value: await create_user(
            engine, f"user-{role.value}", role, "operations" if role is Role.DEPARTMENT else None
        )
        for role in Role
    }
    made["tenant2"] = await create_user(engine, "user-tenant2", Role.TENANT)
    return made


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
