"""Creating, updating and deleting SensorThings entities over HTTP, on both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from cityhelix.db.metadata import metadata
from tests.hub.factories import (
    datastream,
    full_thing,
    location,
    observed_property,
    sensor,
    thing,
)

pytestmark = pytest.mark.asyncio

OM_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: await connection.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
            # consumer groups' positions move with background readers (ops), not requests
            if table.name not in ("users", "event_consumers")
        }


async def post(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]
) -> dict[str, Any]:
    response = await client.post(url, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_returns_201_location_header_and_entity(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post("/v1.1/Things", json=thing(), headers=admin)
    assert response.status_code == 201
    created = response.json()
    assert response.headers["Location"] == created["@iot.selfLink"]
    assert created["name"] == "Air station 1"
    fetched = (await client.get(response.headers["Location"])).json()
    assert fetched == created


async def test_deep_insert_creates_the_whole_tree(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=4), admin)
    counts = await row_counts(engine)
    assert counts["things"] == 1 and counts["locations"] == 1 and counts["datastreams"] == 1
    assert counts["sensors"] == 1 and counts["observed_properties"] == 1
    assert counts["observations"] == 4
    assert counts["historical_locations"] == 1  # the Thing got its first Location
    assert counts["features_of_interest"] == 1  # generated once, reused by all four
    history = (await client.get(f"/v1.1/Things({created['@iot.id']})/HistoricalLocations")).json()
    assert len(history["value"]) == 1
    stream = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()["value"][
        0
    ]
    assert stream["phenomenonTime"] == "2026-11-01T00:00:00Z/2026-11-01T03:00:00Z"


async def test_a_deep_inserts_inline_observations_keep_their_order_around_a_linked_one(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """Inline Observations go in as runs (one statement each): the ids follow the order
    given, an own FeatureOfInterest and one moved in by `@iot.id` keep their places, and a
    bad one at a run's end is refused with nothing written."""
    elsewhere = await post(client, "/v1.1/Things", full_thing(observations=1), admin)
    stream_url = f"/v1.1/Things({elsewhere['@iot.id']})/Datastreams"
    moved = (await client.get(stream_url, params={"$expand": "Observations"})).json()
    moved_id = moved["value"][0]["Observations"][0]["@iot.id"]
    feature = {
        "name": "river bank",
        "description": "the gauge's own feature",
        "encodingType": "application/geo+json",
        "feature": {"type": "Point", "coordinates": [106.7, 11.0]},
    }
    results = [5, 3, 9, 1]
    inline: list[dict[str, Any]] = [
        {"phenomenonTime": f"2026-11-02T0{hour}:00:00Z", "result": result}
        for hour, result in zip((3, 1, 2, 0), results, strict=True)
    ]
    inline[2]["FeatureOfInterest"] = feature
    body = full_thing(observations=0)
    body["Datastreams"][0]["Observations"] = [*inline[:2], {"@iot.id": moved_id}, *inline[2:]]
    created = await post(client, "/v1.1/Things", body, admin)
    listed = (
        await client.get(
            f"/v1.1/Things({created['@iot.id']})/Datastreams",
            params={"$expand": "Observations($orderby=id;$expand=FeatureOfInterest)"},
        )
    ).json()["value"][0]["Observations"]
    # the moved one first: the oldest id, made elsewhere (full_thing's first result is 10)
    assert [o["result"] for o in listed] == [10, *results]
    assert listed[0]["@iot.id"] == moved_id
    assert listed[3]["FeatureOfInterest"]["name"] == "river bank"
    generated = {o["FeatureOfInterest"]["@iot.id"] for i, o in enumerate(listed) if i not in (0, 3)}
    assert len(generated) == 1  # the Thing's Location, generated once for the others

    before = await row_counts(engine)
    body = full_thing(observations=0)
    body["Datastreams"][0]["Observations"] = [*inline[:3], {"result": 2, "phenomenonTime": "x"}]
    response = await client.post("/v1.1/Things", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "phenomenonTime"
    # the bad one named by its place in the deep insert, not only by its field
    assert response.json()["message"].startswith("Thing/Datastreams[0]/Observations[3]: ")
    assert await row_counts(engine) == before


async def test_link_existing_entities_by_id(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(), admin))["@iot.id"]
    sensor_id = (await post(client, "/v1.1/Sensors", sensor(), admin))["@iot.id"]
    op_id = (await post(client, "/v1.1/ObservedProperties", observed_property(), admin))["@iot.id"]
    stream = await post(
        client,
        "/v1.1/Datastreams",
        datastream(
            Thing={"@iot.id": thing_id},
            Sensor={"@iot.id": sensor_id},
            ObservedProperty={"@iot.id": op_id},
        ),
        admin,
    )
    linked = (await client.get(f"/v1.1/Datastreams({stream['@iot.id']})/Sensor")).json()
    assert linked["@iot.id"] == sensor_id


