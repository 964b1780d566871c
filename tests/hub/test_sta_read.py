"""Reading SensorThings resources over HTTP: service root, addressing, paging."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.hub.factories import full_thing, thing

pytestmark = pytest.mark.asyncio


async def test_service_root_lists_entity_sets_and_conformance(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1.1")
    assert response.status_code == 200
    document = response.json()
    names = {entry["name"]: entry["url"] for entry in document["value"]}
    assert set(names) == {
        "Things",
        "Locations",
        "HistoricalLocations",
        "Sensors",
        "ObservedProperties",
        "Datastreams",
        "MultiDatastreams",
        "Observations",
        "FeaturesOfInterest",
        "TaskingCapabilities",
        "Tasks",
        "Actuators",
    }
    assert names["Things"] == "http://testserver/v1.1/Things"
    conformance = document["serverSettings"]["conformance"]
    assert "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete" in conformance


async def test_entity_has_id_selflink_and_navigation_links(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).json()
    thing_id = created["@iot.id"]
    body = (await client.get(f"/v1.1/Things({thing_id})")).json()
    assert body["@iot.selfLink"] == f"http://testserver/v1.1/Things({thing_id})"
    for nav in ("Locations", "HistoricalLocations", "Datastreams", "MultiDatastreams"):
        assert (
            body[f"{nav}@iot.navigationLink"] == f"http://testserver/v1.1/Things({thing_id})/{nav}"
        )
    assert body["properties"] == {"district": "Thu Dau Mot"}


async def test_navigation_and_property_paths(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).json()[
        "@iot.id"
    ]
    streams = (await client.get(f"/v1.1/Things({thing_id})/Datastreams")).json()["value"]
    assert len(streams) == 1
    stream_id = streams[0]["@iot.id"]
    back = (await client.get(f"/v1.1/Datastreams({stream_id})/Thing")).json()
    assert back["@iot.id"] == thing_id
    assert (await client.get(f"/v1.1/Things({thing_id})/name")).json() == {"name": "Air station 1"}
    raw = await client.get(f"/v1.1/Things({thing_id})/name/$value")
    assert raw.status_code == 200 and raw.text == "Air station 1"
    observations = (await client.get(f"/v1.1/Datastreams({stream_id})/Observations")).json()
    assert [o["result"] for o in observations["value"]] == [10, 11, 12]
    sensor = (await client.get(f"/v1.1/Datastreams({stream_id})/Sensor")).json()
    assert sensor["metadata"] == "https://example.org/pms5003.pdf"
    deep = await client.get(f"/v1.1/Things({thing_id})/Datastreams({stream_id})/ObservedProperty")
    assert deep.json()["name"] == "PM2.5"


async def test_unknown_ids_and_names_are_404(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id = (await client.post("/v1.1/Things", json=thing(), headers=admin)).json()["@iot.id"]
    for url in (
        "/v1.1/Things(999999)",
        "/v1.1/Things(999999)/Datastreams",
        "/v1.1/Things(abc)",
        "/v1.1/Thingz",
        f"/v1.1/Things({thing_id})/Datastreams(5)",
        f"/v1.1/Things({thing_id})/nosuch",
    ):
        response = await client.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == 404


async def test_paging_top_skip_count_and_next_link(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for i in range(7):
        assert (
            await client.post("/v1.1/Things", json=thing(f"T{i}"), headers=admin)
        ).status_code == 201
    page = (await client.get("/v1.1/Things", params={"$top": "3", "$count": "true"})).json()
    assert page["@iot.count"] == 7
    assert [t["name"] for t in page["value"]] == ["T0", "T1", "T2"]
    names = [t["name"] for t in page["value"]]
    while "@iot.nextLink" in page:
        page = (await client.get(page["@iot.nextLink"])).json()
        assert page["@iot.count"] == 7
        names += [t["name"] for t in page["value"]]
    assert names == [f"T{i}" for i in range(7)]
    skipped = (await client.get("/v1.1/Things", params={"$skip": "5"})).json()
    assert [t["name"] for t in skipped["value"]] == ["T5", "T6"]
    assert "@iot.nextLink" not in skipped


async def test_server_page_size_applies_without_top(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = full_thing(observations=0)
    body["Datastreams"][0]["Observations"] = [
        {"phenomenonTime": f"2026-11-01T00:{m:02d}:00Z", "result": m} for m in range(60)
    ] + [{"phenomenonTime": f"2026-11-01T01:{m:02d}:00Z", "result": 60 + m} for m in range(50)]
    await client.post("/v1.1/Things", json=body, headers=admin)
    first = (await client.get("/v1.1/Observations")).json()
    assert len(first["value"]) == 100
    rest = (await client.get(first["@iot.nextLink"])).json()
    assert len(rest["value"]) == 10
    assert "@iot.nextLink" not in rest


@pytest.mark.parametrize(
    "params",
    [{"$top": "-1"}, {"$top": "x"}, {"$skip": "-3"}, {"$count": "maybe"}, {"$top": "1000000"}],
)
async def test_bad_paging_options_are_400(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get("/v1.1/Things", params=params)
    assert response.status_code == 400
    assert response.json()["message"]


async def test_anonymous_reads_can_be_turned_off(backend: object) -> None:
    from cityhelix.app import create_app
    from cityhelix.settings import Settings

    settings: Settings = backend.settings.model_copy(update={"public_read": False})  # type: ignore[attr-defined]
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            assert (await http.get("/v1.1/Things")).status_code == 401
            ok = await http.get(
                "/v1.1/Things",
                headers={"Authorization": f"Bearer {settings.admin_token.get_secret_value()}"},
            )  # type: ignore[union-attr]
            assert ok.status_code == 200


async def test_top_zero_counts_without_a_next_link(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post("/v1.1/Things", json=thing(), headers=admin)
    page = (await client.get("/v1.1/Things", params={"$top": "0", "$count": "true"})).json()
    assert page == {"@iot.count": 1, "value": []}


async def test_mqtt_conformance_is_announced_only_when_mqtt_runs(
    client: httpx.AsyncClient, backend: object
) -> None:
    from cityhelix.app import create_app
    from tests.served import entered_on_free_port

    mqtt_class = (
        "http://www.opengis.net/spec/iot_sensing/1.1/req/receive-updates-via-mqtt/receive-updates"
    )
    off = (await client.get("/v1.1")).json()["serverSettings"]
    assert mqtt_class not in off["conformance"]

    @contextlib.asynccontextmanager
    async def started(port: int) -> AsyncIterator[FastAPI]:
        settings = backend.settings.model_copy(update={"mqtt_port": port})  # type: ignore[attr-defined]
        app = create_app(settings, migrate=False)
        async with app.router.lifespan_context(app):
            yield app

    async with entered_on_free_port(started) as (port, app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            on = (await http.get("/v1.1")).json()["serverSettings"]
    assert mqtt_class in on["conformance"]
    assert on[mqtt_class] == {"endpoints": [f"mqtt://127.0.0.1:{port}"]}


async def test_data_array_is_served_for_observations_and_refused_elsewhere(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await client.post("/v1.1/Things", json=full_thing(observations=2), headers=admin)
    served = await client.get(
        "/v1.1/Observations", params={"$resultFormat": "dataArray", "$select": "result"}
    )
    assert served.status_code == 200
    assert [group["dataArray"] for group in served.json()["value"]] == [[[10], [11]]]
    refused = await client.get("/v1.1/Things", params={"$resultFormat": "dataArray"})
    assert refused.status_code == 400
    assert refused.json()["field"] == "$resultFormat"
    assert "only to collections of Observations, not to Things" in refused.json()["message"]
