"""Faults against OGC 18-088 (SensorThings 1.1) found by outside conformance material, each
through HTTP on both backends: trailing slashes, inline entities in updates, null properties,
ids never reused, MultiDatastream order, hand-made HistoricalLocations, `indexof`, JSON Patch
and media types."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from tests.conftest import Backend
from tests.hub.factories import (
    MEASUREMENT,
    datastream,
    full_thing,
    location,
    observed_property,
    sensor,
    thing,
)
from tests.hub.test_sta_write import post, row_counts

pytestmark = pytest.mark.asyncio

JSON_PATCH = {"Content-Type": "application/json-patch+json"}


async def _patch(
    client: httpx.AsyncClient, url: str, operations: Any, headers: dict[str, str]
) -> httpx.Response:
    return await client.patch(url, json=operations, headers=headers | JSON_PATCH)


# ---------------------------------------------------------------- trailing slashes


async def test_service_root_with_a_trailing_slash_is_the_service_root(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get("/v1.1")
    slashed = await client.get("/v1.1/")
    assert slashed.status_code == 200, slashed.text
    assert slashed.json() == plain.json()
    assert {entry["name"] for entry in slashed.json()["value"]} >= {"Things", "Observations"}


async def test_any_path_with_a_trailing_slash_resolves_as_without(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await post(client, "/v1.1/Things/", thing(), admin))["@iot.id"]
    for url in (
        "/v1.1/Things",
        f"/v1.1/Things({thing_id})",
        f"/v1.1/Things({thing_id})/name",
        f"/v1.1/Things({thing_id})/name/$value",
        f"/v1.1/Things({thing_id})/Datastreams",
    ):
        plain, slashed = await client.get(url), await client.get(url + "/")
        assert slashed.status_code == plain.status_code == 200, (url, slashed.text)
        assert slashed.content == plain.content


async def test_service_root_refuses_writes_in_the_sensorthings_error_format(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url in ("/v1.1/", "/v1.1"):
        response = await client.post(url, json=thing(), headers=admin)
        assert response.status_code == 405, url
        assert response.json()["type"] == "error"


# ---------------------------------------------------------------- inline entities in updates


async def test_patch_with_a_new_location_inline_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await post(client, "/v1.1/Things", thing(Locations=[location()]), admin)
    url = f"/v1.1/Things({created['@iot.id']})"
    before = await row_counts(engine)
    response = await client.patch(
        url, json={"name": "renamed", "Locations": [location("Di An")]}, headers=admin
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "Locations"
    assert await row_counts(engine) == before
    assert (await client.get(url)).json()["name"] == created["name"]


async def test_patch_of_a_datastream_with_a_new_sensor_inline_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    stream = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()
    url = f"/v1.1/Datastreams({stream['value'][0]['@iot.id']})"
    before = await row_counts(engine)
    for body in (
        {"Sensor": sensor("new one")},
        {"Sensor": {"@iot.id": 1, "name": "renamed on the way"}},
    ):
        response = await client.patch(url, json=body, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "Sensor"
    put = datastream(
        Thing={"@iot.id": created["@iot.id"]},
        Sensor=sensor("via PUT"),
        ObservedProperty={"@iot.id": 1},
    )
    assert (await client.put(url, json=put, headers=admin)).status_code == 400
    assert await row_counts(engine) == before


async def test_patch_binding_related_entities_by_id_stays_allowed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=0), admin)
    other = await post(client, "/v1.1/Locations", location("Di An"), admin)
    sensor_id = (await post(client, "/v1.1/Sensors", sensor("spare"), admin))["@iot.id"]
    url = f"/v1.1/Things({created['@iot.id']})"
    response = await client.patch(
        url, json={"Locations": [{"@iot.id": other["@iot.id"]}]}, headers=admin
    )
    assert response.status_code == 200, response.text
    linked = (await client.get(f"{url}/Locations")).json()["value"]
    assert [entry["name"] for entry in linked] == ["Di An"]
    stream_id = (await client.get(f"{url}/Datastreams")).json()["value"][0]["@iot.id"]
    response = await client.patch(
        f"/v1.1/Datastreams({stream_id})", json={"Sensor": {"@iot.id": sensor_id}}, headers=admin
    )
    assert response.status_code == 200, response.text
    assert (await client.get(f"/v1.1/Datastreams({stream_id})/Sensor")).json()["name"] == "spare"


# ---------------------------------------------------------------- null properties


async def test_a_property_with_the_null_value_answers_204(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await post(client, "/v1.1/Things", full_thing(observations=1), admin)
    observation_id = (await client.get("/v1.1/Observations")).json()["value"][0]["@iot.id"]
    url = f"/v1.1/Observations({observation_id})"
    for suffix in ("/resultTime", "/resultTime/$value"):
        response = await client.get(url + suffix)
        assert response.status_code == 204, (suffix, response.text)
        assert response.content == b""
    present = await client.get(url + "/result")
    assert present.status_code == 200 and present.json() == {"result": 10}


# ---------------------------------------------------------------- ids


async def test_ids_are_never_reused_after_a_delete_nor_after_a_restart(
    client: httpx.AsyncClient, admin: dict[str, str], backend: Backend
) -> None:
    first = (await post(client, "/v1.1/Things", thing("first"), admin))["@iot.id"]
    assert (await client.delete(f"/v1.1/Things({first})", headers=admin)).status_code == 200
    second = (await post(client, "/v1.1/Things", thing("second"), admin))["@iot.id"]
    assert second != first
    assert (await client.delete(f"/v1.1/Things({second})", headers=admin)).status_code == 200
    restarted = create_app(backend.settings)
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as again:
            third = (await post(again, "/v1.1/Things", thing("third"), admin))["@iot.id"]
    assert third not in (first, second)
    old = await client.get(f"/v1.1/Things({first})")
    assert old.status_code == 404


# ---------------------------------------------------------------- MultiDatastream


def _multi_datastream(thing_id: int, property_ids: list[int]) -> dict[str, Any]:
    size = len(property_ids)
    return {
        "name": "wind",
        "description": "one row per reading",
        "unitOfMeasurements": [
            {"name": f"unit {n}", "symbol": f"u{n}", "definition": "ucum:1"} for n in range(size)
        ],
        "multiObservationDataTypes": [MEASUREMENT] * size,
        "Thing": {"@iot.id": thing_id},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [{"@iot.id": i} for i in property_ids],
    }


async def _three_properties(client: httpx.AsyncClient, admin: dict[str, str]) -> list[int]:
    return [
        (await post(client, "/v1.1/ObservedProperties", observed_property(name), admin))["@iot.id"]
        for name in ("A", "B", "C")
    ]


async def test_multidatastream_keeps_its_observed_properties_in_the_order_given(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(Locations=[location()]), admin))["@iot.id"]
    a, b, c = await _three_properties(client, admin)
    created = await post(
        client, "/v1.1/MultiDatastreams", _multi_datastream(thing_id, [c, a, b]), admin
    )
    url = f"/v1.1/MultiDatastreams({created['@iot.id']})"
    listed = (await client.get(f"{url}/ObservedProperties")).json()["value"]
    assert [entry["name"] for entry in listed] == ["C", "A", "B"]
    expanded = (await client.get(f"{url}?$expand=ObservedProperties")).json()
    assert [entry["name"] for entry in expanded["ObservedProperties"]] == ["C", "A", "B"]
    many = (await client.get("/v1.1/MultiDatastreams?$expand=ObservedProperties")).json()
    assert [entry["name"] for entry in many["value"][0]["ObservedProperties"]] == ["C", "A", "B"]
    through = (
        await client.get(
            f"/v1.1/Things({thing_id})/MultiDatastreams?$expand=ObservedProperties($top=2)"
        )
    ).json()
    assert [e["name"] for e in through["value"][0]["ObservedProperties"]] == ["C", "A"]
    # an explicit $orderby still wins
    ordered = (await client.get(f"{url}/ObservedProperties?$orderby=name")).json()["value"]
    assert [entry["name"] for entry in ordered] == ["A", "B", "C"]


async def test_deleting_an_observed_property_deletes_the_multidatastreams_it_is_part_of(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing(Locations=[location()]), admin))["@iot.id"]
    a, b, c = await _three_properties(client, admin)
    broken = await post(
        client, "/v1.1/MultiDatastreams", _multi_datastream(thing_id, [a, b]), admin
    )
    kept = await post(client, "/v1.1/MultiDatastreams", _multi_datastream(thing_id, [b, c]), admin)
    await post(
        client,
        f"/v1.1/MultiDatastreams({broken['@iot.id']})/Observations",
        {"result": [1, 2], "phenomenonTime": "2026-11-01T00:00:00Z"},
        admin,
    )
    response = await client.delete(f"/v1.1/ObservedProperties({a})", headers=admin)
    assert response.status_code == 200
    assert (await client.get(f"/v1.1/MultiDatastreams({broken['@iot.id']})")).status_code == 404
    assert (await row_counts(engine))["observations"] == 0
    remaining = (
        await client.get(f"/v1.1/MultiDatastreams({kept['@iot.id']})/ObservedProperties")
    ).json()
    assert [entry["name"] for entry in remaining["value"]] == ["B", "C"]


# ---------------------------------------------------------------- HistoricalLocations


async def test_the_latest_historical_location_made_by_hand_moves_its_thing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", thing(Locations=[location("first")]), admin)
    thing_id = created["@iot.id"]
    moved_to = (await post(client, "/v1.1/Locations", location("moved to"), admin))["@iot.id"]
    older = (await post(client, "/v1.1/Locations", location("long ago"), admin))["@iot.id"]
    url = f"/v1.1/Things({thing_id})/Locations"
    await post(
        client,
        "/v1.1/HistoricalLocations",
        {
            "time": "2000-01-01T00:00:00Z",
            "Thing": {"@iot.id": thing_id},
            "Locations": [{"@iot.id": older}],
        },
        admin,
    )
    assert [e["name"] for e in (await client.get(url)).json()["value"]] == ["first"]
    await post(
        client,
        "/v1.1/HistoricalLocations",
        {
            "time": "2100-01-01T00:00:00Z",
            "Thing": {"@iot.id": thing_id},
            "Locations": [{"@iot.id": moved_to}],
        },
        admin,
    )
    assert [e["name"] for e in (await client.get(url)).json()["value"]] == ["moved to"]
    # the old one, moved later than every other by a PATCH, is the latest now: it moves too
    history = (await client.get(f"/v1.1/Things({thing_id})/HistoricalLocations")).json()
    (old,) = [h for h in history["value"] if h["time"].startswith("2000")]
    response = await client.patch(
        f"/v1.1/HistoricalLocations({old['@iot.id']})",
        json={"time": "2200-01-01T00:00:00Z"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert [e["name"] for e in (await client.get(url)).json()["value"]] == ["long ago"]


# ---------------------------------------------------------------- indexof


async def test_indexof_counts_from_one_as_the_standards_example(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await post(client, "/v1.1/Things", {"name": "a", "description": "Sensor Things"}, admin)
    await post(client, "/v1.1/Things", {"name": "b", "description": "no match"}, admin)
    found = await client.get("/v1.1/Things?$filter=indexof(description,'Sensor') eq 1")
    assert [entry["name"] for entry in found.json()["value"]] == ["a"]
    missing = await client.get("/v1.1/Things?$filter=indexof(description,'Sensor') eq 0")
    assert [entry["name"] for entry in missing.json()["value"]] == ["b"]
    # substring keeps OData's 0, as the standard's own substring example does
    tail = await client.get("/v1.1/Things?$filter=substring(description,1) eq 'ensor Things'")
    assert [entry["name"] for entry in tail.json()["value"]] == ["a"]


# ---------------------------------------------------------------- JSON Patch and media types


async def test_json_patch_updates_an_entity_and_is_announced(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    root = (await client.get("/v1.1")).json()
    assert (
        "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete/update-entity-jsonpatch"
        in root["serverSettings"]["conformance"]
    )
    created = await post(client, "/v1.1/Things", thing(), admin)
    url = f"/v1.1/Things({created['@iot.id']})"
    response = await _patch(
        client,
        url,
        [
            {"op": "test", "path": "/name", "value": created["name"]},
            {"op": "replace", "path": "/name", "value": "patched"},
            {"op": "add", "path": "/properties/floor", "value": 3},
            {"op": "remove", "path": "/description"},
        ],
        admin,
    )
    assert response.status_code == 200, response.text
    stored = (await client.get(url)).json()
    assert stored["name"] == "patched"
    assert stored["properties"] == {"district": "Thu Dau Mot", "floor": 3}
    assert "description" not in stored
    assert response.json() == stored


async def test_json_patch_that_fails_a_test_changes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", thing(), admin)
    url = f"/v1.1/Things({created['@iot.id']})"
    operations = [
        {"op": "replace", "path": "/name", "value": "patched"},
        {"op": "test", "path": "/description", "value": "something else"},
    ]
    response = await _patch(client, url, operations, admin)
    assert response.status_code == 409
    assert response.json()["type"] == "error"
    missing = await _patch(client, url, [{"op": "remove", "path": "/nothing/here"}], admin)
    assert missing.status_code == 409
    assert (await client.get(url)).json() == created


@pytest.mark.parametrize(
    ("operations", "field"),
    [
        ([{"op": "replace", "path": "/@iot.id", "value": 99}], "@iot.id"),
        ([{"op": "replace", "path": "/@iot.selfLink", "value": "x"}], "@iot.selfLink"),
        ([{"op": "remove", "path": "/Datastreams@iot.navigationLink"}], None),
        ([{"op": "add", "path": "/Locations", "value": [location("inline")]}], "Locations"),
        ([{"op": "replace", "path": "/name", "value": 5}], "name"),
        ([{"op": "add", "path": "/colour", "value": "red"}], "colour"),
        ({"op": "replace", "path": "/name", "value": "not in an array"}, None),
        ([{"op": "jump", "path": "/name"}], None),
    ],
)
async def test_json_patch_touching_read_only_or_inline_members_is_refused(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    operations: Any,
    field: str | None,
) -> None:
    created = await post(client, "/v1.1/Things", thing(), admin)
    url = f"/v1.1/Things({created['@iot.id']})"
    before = await row_counts(engine)
    response = await _patch(client, url, operations, admin)
    assert response.status_code == 400, response.text
    if field is not None:
        assert response.json()["field"] == field
    assert await row_counts(engine) == before
    assert (await client.get(url)).json() == created


async def test_json_patch_may_bind_related_entities_and_leaves_derived_times_alone(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", full_thing(observations=2), admin)
    other = (await post(client, "/v1.1/Locations", location("Di An"), admin))["@iot.id"]
    url = f"/v1.1/Things({created['@iot.id']})"
    bound = await _patch(
        client, url, [{"op": "add", "path": "/Locations", "value": [{"@iot.id": other}]}], admin
    )
    assert bound.status_code == 200, bound.text
    names = [e["name"] for e in (await client.get(f"{url}/Locations")).json()["value"]]
    assert names == ["Di An"]
    stream_id = (await client.get(f"{url}/Datastreams")).json()["value"][0]["@iot.id"]
    derived = await _patch(
        client,
        f"/v1.1/Datastreams({stream_id})",
        [{"op": "replace", "path": "/phenomenonTime", "value": "2000-01-01T00:00:00Z"}],
        admin,
    )
    assert derived.status_code == 400 and derived.json()["field"] == "phenomenonTime"


@pytest.mark.parametrize(
    ("method", "url", "content_type"),
    [
        ("POST", "/v1.1/Things", "text/plain"),
        ("POST", "/v1.1/Things", "application/x-www-form-urlencoded"),
        ("POST", "/v1.1/Things", "application/json-patch+json"),
        ("PATCH", "/v1.1/Things(1)", "application/xml"),
        ("PUT", "/v1.1/Things(1)", "application/json-patch+json"),
        ("POST", "/v1.1/$batch", "text/plain"),
        ("POST", "/v1.1/CreateObservations", "text/csv"),
    ],
)
async def test_a_body_in_a_media_type_the_endpoint_does_not_take_is_415(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    engine: AsyncEngine,
    method: str,
    url: str,
    content_type: str,
) -> None:
    await post(client, "/v1.1/Things", thing(), admin)
    before = await row_counts(engine)
    response = await client.request(
        method, url, content=b'{"name": "x"}', headers=admin | {"Content-Type": content_type}
    )
    assert response.status_code == 415, response.text
    document = response.json()
    assert document["code"] == 415 and document["type"] == "error"
    assert content_type in document["message"]
    assert await row_counts(engine) == before


async def test_batch_requests_take_json_patch_and_refuse_other_media_types(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await post(client, "/v1.1/Things", thing(), admin)
    url = f"Things({created['@iot.id']})"
    patch = [{"op": "replace", "path": "/name", "value": "patched in a batch"}]
    batch = {
        "requests": [
            {
                "id": "1",
                "method": "PATCH",
                "url": url,
                "headers": {"Content-Type": "application/json-patch+json"},
                "body": patch,
            },
            {
                "id": "2",
                "method": "POST",
                "url": "Things",
                "headers": {"content-type": "text/plain"},
                "body": thing("not taken"),
            },
        ]
    }
    response = await client.post("/v1.1/$batch", json=batch, headers=admin)
    assert response.status_code == 200, response.text
    first, second = response.json()["responses"]
    assert first["status"] == 200 and first["body"]["name"] == "patched in a batch"
    assert second["status"] == 415
    names = [e["name"] for e in (await client.get("/v1.1/Things")).json()["value"]]
    assert names == ["patched in a batch"]