async def test_post_to_navigation_collection_links_parent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    stream_id = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()[
        "value"
    ][0]["@iot.id"]
    observation = await post(
        client,
        f"/v1.1/Datastreams({stream_id})/Observations",
        {"phenomenonTime": "2026-11-02T10:00:00+07:00", "result": 42.5, "resultTime": None},
        admin,
    )
    assert observation["phenomenonTime"] == "2026-11-02T03:00:00Z"  # same instant, in UTC
    assert observation["result"] == 42.5 and observation["resultTime"] is None
    parent = (await client.get(f"/v1.1/Observations({observation['@iot.id']})/Datastream")).json()
    assert parent["@iot.id"] == stream_id
    missing = await client.post(
        "/v1.1/Datastreams(999999)/Observations", json={"result": 1}, headers=admin
    )
    assert missing.status_code == 404


async def test_observation_feature_of_interest_generated_and_reused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    stream_id = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()[
        "value"
    ][0]["@iot.id"]
    first = await post(client, f"/v1.1/Datastreams({stream_id})/Observations", {"result": 1}, admin)
    second = await post(
        client, "/v1.1/Observations", {"result": 2, "Datastream": {"@iot.id": stream_id}}, admin
    )
    foi1 = (await client.get(f"/v1.1/Observations({first['@iot.id']})/FeatureOfInterest")).json()
    foi2 = (await client.get(f"/v1.1/Observations({second['@iot.id']})/FeatureOfInterest")).json()
    assert foi1["@iot.id"] == foi2["@iot.id"]
    assert foi1["feature"] == {"type": "Point", "coordinates": [106.65, 10.98]}
    assert (await client.get("/v1.1/FeaturesOfInterest", params={"$count": "true"})).json()[
        "@iot.count"
    ] == 1


async def test_observation_time_intervals_and_quality(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    stream_id = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()[
        "value"
    ][0]["@iot.id"]
    # a generic OM_Observation stream takes a JSON object result (a Measurement would not)
    generic = {"observationType": OM_OBSERVATION}
    patched = await client.patch(f"/v1.1/Datastreams({stream_id})", json=generic, headers=admin)
    assert patched.status_code == 200, patched.text
    body = {
        "phenomenonTime": "2026-11-01T00:00:00Z/2026-11-01T01:00:00Z",
        "resultTime": "2026-11-01T01:00:05.250Z",
        "validTime": "2026-11-01T00:00:00Z/2026-11-02T00:00:00Z",
        "result": {"pm25": 31.5, "flag": "ok"},
        "resultQuality": [{"nameOfMeasure": "completeness", "value": 0.98}],
        "parameters": {"averaging": "1h"},
    }
    observation = await post(client, f"/v1.1/Datastreams({stream_id})/Observations", body, admin)
    for key, value in body.items():
        assert observation[key] == value, key


async def test_new_location_of_thing_writes_historical_location(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(Locations=[location()]), admin))["@iot.id"]
    await post(
        client, f"/v1.1/Things({thing_id})/Locations", location("Di An", 106.77, 10.9), admin
    )
    history = (await client.get(f"/v1.1/Things({thing_id})/HistoricalLocations")).json()["value"]
    assert len(history) == 2
    current = (await client.get(f"/v1.1/Things({thing_id})/Locations")).json()["value"]
    assert [loc["name"] for loc in current] == ["Di An"]
    newest = max(history, key=lambda h: h["@iot.id"])
    places = (await client.get(f"/v1.1/HistoricalLocations({newest['@iot.id']})/Locations")).json()
    assert [loc["name"] for loc in places["value"]] == ["Di An"]


