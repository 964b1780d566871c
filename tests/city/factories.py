"""Small builders for the city services' tests: a Thing with Datastreams named by their
ObservedProperty (as the domains recognise them), and readings posted in one request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
CATEGORY = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_CategoryObservation"
DAY = datetime(2026, 11, 3, tzinfo=UTC)


def at(hour: float, day: datetime = DAY) -> str:
    """The wire time `hour` hours after the start of `day` (negative: the day before)."""
    return (day + timedelta(hours=hour)).isoformat().replace("+00:00", "Z")


def stream(
    property_name: str, unit: str = "ug/m3", observation_type: str = MEASUREMENT
) -> dict[str, Any]:
    return {
        "name": f"{property_name} stream",
        "description": property_name,
        "observationType": observation_type,
        "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": "https://qudt.org/"},
        "Sensor": {
            "name": f"{property_name} sensor",
            "description": "analyser",
            "encodingType": "application/pdf",
            "metadata": "https://example.org/sensor.pdf",
        },
        "ObservedProperty": {
            "name": property_name,
            "definition": f"https://example.org/def/{property_name.replace(' ', '_')}",
            "description": property_name,
        },
    }


async def make_thing(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str,
    properties: dict[str, Any],
    streams: list[dict[str, Any]],
    lon: float = 106.65,
    lat: float = 10.98,
) -> tuple[int, dict[str, int]]:
    """A Thing with a point Location and `streams`; (its id, Datastream id by property name)."""
    body = {
        "name": name,
        "description": name,
        "properties": properties,
        "Locations": [
            {
                "name": f"{name} site",
                "description": "site",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }
        ],
        "Datastreams": streams,
    }
    created = await client.post("/v1.1/Things", json=body, headers=headers)
    assert created.status_code == 201, created.text
    thing_id = int(created.json()["@iot.id"])
    listed = await client.get(
        f"/v1.1/Things({thing_id})/Datastreams", params={"$expand": "ObservedProperty"}
    )
    assert listed.status_code == 200, listed.text
    ids = {d["ObservedProperty"]["name"]: int(d["@iot.id"]) for d in listed.json()["value"]}
    return thing_id, ids


async def post_readings(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    datastream_id: int,
    rows: list[tuple[str, Any]],
    parameters: list[dict[str, Any]] | None = None,
) -> None:
    """(time, result) rows into one Datastream, in one CreateObservations request."""
    if not rows:
        return
    components = ["phenomenonTime", "result"] + (["parameters"] if parameters else [])
    data = [
        [time, result] + ([parameters[i]] if parameters else [])
        for i, (time, result) in enumerate(rows)
    ]
    answer = await client.post(
        "/v1.1/CreateObservations",
        json=[
            {"Datastream": {"@iot.id": datastream_id}, "components": components, "dataArray": data}
        ],
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    assert all(not str(link).startswith("error") for link in answer.json()), answer.text
