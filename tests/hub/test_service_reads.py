"""The hub's typed reads for other pillars (`hub.service`), on both backends.

Data goes in over HTTP, as a device or an operator would write it; the reads are the plain
async functions a pillar calls, returning dataclasses, no SensorThings URLs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from shapely.geometry import Polygon, box
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub import service
from cityhelix.hub.errors import BadRequest
from tests.hub.factories import datastream, location, observed_property, sensor, thing

pytestmark = pytest.mark.asyncio


async def _thing(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    name: str,
    properties: dict[str, str],
    lon: float,
    lat: float,
) -> tuple[int, int]:
    """A Thing at (lon, lat) with one Datastream; (Thing id, Datastream id)."""
    body = thing(
        name,
        properties=properties,
        Locations=[location(name, lon, lat)],
        Datastreams=[
            datastream(f"{name} level", Sensor=sensor(), ObservedProperty=observed_property())
        ],
    )
    created = await client.post("/v1.1/Things", json=body, headers=admin)
    assert created.status_code == 201, created.text
    thing_id = created.json()["@iot.id"]
    streams = (await client.get(f"/v1.1/Things({thing_id})/Datastreams")).json()["value"]
    return thing_id, streams[0]["@iot.id"]


async def _readings(
    client: httpx.AsyncClient, admin: dict[str, str], stream_id: int, rows: list[list[object]]
) -> list[int]:
    answer = await client.post(
        "/v1.1/CreateObservations",
        json=[
            {
                "Datastream": {"@iot.id": stream_id},
                "components": ["phenomenonTime", "result"],
                "dataArray": rows,
            }
        ],
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    return [int(link.rsplit("(", 1)[1].rstrip(")")) for link in answer.json()]


async def test_latest_reading_of_many_datastreams_at_once(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    _, first = await _thing(client, admin, "Gauge 1", {"kind": "water-level"}, 106.6, 11.0)
    _, second = await _thing(client, admin, "Gauge 2", {"kind": "water-level"}, 106.7, 11.1)
    _, silent = await _thing(client, admin, "Gauge 3", {"kind": "water-level"}, 106.8, 11.2)
    ids = await _readings(
        client,
        admin,
        first,
        [
            ["2026-11-01T10:00:00Z", 1.0],
            ["2026-11-01T12:00:00Z", 3.0],
            ["2026-11-01T11:00:00Z", 2.0],
        ],
    )
    (other,) = await _readings(client, admin, second, [["2026-11-02T00:00:00+07:00", "dry"]])
    latest = await service.latest_readings(engine, [first, second, silent, 999_999])
    assert set(latest) == {first, second}
    assert latest[first].id == ids[1]
    assert latest[first].result == 3.0
    assert latest[first].phenomenon_time == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert latest[second].id == other
    assert latest[second].result == "dry"
    assert latest[second].phenomenon_time == datetime(2026, 11, 1, 17, tzinfo=UTC)
    assert await service.latest_readings(engine, []) == {}


async def test_readings_of_a_datastream_in_a_time_window_oldest_first(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    _, stream_id = await _thing(client, admin, "Counter", {"kind": "traffic"}, 106.6, 11.0)
    _, other = await _thing(client, admin, "Counter 2", {"kind": "traffic"}, 106.6, 11.0)
    await _readings(
        client,
        admin,
        stream_id,
        [[f"2026-11-01T{hour:02d}:00:00Z", hour] for hour in (9, 10, 11, 12, 13)],
    )
    await _readings(client, admin, other, [["2026-11-01T11:00:00Z", 99]])
    window = await service.readings_between(
        engine,
        stream_id,
        datetime(2026, 11, 1, 10, tzinfo=UTC),
        datetime(2026, 11, 1, 13, tzinfo=UTC),
    )
    assert [reading.result for reading in window] == [10, 11, 12]  # end excluded, no other stream
    assert all(reading.datastream_id == stream_id for reading in window)
    limited = await service.readings_between(
        engine,
        stream_id,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
        limit=2,
    )
    assert [reading.result for reading in limited] == [9, 10]
    with pytest.raises(BadRequest, match="aware"):
        await service.readings_between(
            engine, stream_id, datetime(2026, 1, 1), datetime(2027, 1, 1)
        )


async def test_things_by_kind_by_district_and_within_a_polygon(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    lamp, _ = await _thing(
        client, admin, "Lamp 1", {"kind": "streetlight", "district": "Thu Dau Mot"}, 106.65, 10.98
    )
    far_lamp, _ = await _thing(
        client, admin, "Lamp 2", {"kind": "streetlight", "district": "Ben Cat"}, 106.60, 11.15
    )
    station, _ = await _thing(
        client, admin, "Air 1", {"kind": "air-quality", "district": "Thu Dau Mot"}, 106.66, 10.99
    )
    # inside the triangle's bounding box below, outside the triangle itself
    boxed, _ = await _thing(client, admin, "Lamp 3", {"kind": "streetlight"}, 106.57, 11.03)
    lamps = await service.things_of_kind(engine, "streetlight")
    assert [t.id for t in lamps] == [lamp, far_lamp, boxed]
    assert lamps[0].properties["district"] == "Thu Dau Mot"
    assert lamps[0].locations == ({"type": "Point", "coordinates": [106.65, 10.98]},)
    assert [t.id for t in await service.things_in_district(engine, "Thu Dau Mot")] == [
        lamp,
        station,
    ]
    assert await service.things_of_kind(engine, "camera") == []
    # a triangle around Thu Dau Mot
    triangle = Polygon([(106.55, 10.90), (106.75, 10.90), (106.65, 11.05)])
    assert [t.id for t in await service.things_within(engine, triangle)] == [lamp, station]
    corner = Polygon([(106.55, 11.10), (106.56, 11.20), (106.58, 11.10)])  # near, not around
    assert await service.things_within(engine, corner) == []
    assert [t.id for t in await service.things_within(engine, box(106.5, 10.5, 107, 11.5))] == [
        lamp,
        far_lamp,
        station,
        boxed,
    ]