async def test_patch_updates_only_given_properties_and_links(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(), admin)
    stream_id = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()[
        "value"
    ][0]["@iot.id"]
    other_sensor = (await post(client, "/v1.1/Sensors", sensor("SDS011"), admin))["@iot.id"]
    response = await client.patch(
        f"/v1.1/Datastreams({stream_id})",
        json={"name": "renamed", "Sensor": {"@iot.id": other_sensor}},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "renamed"
    assert response.json()["description"] == "hourly PM2.5"
    assert (await client.get(f"/v1.1/Datastreams({stream_id})/Sensor")).json()["name"] == "SDS011"
    thing_response = await client.patch(
        f"/v1.1/Things({created['@iot.id']})",
        json={"properties": {"district": "Di An"}},
        headers=admin,
    )
    assert thing_response.json()["properties"] == {"district": "Di An"}


async def test_put_replaces_whole_entity(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(), admin))["@iot.id"]
    response = await client.put(
        f"/v1.1/Things({thing_id})", json={"name": "only name"}, headers=admin
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "only name"
    assert "description" not in body and "properties" not in body
    incomplete = await client.put(
        f"/v1.1/Things({thing_id})", json={"description": "x"}, headers=admin
    )
    assert incomplete.status_code == 400
    assert "name" in incomplete.json()["message"]


async def test_delete_thing_cascades_to_datastreams_and_observations(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=5), admin)
    response = await client.delete(f"/v1.1/Things({created['@iot.id']})", headers=admin)
    assert response.status_code in (200, 204)
    counts = await row_counts(engine)
    assert counts["things"] == 0 and counts["datastreams"] == 0 and counts["observations"] == 0
    assert counts["historical_locations"] == 0
    assert counts["locations"] == 1 and counts["sensors"] == 1  # not owned by the Thing
    assert (await client.get(f"/v1.1/Things({created['@iot.id']})")).status_code == 404
    assert (
        await client.delete(f"/v1.1/Things({created['@iot.id']})", headers=admin)
    ).status_code == 404


async def test_delete_location_removes_its_historical_locations(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(Locations=[location()]), admin))["@iot.id"]
    location_id = (await client.get(f"/v1.1/Things({thing_id})/Locations")).json()["value"][0][
        "@iot.id"
    ]
    assert (await client.delete(f"/v1.1/Locations({location_id})", headers=admin)).status_code in (
        200,
        204,
    )
    counts = await row_counts(engine)
    assert counts["historical_locations"] == 0 and counts["thing_locations"] == 0
    assert counts["things"] == 1


async def test_multidatastream_with_array_results(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(Locations=[location()]), admin))["@iot.id"]
    body = {
        "name": "wind",
        "description": "speed and direction",
        "unitOfMeasurements": [
            {"name": "metre per second", "symbol": "m/s", "definition": "ucum:m/s"},
            {"name": "degree", "symbol": "deg", "definition": "ucum:deg"},
        ],
        "multiObservationDataTypes": [
            "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
            "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
        ],
        "Thing": {"@iot.id": thing_id},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [
            observed_property("wind speed"),
            observed_property("wind direction"),
        ],
    }
    created = await post(client, "/v1.1/MultiDatastreams", body, admin)
    assert created["observationType"].endswith("OM_ComplexObservation")
    url = f"/v1.1/MultiDatastreams({created['@iot.id']})/Observations"
    observation = await post(
        client, url, {"result": [3.2, 270], "phenomenonTime": "2026-11-01T00:00:00Z"}, admin
    )
    assert observation["result"] == [3.2, 270]
    wrong = await client.post(url, json={"result": [1]}, headers=admin)
    assert wrong.status_code == 400 and wrong.json()["field"] == "result"
    props = (
        await client.get(f"/v1.1/MultiDatastreams({created['@iot.id']})/ObservedProperties")
    ).json()
    assert [p["name"] for p in props["value"]] == ["wind speed", "wind direction"]
    mismatched = dict(body, ObservedProperties=[observed_property("only one")])
    assert (
        await client.post("/v1.1/MultiDatastreams", json=mismatched, headers=admin)
    ).status_code == 400


