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


async def test_newest_reading_time_of_many_datastreams_from_the_datastreams(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    _, first = await _thing(client, admin, "Gauge 1", {"kind": "water-level"}, 106.6, 11.0)
    _, silent = await _thing(client, admin, "Gauge 2", {"kind": "water-level"}, 106.7, 11.1)
    rows = [["2026-11-01T12:00:00Z", 3.0], ["2026-11-01T10:00:00Z", 1.0]]
    await _readings(client, admin, first, rows)
    newest = await service.newest_reading_times(engine, [first, silent, 999_999])
    assert newest == {first: datetime(2026, 11, 1, 12, tzinfo=UTC)}
    await _readings(client, admin, first, [["2026-11-01T09:00:00Z/2026-11-01T13:00:00Z", 2.0]])
    # an interval's end is when it was last read
    newest = await service.newest_reading_times(engine, [first])
    assert newest == {first: datetime(2026, 11, 1, 13, tzinfo=UTC)}
    assert await service.newest_reading_times(engine, []) == {}


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


async def test_map_rows_give_each_placed_thing_its_point_and_newest_reading_time(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    lamp, lamp_stream = await _thing(
        client, admin, "Lamp 1", {"kind": "streetlight", "district": "Di An"}, 106.77, 10.9
    )
    quiet, _ = await _thing(client, admin, "Gauge", {}, 106.6, 11.0)
    unplaced = await client.post("/v1.1/Things", json=thing("Nowhere"), headers=admin)
    area = {
        "name": "Park",
        "description": "a park's outline",
        "encodingType": "application/geo+json",
        "location": {
            "type": "Polygon",
            "coordinates": [[[106, 11], [107, 11], [107, 12], [106, 11]]],
        },
    }
    outlined = await client.post(
        "/v1.1/Things", json=thing("Park", Locations=[area]), headers=admin
    )
    assert unplaced.status_code == outlined.status_code == 201
    await _readings(
        client,
        admin,
        lamp_stream,
        [["2026-11-01T12:00:00Z", 1.0], ["2026-11-01T08:00:00Z", 0.0]],
    )
    rows = {row.id: row for row in await service.map_things(engine)}
    assert set(rows) == {lamp, quiet}  # no point Location, no marker
    assert rows[lamp].kind == "streetlight" and rows[lamp].district == "Di An"
    assert (rows[lamp].lon, rows[lamp].lat) == (106.77, 10.9)
    assert rows[lamp].last_reading == datetime(2026, 11, 1, 12, tzinfo=UTC)
    assert rows[lamp].datastreams == (lamp_stream,)
    assert rows[quiet].kind == "other" and rows[quiet].district == ""
    assert rows[quiet].last_reading is None


async def test_thing_detail_has_each_datastreams_unit_and_latest_reading(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    thing_id, stream_id = await _thing(client, admin, "Station", {"kind": "air"}, 106.6, 11.0)
    (newest,) = await _readings(client, admin, stream_id, [["2026-11-01T12:00:00Z", 12.5]])
    detail = await service.thing_detail(engine, thing_id)
    assert (detail.id, detail.name, detail.properties) == (thing_id, "Station", {"kind": "air"})
    (row,) = detail.datastreams
    assert (row.id, row.unit_symbol) == (stream_id, "ug/m3")
    assert row.latest is not None and row.latest.id == newest and row.latest.result == 12.5
    assert service.reading_time(row.latest) == "2026-11-01T12:00:00Z"
    with pytest.raises(service.NotFound, match="987654"):
        await service.thing_detail(engine, 987_654)


async def test_readings_by_id_and_minute_buckets_of_a_datastream(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    _, stream_id = await _thing(client, admin, "Meter", {"kind": "water"}, 106.6, 11.0)
    ids = await _readings(
        client,
        admin,
        stream_id,
        [["2026-11-01T12:00:10Z", 1.0], ["2026-11-01T12:00:50Z", 3.0], ["2026-11-01T12:05:00Z", 7]],
    )
    readings = await service.readings_by_id(engine, [ids[2], ids[0], 999_999])
    assert [(r.id, r.result) for r in readings] == [(ids[0], 1.0), (ids[2], 7)]
    buckets = await service.minute_buckets(
        engine,
        stream_id,
        datetime(2026, 11, 1, 12, tzinfo=UTC),
        datetime(2026, 11, 1, 13, tzinfo=UTC),
    )
    assert [(service.format_time(b.start), b.count, b.mean) for b in buckets] == [
        ("2026-11-01T12:00:00Z", 2, 2.0),
        ("2026-11-01T12:05:00Z", 1, 7.0),
    ]
    with pytest.raises(service.NotFound):
        await service.minute_buckets(
            engine, 987_654, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)
        )
