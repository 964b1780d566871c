"""Small builders of SensorThings request bodies, so tests say only what matters to them,
and the one request many tests start with (`make_datastream`)."""

from __future__ import annotations

from typing import Any

import httpx

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


def location(name: str = "Thu Dau Mot", lon: float = 106.65, lat: float = 10.98) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"{name} kerbside",
        "encodingType": "application/geo+json",
        "location": {"type": "Point", "coordinates": [lon, lat]},
    }


def sensor(name: str = "PMS5003") -> dict[str, Any]:
    return {
        "name": name,
        "description": "optical particle counter",
        "encodingType": "application/pdf",
        "metadata": "https://example.org/pms5003.pdf",
    }


def observed_property(name: str = "PM2.5") -> dict[str, Any]:
    return {
        "name": name,
        "definition": "http://vocab.nerc.ac.uk/collection/P01/current/PM25XXXX/",
        "description": "fine particulate matter",
    }


def datastream(name: str = "PM2.5 at station 1", **links: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "hourly PM2.5",
        "observationType": MEASUREMENT,
        "unitOfMeasurement": {
            "name": "microgram per cubic metre",
            "symbol": "ug/m3",
            "definition": "http://unitsofmeasure.org/ucum.html#para-30",
        },
    }
    body.update(links)
    return body


def thing(name: str = "Air station 1", **links: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "description": "air-quality station",
        "properties": {"district": "Thu Dau Mot"},
    }
    body.update(links)
    return body


def full_thing(name: str = "Air station 1", observations: int = 3) -> dict[str, Any]:
    """A Thing with a Location and one Datastream (new Sensor and ObservedProperty)."""
    return thing(
        name,
        Locations=[location()],
        Datastreams=[
            datastream(
                Sensor=sensor(),
                ObservedProperty=observed_property(),
                Observations=[
                    {"phenomenonTime": f"2026-11-01T0{i}:00:00Z", "result": 10 + i}
                    for i in range(observations)
                ],
            )
        ],
    )


#: the generic observation type: any result, objects and arrays included
OM_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"


async def make_datastream(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str = "Air station 1",
    *,
    observation_type: str | None = None,
) -> int:
    """A Thing with a Location and one Datastream, over HTTP; the Datastream's id (of
    `observation_type` when given: a Measurement stream refuses object results)."""
    created = await client.post("/v1.1/Things", json=full_thing(name, 0), headers=headers)
    assert created.status_code == 201, created.text
    streams = (await client.get(f"/v1.1/Things({created.json()['@iot.id']})/Datastreams")).json()
    stream_id = int(streams["value"][0]["@iot.id"])
    if observation_type is not None:
        patched = await client.patch(
            f"/v1.1/Datastreams({stream_id})",
            json={"observationType": observation_type},
            headers=headers,
        )
        assert patched.status_code in (200, 204), patched.text
    return stream_id
