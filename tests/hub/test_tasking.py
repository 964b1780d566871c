"""SensorThings Tasking (OGC 17-079r1) over HTTP and MQTT, on both backends.

TaskingCapability, Task and Actuator are registry entries: CRUD, their links, deep insert
and `$expand` work as for the sensing types; `taskingParameters` is a SWE Common DataRecord
and a Task's parameters are refused (400 naming the parameter, nothing written) when they
do not fit it; the service root announces the Tasking classes (the MQTT ones with MQTT).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cityhelix.app import create_app
from cityhelix.hub.http.api import TASKING_CONFORMANCE, TASKING_MQTT_CONFORMANCE
from tests.conftest import Backend
from tests.hub.factories import location
from tests.hub.test_mqtt import Hub, hub, next_message, publish  # noqa: F401 - the fixture
from tests.served import entered_on_free_port

pytestmark = pytest.mark.asyncio


def switch_and_dim() -> dict[str, Any]:
    """The street lamp's record: on/off and a dimming level of 0-100 %."""
    return {
        "type": "DataRecord",
        "field": [
            {
                "name": "on",
                "label": "Switched on",
                "definition": "https://cityhelix.example/def/lighting/on",
                "type": "Boolean",
            },
            {
                "name": "level",
                "label": "Dimming level",
                "type": "Count",
                "uom": {"code": "%"},
                "optional": True,
                "constraint": {"type": "AllowedValues", "interval": [[0, 100]]},
            },
        ],
    }


def lamp(name: str = "Lamp 1") -> dict[str, Any]:
    return {
        "name": name,
        "description": "LED street lamp",
        "properties": {"kind": "streetlight"},
        "Locations": [location()],
        "TaskingCapabilities": [
            {
                "name": "switch and dim",
                "description": "switch the lamp and set its level",
                "taskingParameters": switch_and_dim(),
                "properties": {"confirmationSeconds": 30},
                "Actuator": {
                    "name": "LED driver",
                    "description": "DALI driver",
                    "encodingType": "application/pdf",
                    "metadata": "https://example.org/dali-driver.pdf",
                },
            }
        ],
    }


