"""A `$batch` atomicity group of many readings: one writer's run shares the end-of-transaction
work (derived times, rollups, audit), with the semantics of single POSTs kept (issue 17)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from cityhelix.hub.rollup_tables import observation_rollups
from tests.hub.factories import make_datastream

pytestmark = pytest.mark.asyncio


def _reading(name: str, stream: int, minute: int, result: object = 1.5) -> dict[str, Any]:
    return {
        "id": name,
        "atomicityGroup": "g",
        "method": "post",
        "url": f"Datastreams({stream})/Observations",
        "body": {"phenomenonTime": f"2026-11-03T10:{minute:02d}:00Z", "result": result},
    }


async def _audited_paths(engine: AsyncEngine) -> list[str]:
    """The `$batch` requests audited as writing an Observation (the first one also wrote the
    FeatureOfInterest it generated)."""
    async with engine.connect() as connection:
        found = await connection.scalars(
            select(audit_log.c.path).where(
                audit_log.c.path.like("%$batch%"), audit_log.c.entity_type == "Observation"
            )
        )
        return sorted(found)


async def test_group_of_readings_derives_times_rollups_and_audit_as_single_posts(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(client, admin)
    requests = [_reading(f"r{i}", stream, i) for i in range(3)]
    # a read inside the group sees the readings before it folded into the Datastream
    requests.append(
        {"id": "get", "atomicityGroup": "g", "method": "get", "url": f"Datastreams({stream})"}
    )
    requests.append(_reading("r3", stream, 30))
    requests.append(
        {"id": "again", "atomicityGroup": "g", "method": "get", "url": "$r3?$select=result"}
    )
    answer = await client.post("/v1.1/$batch", json={"requests": requests}, headers=admin)
    assert answer.status_code == 200, answer.text
    responses = {r["id"]: r for r in answer.json()["responses"]}
    assert [responses[f"r{i}"]["status"] for i in range(4)] == [201] * 4
    assert responses["r3"]["body"]["phenomenonTime"] == "2026-11-03T10:30:00Z"
    inside = responses["get"]["body"]
    assert inside["phenomenonTime"] == "2026-11-03T10:00:00Z/2026-11-03T10:02:00Z"
    assert responses["again"]["body"] == {"result": 1.5}
    after = (await client.get(f"/v1.1/Datastreams({stream})")).json()
    assert after["phenomenonTime"] == "2026-11-03T10:00:00Z/2026-11-03T10:30:00Z"
    async with engine.connect() as connection:
        counted = await connection.scalar(
            select(func.sum(observation_rollups.c.count)).where(
                observation_rollups.c.datastream_id == stream,
                observation_rollups.c.interval == "1m",
            )
        )
    assert counted == 4
    assert await _audited_paths(engine) == [f"/v1.1/$batch#r{i}" for i in range(4)]


async def test_failed_reading_in_a_group_leaves_no_rollup_time_or_audit(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(client, admin)
    requests = [_reading("r0", stream, 0), _reading("r1", stream, 1)]
    requests.append(_reading("bad", stream, 2, result={"not": "a number"}))
    answer = await client.post("/v1.1/$batch", json={"requests": requests}, headers=admin)
    assert answer.status_code == 200, answer.text
    statuses = {r["id"]: r["status"] for r in answer.json()["responses"]}
    assert statuses == {"r0": 400, "r1": 400, "bad": 400}
    assert (await client.get(f"/v1.1/Datastreams({stream})/Observations")).json()["value"] == []
    assert "phenomenonTime" not in (await client.get(f"/v1.1/Datastreams({stream})")).json()
    async with engine.connect() as connection:
        rollups = await connection.scalar(
            select(func.count()).where(observation_rollups.c.datastream_id == stream)
        )
    assert rollups == 0
    assert await _audited_paths(engine) == []
