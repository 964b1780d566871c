"""The operations centre's fixtures: an app of its own per test, started on emptied tables
(its rule consumer then starts at the stream's true end), on SQLite and PostgreSQL, and a
watcher of the durable stream to wait for alert events instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from cityhelix.app import create_app
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade_async
from cityhelix.events.bus import EntityEvent
from cityhelix.events.stream import EventStream
from cityhelix.pillars import SCHEMA
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN, Backend, _empty_all_tables
from tests.served import bound_socket, port_of

#: generous: on a PostgreSQL cluster shared with other runs, a long transaction elsewhere
#: holds every stream reader back (docs/events.md)
TIMEOUT = 30.0
_migrated: set[str] = set()


def ops_settings(backend: Backend, **changes: Any) -> Settings:
    """The test backend's settings, with the rule scheduler and the stream quick."""
    return backend.settings.model_copy(
        update={
            "ops_stale_check_seconds": 0.2,
            "ops_alert_min_reraise_seconds": 0.0,
            "stream_poll_seconds": 0.2,
            "ops_rules_live": True,
            **changes,
        }
    )


async def fresh_database(settings: Settings) -> None:
    """Migrated once per run, emptied before each test (before any app reads it)."""
    if settings.database_url not in _migrated:
        await upgrade_async(settings.database_url, SCHEMA)
        _migrated.add(settings.database_url)
    engine = create_engine(settings)
    try:
        await _empty_all_tables(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def ops_app(backend: Backend) -> AsyncIterator[FastAPI]:
    settings = ops_settings(backend)
    await fresh_database(settings)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def ops_client(ops_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(ops_app) as http:
        yield http


def client_of(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@contextlib.asynccontextmanager
async def uvicorn_served(settings: Settings) -> AsyncIterator[tuple[FastAPI, str]]:
    """An app on a fresh database, served by uvicorn on a port of its own (its lifespan ours)."""
    await fresh_database(settings)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app), serving_in_process(app) as url:
        yield app, url


@contextlib.asynccontextmanager
async def serving_in_process(app: Any) -> AsyncIterator[str]:
    """The URL of `app` (an ASGI app, lifespan not run) served by uvicorn in this loop, on a
    socket bound here first: no other server can take its port meanwhile."""
    with bound_socket() as bound:
        config = uvicorn.Config(app, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[bound]))
        try:
            async with asyncio.timeout(TIMEOUT):
                while not server.started:  # uvicorn offers no awaitable for this
                    if task.done():
                        task.result()  # its failure, rather than a wait until the timeout
                        raise RuntimeError("uvicorn stopped before it started")
                    await asyncio.sleep(0.01)
            yield f"http://127.0.0.1:{port_of(bound)}"
        finally:
            server.should_exit = True
            await task


@pytest.fixture
async def sse_app(backend: Backend) -> AsyncIterator[tuple[FastAPI, str]]:
    """An app with quick heartbeats, served by uvicorn on a free port."""
    async with uvicorn_served(ops_settings(backend, ops_sse_heartbeat_seconds=0.3)) as served:
        yield served


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Watch:
    """Reads the durable stream as a consumer group of its own: waits for ops events."""

    def __init__(self, stream: EventStream) -> None:
        self._consumer = stream.consumer(f"test-{uuid.uuid4().hex[:8]}", start="earliest")
        self.seen: list[EntityEvent] = []

    async def until(
        self, matches: Callable[[EntityEvent], bool], *, timeout: float = TIMEOUT
    ) -> EntityEvent:
        """The first event (seen or to come) that `matches`; fails after `timeout`."""
        for event in self.seen:
            if matches(event):
                self.seen.remove(event)
                return event
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            for change in await self._consumer.read(timeout=left):
                self.seen.extend(e for e in change.events if e.pillar == "ops")
            for event in self.seen:
                if matches(event):
                    self.seen.remove(event)
                    return event
        raise AssertionError(f"no matching event within {timeout} s; saw {self.seen}")

    async def alert(self, change: str | None = None, **payload: Any) -> EntityEvent:
        """The next Alert event whose payload has these members (change: raise/repeat/...)."""

        def matches(event: EntityEvent) -> bool:
            if event.entity_type != "Alert":
                return False
            if change == "raise" and event.action != "create":
                return False
            if change not in (None, "raise") and event.payload.get("change") != change:
                return False
            return all(event.payload.get(k) == v for k, v in payload.items())

        return await self.until(matches)

    async def close(self) -> None:
        await self._consumer.close()


@pytest.fixture
async def watch(ops_app: FastAPI) -> AsyncIterator[Watch]:
    watcher = Watch(ops_app.state.stream)
    yield watcher
    await watcher.close()