async def make_capability(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    made = await client.post("/v1.1/Things", json=lamp(), headers=admin)
    assert made.status_code == 201, made.text
    found = await client.get(made.headers["location"] + "/TaskingCapabilities")
    (capability,) = found.json()["value"]
    return int(capability["@iot.id"])


async def test_tasking_entities_created_read_linked_updated_and_deleted(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    capability_id = await make_capability(client, admin)
    capability = (await client.get(f"/v1.1/TaskingCapabilities({capability_id})")).json()
    assert capability["taskingParameters"] == switch_and_dim()
    assert capability["properties"] == {"confirmationSeconds": 30}
    for link in ("Thing", "Actuator", "Tasks"):
        assert capability[f"{link}@iot.navigationLink"].endswith(
            f"/TaskingCapabilities({capability_id})/{link}"
        )
    actuator = (await client.get(f"/v1.1/TaskingCapabilities({capability_id})/Actuator")).json()
    assert actuator["encodingType"] == "application/pdf"
    back = await client.get(f"/v1.1/Actuators({actuator['@iot.id']})/TaskingCapabilities")
    assert [c["@iot.id"] for c in back.json()["value"]] == [capability_id]

    posted = await client.post(
        f"/v1.1/TaskingCapabilities({capability_id})/Tasks",
        json={"taskingParameters": {"on": True, "level": 60}},
        headers=admin,
    )
    assert posted.status_code == 201, posted.text
    task = (await client.get(posted.headers["location"])).json()
    assert task["taskingParameters"] == {"on": True, "level": 60}
    assert task["creationTime"].endswith("Z")  # set by the server
    assert set(task) >= {"@iot.id", "@iot.selfLink", "TaskingCapability@iot.navigationLink"}
    task_id = task["@iot.id"]

    given = await client.post(
        "/v1.1/Tasks",
        json={
            "creationTime": "2026-12-01T11:00:00Z",
            "taskingParameters": {"on": False},
            "TaskingCapability": {"@iot.id": capability_id},
        },
        headers=admin,
    )
    assert given.status_code == 201, given.text
    assert (await client.get(given.headers["location"])).json()["creationTime"] == (
        "2026-12-01T11:00:00Z"
    )

    expanded = await client.get(
        "/v1.1/Things",
        params={"$expand": "TaskingCapabilities($expand=Tasks($orderby=id);$select=id,name)"},
    )
    (thing_document,) = expanded.json()["value"]
    (with_tasks,) = thing_document["TaskingCapabilities"]
    assert with_tasks["name"] == "switch and dim"
    assert [t["taskingParameters"] for t in with_tasks["Tasks"]] == [
        {"on": True, "level": 60},
        {"on": False},
    ]
    filtered = await client.get(
        "/v1.1/Tasks", params={"$filter": "TaskingCapability/Thing/name eq 'Lamp 1'"}
    )
    assert filtered.json()["value"][0]["@iot.id"] in (task_id, given.json()["@iot.id"])

    patched = await client.patch(
        f"/v1.1/Tasks({task_id})",
        json={"taskingParameters": {"on": True, "level": 30}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert (await client.get(f"/v1.1/Tasks({task_id})")).json()["taskingParameters"]["level"] == 30
    assert (await client.delete(f"/v1.1/Tasks({task_id})", headers=admin)).status_code == 200
    assert (await client.get(f"/v1.1/Tasks({task_id})")).status_code == 404

    thing_id = thing_document["@iot.id"]
    assert (await client.delete(f"/v1.1/Things({thing_id})", headers=admin)).status_code == 200
    for collection in ("TaskingCapabilities", "Tasks"):
        left = await client.get(f"/v1.1/{collection}", params={"$count": "true"})
        assert left.json()["@iot.count"] == 0, collection  # gone with their Thing
    assert (await client.get("/v1.1/Actuators")).json()["value"]  # a catalogue entry stays


UNFIT_TASKS = [
    ({"on": True, "level": 150}, "taskingParameters/level"),
    ({"on": True, "level": 12.5}, "taskingParameters/level"),
    ({"on": "yes"}, "taskingParameters/on"),
    ({"level": 40}, "taskingParameters/on"),
    ({"on": True, "colour": "red"}, "taskingParameters/colour"),
    (["on"], "taskingParameters"),
]


async def test_a_task_that_does_not_fit_the_record_is_refused_naming_the_parameter(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    capability_id = await make_capability(client, admin)
    for parameters, field in UNFIT_TASKS:
        refused = await client.post(
            f"/v1.1/TaskingCapabilities({capability_id})/Tasks",
            json={"taskingParameters": parameters},
            headers=admin,
        )
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field, parameters
        assert field.split("/")[-1] in refused.json()["message"]
    count = await client.get("/v1.1/Tasks", params={"$count": "true"})
    assert count.json()["@iot.count"] == 0  # nothing written


async def test_an_update_or_a_move_cannot_make_a_task_unfit(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    capability_id = await make_capability(client, admin)
    posted = await client.post(
        f"/v1.1/TaskingCapabilities({capability_id})/Tasks",
        json={"taskingParameters": {"on": True}},
        headers=admin,
    )
    task_url = posted.headers["location"]
    refused = await client.patch(
        task_url, json={"taskingParameters": {"on": True, "level": -1}}, headers=admin
    )
    assert refused.status_code == 400
    assert refused.json()["field"] == "taskingParameters/level"
    other = await client.post(
        "/v1.1/TaskingCapabilities",
        json={
            "name": "colour",
            "description": "set the colour temperature",
            "taskingParameters": {
                "type": "DataRecord",
                "field": [
                    {
                        "name": "kelvin",
                        "type": "Quantity",
                        "constraint": {"type": "AllowedValues", "interval": [[2200, 6500]]},
                    }
                ],
            },
            "Thing": {"@iot.id": (await client.get("/v1.1/Things")).json()["value"][0]["@iot.id"]},
            "Actuator": {
                "@iot.id": (await client.get("/v1.1/Actuators")).json()["value"][0]["@iot.id"]
            },
        },
        headers=admin,
    )
    assert other.status_code == 201, other.text
    moved = await client.patch(
        task_url, json={"TaskingCapability": {"@iot.id": other.json()["@iot.id"]}}, headers=admin
    )
    assert moved.status_code == 400
    assert moved.json()["field"] == "taskingParameters/on"
    kept = (await client.get(task_url + "/TaskingCapability")).json()
    assert kept["@iot.id"] == capability_id


NOT_DATA_RECORDS = [
    ({"type": "Vector", "field": []}, "taskingParameters/type"),
    ({"type": "DataRecord", "field": []}, "taskingParameters/field"),
    ({"type": "DataRecord", "field": [{"name": "x", "type": "Blob"}]}, "taskingParameters/x/type"),
    (
        {
            "type": "DataRecord",
            "field": [{"name": "level", "type": "Count", "constraint": {"type": "AllowedTokens"}}],
        },
        "taskingParameters/level/constraint",
    ),
    ("switch", "taskingParameters"),
]


async def test_a_capability_whose_parameters_are_no_data_record_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for record, field in NOT_DATA_RECORDS:
        body = lamp()
        body["TaskingCapabilities"][0]["taskingParameters"] = record
        refused = await client.post("/v1.1/Things", json=body, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == field, record
    assert (await client.get("/v1.1/Things")).json()["value"] == []  # the deep inserts undone


async def test_service_root_announces_the_tasking_classes_and_the_mqtt_ones_with_mqtt(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    conformance = (await client.get("/v1.1")).json()["serverSettings"]["conformance"]
    assert set(TASKING_CONFORMANCE) <= set(conformance)
    assert not set(TASKING_MQTT_CONFORMANCE) & set(conformance)
    assert TASKING_CONFORMANCE == (
        "http://www.opengis.net/spec/iot_tasking/1.0/req/tasking-capability",
        "http://www.opengis.net/spec/iot_tasking/1.0/req/task",
        "http://www.opengis.net/spec/iot_tasking/1.0/req/actuator",
        "http://www.opengis.net/spec/iot_tasking/1.0/req/create-tasks",
    )

    @contextlib.asynccontextmanager
    async def started(port: int) -> AsyncIterator[FastAPI]:
        app = create_app(backend.settings.model_copy(update={"mqtt_port": port}), migrate=False)
        async with app.router.lifespan_context(app):
            yield app

    async with entered_on_free_port(started) as (port, app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            on = (await http.get("/v1.1")).json()["serverSettings"]
    assert set(TASKING_CONFORMANCE + TASKING_MQTT_CONFORMANCE) <= set(on["conformance"])
    for name in TASKING_MQTT_CONFORMANCE:
        assert on[name] == {"endpoints": [f"mqtt://127.0.0.1:{port}"]}


@pytest.mark.parametrize("hub", ["embedded"], indirect=True)  # Mosquitto: tests/city/lighting
async def test_a_task_published_over_mqtt_is_created_and_announced_to_the_device(
    hub: Hub,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    capability_id = await make_capability(client, admin)
    topic = f"v1.1/TaskingCapabilities({capability_id})/Tasks"
    async with hub.device() as lamp_device, hub.device() as operator:
        await lamp_device.subscribe(topic, qos=1)
        await publish(operator, topic, {"taskingParameters": {"on": True, "level": 80}})
        announced_on, announced = await next_message(lamp_device)
        assert announced_on == topic
        assert announced["taskingParameters"] == {"on": True, "level": 80}
        fetched = await client.get(announced["@iot.selfLink"])
        assert fetched.json() == announced  # committed before it was announced
        # one made over HTTP reaches the device the same way
        over_http = await client.post(
            f"/{topic}", json={"taskingParameters": {"on": False}}, headers=admin
        )
        assert over_http.status_code == 201, over_http.text
        _, second = await next_message(lamp_device)
        assert second["taskingParameters"] == {"on": False}
        # a Task the record refuses is not written (the bridge counts it refused)
        await publish(operator, topic, {"taskingParameters": {"on": True, "level": 101}})
        await asyncio.wait_for(hub.bridge.wait_processed(2), 10)
    count = await client.get("/v1.1/Tasks", params={"$count": "true"})
    assert count.json()["@iot.count"] == 2
    assert hub.bridge.refused == 1
