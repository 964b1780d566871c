"""Small factories for the desk's tests: department users and incidents, through the API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user
from cityhelix.events.bus import EntityEvent
from tests.conftest import bearer

#: a point in Di An (district "di_an" of the shipped catalogue)
DI_AN = {"type": "Point", "coordinates": [106.7690, 10.9068]}
#: a point in Thu Dau Mot
THU_DAU_MOT = {"type": "Point", "coordinates": [106.6519, 10.9804]}


async def department_user(engine: AsyncEngine, department: str) -> dict[str, str]:
    """Authorization headers of a new user of role `department` in `department`."""
    token = await create_user(engine, f"clerk-{department}", Role.DEPARTMENT, department)
    return bearer(token)


async def incident(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "streetlight_out",
        "title": "Three lights dark on Binh Duong Avenue",
        "description": "Reported by the night patrol",
        "location": DI_AN,
        **fields,
    }
    answer = await client.post("/api/ops/incidents", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    document: dict[str, Any] = answer.json()
    return document


async def wait_for_events(
    app: Any, group: str, wanted: Callable[[EntityEvent], bool], count: int, timeout: float = 20
) -> list[EntityEvent]:
    """The first `count` events of the durable stream that `wanted` picks, read by a consumer
    group `group` from the start; AssertionError when they do not come within `timeout`."""
    stream = app.state.stream
    found: list[EntityEvent] = []

    async def collect() -> None:
        async with stream.consumer(group, start="earliest") as consumer:
            while len(found) < count:
                for change in await consumer.read(limit=100, timeout=timeout):
                    found.extend(e for e in change.events if wanted(e))
                await consumer.commit()

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        raise AssertionError(f"{len(found)} of {count} events within {timeout} s") from None
    return found[:count]
