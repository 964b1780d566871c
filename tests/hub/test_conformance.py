"""A walk through the OGC SensorThings 1.1 Part 1 conformance classes (OGC 18-088 annex A).

Each test builds the same small data set and asks the questions an OGC test would,
checking exact answers: status codes, `@iot.count`, order, paging links. Both backends.
The filtering (A.3) and data-array read (A.6) walks join when the query compiler lands.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.hub.factories import MEASUREMENT, location, observed_property, sensor

pytestmark = pytest.mark.asyncio
SPEC = "http://www.opengis.net/spec/iot_sensing/1.1/req/"


async def city(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """Two Things, three Datastreams, 12 Observations with known values and times."""
    ids: dict[str, Any] = {}
    for index, (name, district, lon) in enumerate(
        [("Station A", "Thu Dau Mot", 106.65), ("Station B", "Di An", 106.77)]
    ):
        body = {
            "name": name,
            "description": f"station {index}",
            "properties": {"district": district, "rank": index},
            "Locations": [location(f"{name} site", lon, 10.9 + index / 10)],
            "Datastreams": [
                {
                    "name": f"{name} {quantity}",
                    "description": quantity,
                    "observationType": MEASUREMENT,
                    "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": "ucum"},
                    "Sensor": sensor(f"{name} sensor {quantity}"),
                    "ObservedProperty": observed_property(quantity),
                    "Observations": [
                        {"phenomenonTime": f"2026-11-01T0{h}:00:00Z", "result": value + h}
                        for h in range(4)
                    ],
                }
                for quantity, unit, value in (
                    [("PM2.5", "ug/m3", 10), ("NO2", "ug/m3", 40)]
                    if index == 0
                    else [("PM2.5", "ug/m3", 20)]
                )
            ],
        }
        created = await client.post("/v1.1/Things", json=body, headers=admin)
        assert created.status_code == 201
        ids[name] = created.json()["@iot.id"]
    return ids


async def test_a1_sensing_core(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await city(client, admin)
    root = (await client.get("/v1.1")).json()
    assert f"{SPEC}datamodel" in root["serverSettings"]["conformance"]
    expected = {
        "Things": 2,
        "Locations": 2,
        "HistoricalLocations": 2,
        "Sensors": 3,
        "ObservedProperties": 3,
        "Datastreams": 3,
        "Observations": 12,
        "FeaturesOfInterest": 2,
        "MultiDatastreams": 0,
    }
    for entry in root["value"]:
        page = (await client.get(entry["url"], params={"$count": "true"})).json()
        assert page["@iot.count"] == expected[entry["name"]], entry["name"]
        for entity in page["value"]:
            again = await client.get(entity["@iot.selfLink"])
            assert again.status_code == 200 and again.json() == entity
            for key, link in entity.items():
                if key.endswith("@iot.navigationLink"):
                    assert (await client.get(link)).status_code == 200, link


async def test_a2_create_update_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    thing_url = f"/v1.1/Things({ids['Station B']})"
    patched = await client.patch(thing_url, json={"description": "moved"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["description"] == "moved"
    assert (await client.delete(thing_url, headers=admin)).status_code == 200
    assert (await client.get(thing_url)).status_code == 404
    counts = {
        s: (await client.get(f"/v1.1/{s}", params={"$count": "true", "$top": "0"})).json()[
            "@iot.count"
        ]
        for s in ("Things", "Datastreams", "Observations", "HistoricalLocations", "Locations")
    }
    assert counts == {
        "Things": 1,
        "Datastreams": 2,
        "Observations": 8,
        "HistoricalLocations": 1,
        "Locations": 2,
    }


async def test_a4_batch(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    body = {
        "requests": [
            {"id": "1", "method": "get", "url": f"Things({ids['Station A']})?$select=name"},
            {
                "id": "2",
                "method": "patch",
                "url": f"Things({ids['Station A']})",
                "body": {"name": "Station A2"},
                "atomicityGroup": "g",
            },
        ]
    }
    answers = (await client.post("/v1.1/$batch", json=body, headers=admin)).json()["responses"]
    assert [(a["id"], a["status"]) for a in answers] == [("1", 200), ("2", 200)]
    assert answers[0]["body"] == {"name": "Station A"}


async def test_a5_multidatastream(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    body = {
        "name": "wind",
        "description": "wind",
        "unitOfMeasurements": [
            {"name": "m/s", "symbol": "m/s", "definition": "ucum"},
            {"name": "deg", "symbol": "deg", "definition": "ucum"},
        ],
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
        "Thing": {"@iot.id": ids["Station A"]},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [observed_property("speed"), observed_property("direction")],
        "Observations": [{"phenomenonTime": "2026-11-01T00:00:00Z", "result": [3.5, 180]}],
    }
    created = await client.post("/v1.1/MultiDatastreams", json=body, headers=admin)
    assert created.status_code == 201
    url = created.json()["@iot.selfLink"]
    observations = (await client.get(f"{url}/Observations")).json()["value"]
    assert [o["result"] for o in observations] == [[3.5, 180]]
    listed = (await client.get(f"/v1.1/Things({ids['Station A']})/MultiDatastreams")).json()
    assert [m["name"] for m in listed["value"]] == ["wind"]
