"""The scorecard's schedule: a server started with `scorecard_recompute_seconds` recomputes
the current year's computed indicators by itself, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from tests.conftest import Backend


async def _patents_history(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    answer = await http.get("/api/helix/scorecard/indicators/HELIX-PATENTS")
    history: list[dict[str, Any]] = answer.json()["history"]
    return history


async def test_a_server_recomputes_the_current_year_on_its_schedule(
    backend: Backend, engine: AsyncEngine
) -> None:
    settings = backend.settings.model_copy(update={"scorecard_recompute_seconds": 0.2})
    app = create_app(settings)
    year = str(datetime.now(UTC).year)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:

            async def two_runs() -> list[dict[str, Any]]:
                while len(history := await _patents_history(http)) < 2:
                    await asyncio.sleep(0.05)
                return history

            history = await asyncio.wait_for(two_runs(), timeout=20)
    assert {h["period"] for h in history} == {year}
    assert all(h["provenance"]["by"] == "schedule" for h in history)
    assert history[0]["at"] < history[1]["at"]
