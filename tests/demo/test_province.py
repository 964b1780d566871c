"""Tests of the demo province, its value model and its hub client, all without a server.

The loader and simulator talk to an in-process httpx.MockTransport standing in for the hub.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest

from cityhelix.demo.loader import HubRequestError, LoadSummary, load_province
from cityhelix.demo.province import (
    OM_MEASUREMENT,
    Province,
    build_things,
    catalog,
    read_province,
    value_at,
)
from cityhelix.demo.simulator import run_simulator

NOW = datetime(2025, 5, 1, 12, 3, 27, tzinfo=UTC)  # 19:03 in Binh Duong (UTC+7)


@pytest.fixture(scope="module")
def province() -> Province:
    return read_province()


def id_maps(province: Province) -> tuple[dict[str, int], dict[str, int]]:
    sensors, observed = catalog(province)
    return (
        {s["properties"]["key"]: 100 + i for i, s in enumerate(sensors)},
        {o["properties"]["key"]: 200 + i for i, o in enumerate(observed)},
    )


def build(province: Province, seed: int = 7) -> list[dict[str, Any]]:
    sensor_ids, observed_ids = id_maps(province)
    return build_things(
        province, seed=seed, now=NOW, sensor_ids=sensor_ids, observed_property_ids=observed_ids
    )


@pytest.fixture(scope="module")
def things(province: Province) -> list[dict[str, Any]]:
    return build(province)


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def local_hour(text: str, province: Province) -> float:
    local = parse_time(text) + timedelta(hours=province.utc_offset_hours)
    return local.hour + local.minute / 60


# --- province.json and the catalog -------------------------------------------------------


def test_province_json_is_found_and_consistent(province: Province) -> None:
    assert province.name == "Binh Duong (demo)"
    assert {d.name for d in province.districts} >= {"Thu Dau Mot", "Di An", "Thuan An"}
    for district in province.districts:
        assert 106.5 < district.lon < 106.9 and 10.85 < district.lat < 11.25
    assert {k.key: k.count for k in province.kinds} == {
        "streetlight": 30,
        "air_quality": 5,
        "traffic": 5,
        "water_level": 3,
    }


def test_catalog_has_unique_keys_covering_every_reference(province: Province) -> None:
    sensors, observed = catalog(province)
    sensor_keys = [s["properties"]["key"] for s in sensors]
    observed_keys = [o["properties"]["key"] for o in observed]
    assert len(set(sensor_keys)) == len(sensor_keys)
    assert len(set(observed_keys)) == len(observed_keys)
    for sensor in sensors:
        assert sensor["encodingType"] in ("application/pdf", "text/html")
        assert sensor["metadata"].startswith("http")
    for prop in observed:
        assert prop["definition"].startswith("http") and prop["name"] and prop["description"]
    for kind in province.kinds:
        assert kind.sensor in sensor_keys
        assert {s.observed_property for s in kind.datastreams} <= set(observed_keys)


# --- build_things --------------------------------------------------------------------------


def test_same_seed_same_bodies_other_seed_other_bodies(
    province: Province, things: list[dict[str, Any]]
) -> None:
    assert build(province, seed=7) == things
    assert build(province, seed=8) != things
    json.dumps(things, allow_nan=False)  # plain JSON, no NaN/inf


def test_things_per_kind_match_province_json(
    province: Province, things: list[dict[str, Any]]
) -> None:
    counts: dict[str, int] = {}
    for thing in things:
        counts[thing["properties"]["kind"]] = counts.get(thing["properties"]["kind"], 0) + 1
    assert counts == {kind.key: kind.count for kind in province.kinds}
    assert len({thing["name"] for thing in things}) == len(things)


def test_every_thing_has_a_location_near_its_district_and_linked_datastreams(
    province: Province, things: list[dict[str, Any]]
) -> None:
    sensor_ids, observed_ids = id_maps(province)
    districts = {d.name: d for d in province.districts}
    kinds = {k.key: k for k in province.kinds}
    for thing in things:
        props = thing["properties"]
        assert props["demo"] is True and props["district"] in districts
        (location,) = thing["Locations"]
        assert location["encodingType"] == "application/geo+json"
        assert location["location"]["type"] == "Point"
        lon, lat = location["location"]["coordinates"]
        district = districts[props["district"]]
        assert abs(lon - district.lon) < 0.05 and abs(lat - district.lat) < 0.05
        kind = kinds[props["kind"]]
        assert len(thing["Datastreams"]) == len(kind.datastreams)
        for datastream, spec in zip(thing["Datastreams"], kind.datastreams, strict=True):
            assert datastream["observationType"] == OM_MEASUREMENT
            assert datastream["unitOfMeasurement"]["symbol"] == spec.unit.symbol
            assert datastream["properties"]["key"] == spec.key
            assert datastream["Sensor"] == {"@iot.id": sensor_ids[kind.sensor]}
            assert datastream["ObservedProperty"] == {
                "@iot.id": observed_ids[spec.observed_property]
            }


def test_history_is_a_day_every_ten_minutes(things: list[dict[str, Any]]) -> None:
    for thing in things:
        for datastream in thing["Datastreams"]:
            times = [parse_time(o["phenomenonTime"]) for o in datastream["Observations"]]
            assert len(times) == 24 * 60 // 10 == 144
            assert all(b - a == timedelta(minutes=10) for a, b in pairwise(times))
            assert times[-1] <= NOW < times[-1] + timedelta(minutes=10)


def test_values_stay_within_each_quantity_range(
    province: Province, things: list[dict[str, Any]]
) -> None:
    for thing in things:
        for datastream in thing["Datastreams"]:
            low, high = province.streams[datastream["properties"]["key"]].value_range
            for observation in datastream["Observations"]:
                result = observation["result"]
                assert isinstance(result, int | float) and not isinstance(result, bool)
                assert low <= result <= high, (datastream["name"], observation)


def _results_by_local_hour(
    things: list[dict[str, Any]], stream_key: str, province: Province
) -> dict[int, list[float]]:
    by_hour: dict[int, list[float]] = {}
    for thing in things:
        for datastream in thing["Datastreams"]:
            if datastream["properties"]["key"] == stream_key:
                for obs in datastream["Observations"]:
                    hour = int(local_hour(obs["phenomenonTime"], province))
                    by_hour.setdefault(hour, []).append(obs["result"])
    return by_hour


def test_streetlights_draw_power_at_night_and_none_at_noon(
    province: Province, things: list[dict[str, Any]]
) -> None:
    power = _results_by_local_hour(things, "streetlight.power", province)
    dimming = _results_by_local_hour(things, "streetlight.dimming", province)
    assert all(value == 0 for value in power[12]) and all(v == 0 for v in dimming[12])
    assert all(value > 50 for value in power[20]) and all(v == 100 for v in dimming[20])
    assert all(value > 30 for value in power[2]) and all(0 < v < 100 for v in dimming[2])


def test_traffic_and_pm25_peak_in_rush_hours(
    province: Province, things: list[dict[str, Any]]
) -> None:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    count = _results_by_local_hour(things, "traffic.vehicle_count", province)
    speed = _results_by_local_hour(things, "traffic.mean_speed", province)
    pm25 = _results_by_local_hour(things, "air_quality.pm25", province)
    for rush in (7, 17):
        assert mean(count[rush]) > 3 * mean(count[3])
        assert mean(speed[rush]) < mean(speed[3])
        assert mean(pm25[rush]) > mean(pm25[3])


def test_water_level_moves_slowly(province: Province, things: list[dict[str, Any]]) -> None:
    for thing in things:
        for datastream in thing["Datastreams"]:
            if datastream["properties"]["key"] == "water_level.level":
                levels = [o["result"] for o in datastream["Observations"]]
                assert max(levels) - min(levels) > 0.5
                assert max(abs(b - a) for a, b in pairwise(levels)) < 0.2


def test_value_at_is_seeded_and_faults_leave_the_normal_range(province: Province) -> None:
    night = datetime(2025, 5, 1, 15, 0, tzinfo=UTC)  # 22:00 local
    first = [value_at("air_quality.pm25", night, random.Random(3)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    rng = random.Random(3)
    spikes = [value_at("air_quality.pm25", night, rng, faults=True) for _ in range(2000)]
    assert any(v > province.streams["air_quality.pm25"].value_range[1] for v in spikes)
    rng = random.Random(3)
    lamps = [value_at("streetlight.power", night, rng, scale=0.7, faults=True) for _ in range(2000)]
    assert 0 < lamps.count(0) < 200


# --- loader and simulator against a fake hub ------------------------------------------------


class FakeHub:
    """Just enough of a SensorThings server for the demo client, in memory."""

    def __init__(self, things: int = 0, datastreams: list[dict[str, Any]] | None = None) -> None:
        self.things = things
        self.datastreams = datastreams or []
        self.posts: list[tuple[str, Any]] = []
        self.next_id = 1
        self.fail_path: str | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/v1.1/Things":
            assert request.url.params["$count"] == "true"
            return httpx.Response(200, json={"@iot.count": self.things, "value": []})
        if request.method == "GET" and path == "/v1.1/Datastreams":
            skip = int(request.url.params.get("$skip", 0))
            page: dict[str, Any] = {"value": self.datastreams[skip : skip + 2]}
            if skip + 2 < len(self.datastreams):
                page["@iot.nextLink"] = f"http://hub.test/v1.1/Datastreams?$skip={skip + 2}"
            return httpx.Response(200, json=page)
        assert request.method == "POST"
        assert request.headers["Authorization"] == "Bearer t0ken"
        body = json.loads(request.content)
        self.posts.append((path, body))
        if path == self.fail_path:
            return httpx.Response(400, json={"code": 400, "message": "bad body"})
        new_id, self.next_id = self.next_id, self.next_id + 1
        location = f"http://hub.test{path}({new_id})"
        if path == "/v1.1/ObservedProperties":  # answer by header only: the fallback path
            return httpx.Response(201, headers={"Location": location})
        if path == "/v1.1/Things":
            self.things += 1
        return httpx.Response(201, json={**body, "@iot.id": new_id}, headers={"Location": location})


def client_for(hub: FakeHub) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url="http://hub.test",
        transport=httpx.MockTransport(hub),
        headers={"Authorization": "Bearer t0ken"},
    )


async def _load(hub: FakeHub) -> LoadSummary:
    async with client_for(hub) as client:
        return await load_province(client, now=NOW)


def test_loader_creates_catalog_then_things(province: Province) -> None:
    hub = FakeHub()
    summary = asyncio.run(_load(hub))
    assert summary == LoadSummary(things=43, datastreams=98, observations=98 * 144)
    paths = [path for path, _ in hub.posts]
    sensors, observed = catalog(province)
    assert paths == (
        ["/v1.1/Sensors"] * len(sensors)
        + ["/v1.1/ObservedProperties"] * len(observed)
        + ["/v1.1/Things"] * 43
    )
    created = {body["properties"]["key"]: i + 1 for i, (_, body) in enumerate(hub.posts[:14])}
    first_light = hub.posts[len(sensors) + len(observed)][1]
    power = first_light["Datastreams"][0]
    assert power["Sensor"] == {"@iot.id": created["led-luminaire-controller"]}
    assert power["ObservedProperty"] == {"@iot.id": created["electric_power"]}


def test_loader_is_idempotent() -> None:
    hub = FakeHub(things=43)
    summary = asyncio.run(_load(hub))
    assert summary.already_loaded and summary.things == 43
    assert hub.posts == []


def test_loader_raises_with_the_server_answer() -> None:
    hub = FakeHub()
    hub.fail_path = "/v1.1/Things"
    with pytest.raises(HubRequestError, match=r"POST .*/v1\.1/Things -> HTTP 400: .*bad body"):
        asyncio.run(_load(hub))


def _datastreams() -> list[dict[str, Any]]:
    keys = [
        "streetlight.power",
        "air_quality.pm25",
        "traffic.mean_speed",
        None,
        "water_level.level",
    ]
    return [
        {"@iot.id": 10 + i, "name": f"ds {i}", "properties": {"key": key} if key else {}}
        for i, key in enumerate(keys)
    ]


def test_simulator_posts_every_demo_datastream_each_tick_and_survives_failures(
    province: Province,
) -> None:
    hub = FakeHub(datastreams=_datastreams())
    hub.fail_path = "/v1.1/Datastreams(11)/Observations"

    async def run() -> int:
        async with client_for(hub) as client:
            return await run_simulator(client, interval_s=0.01, stop=asyncio.Event(), ticks=3)

    posted = asyncio.run(run())
    assert posted == 3 * 3  # 4 demo streams (one without a key is skipped), one always fails
    assert len(hub.posts) == 3 * 4
    ids = {int(m.group(1)) for p, _ in hub.posts if (m := re.search(r"\((\d+)\)", p))}
    assert ids == {10, 11, 12, 14}
    for _, body in hub.posts:
        assert set(body) == {"phenomenonTime", "result"}
        assert parse_time(body["phenomenonTime"]).tzinfo is not None
        assert isinstance(body["result"], int | float)


def test_simulator_stops_when_asked() -> None:
    hub = FakeHub(datastreams=_datastreams())

    async def run() -> int:
        stop = asyncio.Event()
        original = hub.__call__

        def stop_after_first(request: httpx.Request) -> httpx.Response:
            if request.method == "POST":
                stop.set()
            return original(request)

        async with httpx.AsyncClient(
            base_url="http://hub.test",
            transport=httpx.MockTransport(stop_after_first),
            headers={"Authorization": "Bearer t0ken"},
        ) as client:
            return await asyncio.wait_for(
                run_simulator(client, interval_s=60.0, stop=stop), timeout=5
            )

    assert asyncio.run(run()) == 4
