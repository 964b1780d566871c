"""Small builders for the operations centre's tests: Datastreams, readings and rules over
HTTP, at times the test chooses (evaluation follows phenomenon times, not the clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.hub.factories import full_thing

START = datetime(2026, 11, 1, tzinfo=UTC)


def at(minutes: float) -> str:
    return (START + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


async def new_datastream(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str = "Air station 1",
    district: str = "Thu Dau Mot",
) -> int:
    body = full_thing(name, 0)
    body["properties"] = {"district": district}
    created = await client.post("/v1.1/Things", json=body, headers=headers)
    assert created.status_code == 201, created.text
    thing_id = created.json()["@iot.id"]
    streams = (await client.get(f"/v1.1/Things({thing_id})/Datastreams")).json()
    return int(streams["value"][0]["@iot.id"])


async def send(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    datastream_id: int,
    minute: float,
    value: Any,
) -> int:
    answer = await client.post(
        f"/v1.1/Datastreams({datastream_id})/Observations",
        json={"phenomenonTime": at(minute), "result": value},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["@iot.id"]) if answer.content else 0


async def new_rule(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> int:
    answer = await client.post("/api/ops/rules", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


async def alerts(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[Any]:
    answer = await client.get("/api/ops/alerts", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    value: list[Any] = answer.json()["value"]
    return value


def threshold(datastream_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "name": "PM2.5 high",
        "kind": "threshold",
        "datastream_ids": [datastream_id],
        "operator": "gt",
        "value": 50,
        "clear_value": 40,
        "for_seconds": 0,
        "severity": "warning",
        **changes,
    }
