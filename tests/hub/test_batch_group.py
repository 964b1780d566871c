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
from tests.hub.factories import datastream, make_datastream

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


async def test_readings_written_together_answer_as_single_posts_and_read_back_alike(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)
    links = (
        await client.get(
            f"/v1.1/Datastreams({stream})", params={"$expand": "Thing,Sensor,ObservedProperty"}
        )
    ).json()
    new_stream = datastream(
        "made in the group",
        Thing={"@iot.id": links["Thing"]["@iot.id"]},
        Sensor={"@iot.id": links["Sensor"]["@iot.id"]},
        ObservedProperty={"@iot.id": links["ObservedProperty"]["@iot.id"]},
    )
    requests: list[dict[str, Any]] = [
        {
            "id": "ds",
            "atomicityGroup": "g",
            "method": "post",
            "url": "Datastreams",
            "body": new_stream,
        }
    ]
    for i in range(5):
        requests.append(
            {
                "id": f"r{i}",
                "atomicityGroup": "g",
                "method": "post",
                "url": "Observations",
                "body": {
                    "phenomenonTime": f"2026-11-03T11:0{i}:00Z",
                    "resultTime": f"2026-11-03T11:0{i}:30Z",
                    "result": i * 1.5 if i % 2 else i,
                    "parameters": {"i": i},
                    "Datastream": {"@iot.id": "$ds"},
                },
            }
        )
    answer = await client.post("/v1.1/$batch", json={"requests": requests}, headers=admin)
    assert answer.status_code == 200, answer.text
    responses = answer.json()["responses"]
    assert [r["status"] for r in responses] == [201] * 6
    for item in responses[1:]:
        location = item["headers"]["location"]
        stored = await client.get("/v1.1" + location.split("/v1.1", 1)[1])
        assert stored.status_code == 200, stored.text
        assert item["body"] == stored.json()
    made = (await client.get(f"/v1.1/Datastreams({responses[0]['body']['@iot.id']})")).json()
    assert made["phenomenonTime"] == "2026-11-03T11:00:00Z/2026-11-03T11:04:00Z"
    assert made["resultTime"] == "2026-11-03T11:00:30Z/2026-11-03T11:04:30Z"
    readings = await client.get(
        f"/v1.1/Datastreams({made['@iot.id']})/Observations", params={"$orderby": "id"}
    )
    assert [o["result"] for o in readings.json()["value"]] == [0, 1.5, 2, 4.5, 4]
