"""The app composed from pillars: their routers mounted, their lifespans entered in order
after the ground and left in reverse, and the ground migrating without any pillar."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from cityhelix.db.migrate import Schema, alembic_config
from cityhelix.pillar import Lifespan, Mount, Pillar
from cityhelix.settings import Settings


def _pillar(name: str, events: list[str], *, fails: bool = False) -> Pillar:
    router = APIRouter()

    @router.get(f"/{name}")
    async def answer() -> dict[str, str]:
        return {"pillar": name}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI, _settings: Settings) -> AsyncIterator[None]:
        engine: AsyncEngine = app.state.engine  # the ground is up before any pillar
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        events.append(f"{name} up")
        if fails:
            raise RuntimeError(f"{name} cannot start")
        try:
            yield
        finally:
            events.append(f"{name} down")

    running: Lifespan = lifespan
    return Pillar(name=name, mount=Mount(routers=(router,), lifespan=running))


def _settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'composed.db'}", mqtt_port=0)


async def test_pillars_start_in_order_after_the_ground_and_stop_in_reverse(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    app = create_app(
        _settings(tmp_path), pillars=(_pillar("first", events), _pillar("second", events))
    )
    async with app.router.lifespan_context(app):
        assert events == ["first up", "second up"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/first")).json() == {"pillar": "first"}
            assert (await http.get("/second")).json() == {"pillar": "second"}
            # without the hub there is no SensorThings, and no SensorThings error format
            assert (await http.get("/v1.1/Things")).json() == {"detail": "Not Found"}
        async with app.state.engine.connect() as connection:
            versions = await connection.execute(text("SELECT version_num FROM alembic_version"))
            # the ground's history alone
            assert set(versions.scalars()) == set(ground_heads())
    assert events == ["first up", "second up", "second down", "first down"]


async def test_a_pillar_that_fails_to_start_stops_those_started_before_it(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    app = create_app(
        _settings(tmp_path),
        pillars=(_pillar("first", events), _pillar("second", events, fails=True)),
    )
    with pytest.raises(RuntimeError, match="second cannot start"):
        async with app.router.lifespan_context(app):
            pass
    assert events == ["first up", "second up", "first down"]


def ground_heads() -> tuple[str, ...]:
    """The newest revision of the ground's history, read from its files."""
    config = alembic_config("sqlite+aiosqlite://", Schema())
    return tuple(ScriptDirectory.from_config(config).get_heads())
