"""Small builders for the street lighting tests: lamps over HTTP, readings over HTTP."""

from __future__ import annotations

from typing import Any

import httpx


async def make_lamp(
    client: httpx.AsyncClient, admin: dict[str, str], name: str = "Lamp 1", **given: Any
) -> dict[str, int]:
    body = {
        "name": name,
        "kind": "lamp",
        "lon": 106.652,
        "lat": 10.980,
        "district": "Thu Dau Mot",
        "road": "Yersin",
        "cabinet": "TDM-01",
        "rated_watts": 100,
        **given,
    }
    made = await client.post("/api/city/lighting/lamps", json=body, headers=admin)
    assert made.status_code == 201, made.text
    ids: dict[str, int] = made.json()
    return ids


async def post_readings(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    datastream_id: int,
    readings: list[tuple[str, float]],
) -> None:
    """(phenomenonTime, result) pairs as one CreateObservations request."""
    body = [
        {
            "Datastream": {"@iot.id": datastream_id},
            "components": ["phenomenonTime", "result"],
            "dataArray": [[time, value] for time, value in readings],
        }
    ]
    posted = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert posted.status_code == 201, posted.text
    assert "error" not in posted.json()