BAD_BODIES: list[tuple[str, Any, str]] = [
    (
        "/v1.1/Datastreams",
        datastream(Sensor=sensor(), ObservedProperty=observed_property()),
        "Thing",
    ),
    (
        "/v1.1/Datastreams",
        datastream(Thing=thing(), ObservedProperty=observed_property()),
        "Sensor",
    ),
    ("/v1.1/Datastreams", datastream(Thing=thing(), Sensor=sensor()), "ObservedProperty"),
    ("/v1.1/Observations", {"result": 3, "phenomenonTime": "2026-11-01T00:00:00Z"}, "Datastream"),
    ("/v1.1/Things", {"name": 5}, "name"),
    ("/v1.1/Things", {"name": "x", "properties": [1, 2]}, "properties"),
    ("/v1.1/Things", {"name": "x", "colour": "red"}, "colour"),
    ("/v1.1/Things", {"description": "no name"}, "name"),
    ("/v1.1/Things", {"name": None}, "name"),
    ("/v1.1/Things", [1, 2, 3], "Thing"),
    ("/v1.1/Locations", dict(location(), location={"type": "Point"}), "location"),
    ("/v1.1/Locations", dict(location(), location="somewhere"), "location"),
    ("/v1.1/Sensors", {"name": "s", "encodingType": "text/html"}, "metadata"),
    (
        "/v1.1/Things",
        thing(
            Datastreams=[
                datastream(Sensor={"@iot.id": 987654}, ObservedProperty=observed_property())
            ]
        ),
        "Sensor",
    ),
    ("/v1.1/Things", thing(Locations=[{"@iot.id": "one"}]), "@iot.id"),
]


@pytest.mark.parametrize(("url", "body", "field"), BAD_BODIES)
async def test_invalid_body_is_400_naming_the_field(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    url: str,
    body: Any,
    field: str,
) -> None:
    before = await row_counts(engine)
    response = await client.post(url, json=body, headers=admin)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["code"] == 400
    assert field in error["message"]
    after = await row_counts(engine)
    after["audit_log"] = before["audit_log"]
    assert after == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phenomenonTime", "yesterday"),
        ("phenomenonTime", "2026-11-01T00:00:00"),
        ("phenomenonTime", "2026-11-02T00:00:00Z/2026-11-01T00:00:00Z"),
        ("resultTime", 12),
        ("validTime", "2026-11-01T00:00:00Z"),
        ("parameters", "text"),
    ],
)
async def test_bad_times_are_400(
    client: httpx.AsyncClient, admin: dict[str, str], field: str, value: Any
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    stream_id = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()[
        "value"
    ][0]["@iot.id"]
    response = await client.post(
        f"/v1.1/Datastreams({stream_id})/Observations",
        json={"result": 1, field: value},
        headers=admin,
    )
    assert response.status_code == 400
    assert field in response.json()["message"]


async def test_failed_deep_insert_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    body = full_thing(observations=5)
    body["Datastreams"].append(
        datastream("broken", Sensor=sensor(), ObservedProperty=observed_property())
    )
    body["Datastreams"][1]["Observations"] = [{"result": 1, "phenomenonTime": "not a time"}]
    before = await row_counts(engine)
    response = await client.post("/v1.1/Things", json=body, headers=admin)
    assert response.status_code == 400
    assert "phenomenonTime" in response.json()["message"]
    after = await row_counts(engine)
    assert after == before  # not one row of the Thing, Location, Datastream, Observations


async def test_malformed_json_is_400(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    response = await client.post(
        "/v1.1/Things",
        content=b'{"name": "x",',
        headers=admin | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]
    empty = await client.post("/v1.1/Things", content=b"", headers=admin)
    assert empty.status_code == 400


async def test_body_over_limit_is_413(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    huge = b'{"name": "' + b"x" * (16 * 1024 * 1024 + 10) + b'"}'
    response = await client.post(
        "/v1.1/Things", content=huge, headers=admin | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert (await row_counts(engine))["things"] == 0


async def test_special_characters_round_trip(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    tricky = 'O\'Brien "quoted" 100% ; DROP TABLE things; -- \\ Thủ Dầu Một'
    created = await post(client, "/v1.1/Things", thing(tricky, properties={"note": tricky}), admin)
    fetched = (await client.get(created["@iot.selfLink"])).json()
    assert fetched["name"] == tricky and fetched["properties"] == {"note": tricky}


async def test_writes_are_audited(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await post(client, "/v1.1/Things", thing(), admin)
    await client.patch(created["@iot.selfLink"], json={"name": "n"}, headers=admin)
    await client.delete(created["@iot.selfLink"], headers=admin)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(audit_log).order_by(audit_log.c.id))).all()
    assert [(r.method, r.entity_type, r.entity_id) for r in rows] == [
        ("POST", "Thing", created["@iot.id"]),
        ("PATCH", "Thing", created["@iot.id"]),
        ("DELETE", "Thing", created["@iot.id"]),
    ]
    assert {r.user_name for r in rows} == {"admin"}
    assert rows[0].path == "/v1.1/Things"
