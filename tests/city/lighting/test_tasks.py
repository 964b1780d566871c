"""A lighting Task reaches the lamp over MQTT; the lamp's state reading confirms it, and a
Task no lamp confirms in time is marked failed with an alert of the operations centre.

The lamp is simulated by a real MQTT client on a real broker (Mosquitto, through
tests/hub/test_mqtt.py's `hub` fixture; tests/hub/test_tasking.py covers the embedded
broker), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import httpx
import orjson
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.hub import service as hub_service
from cityhelix.hub.query.path import parse_path
from tests.city.lighting.helpers import make_lamp
from tests.conftest import Backend, _empty_all_tables
from tests.hub.test_mqtt import Hub, hub, publish  # noqa: F401 - the fixture
from tests.hub.test_tasking import lamp as hub_lamp

pytestmark = pytest.mark.asyncio
TIMEOUT = 15.0


@pytest.fixture(autouse=True)
async def _no_outcome_from_before(engine: AsyncEngine) -> None:
    """The session app's lighting round (every 2 s) may have been between reading the Tasks
    and recording their outcomes when the tables were emptied for this test: it then writes
    back the outcome of a Task from before, and as ids start at 1 again, this test's first
    Task would be taken for it (never tracked: 404). The round ends within milliseconds;
    the tables are emptied once more after it."""
    await asyncio.sleep(0.3)
    await _empty_all_tables(engine)


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first truthy answer of `check`, asked again until TIMEOUT (no fixed sleeps)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            answer = await check()
            if answer:
                return answer
            await asyncio.sleep(0.1)
    raise AssertionError(what)  # pragma: no cover


async def simulated_lamp(
    device: aiomqtt.Client, capability_id: int, state_id: int, subscribed: asyncio.Event
) -> None:
    """Take each Task of the capability and report the level it asked for (`subscribed`
    is set once the broker acknowledged the subscription: Tasks sent before are missed)."""
    await device.subscribe(f"v1.1/TaskingCapabilities({capability_id})/Tasks", qos=1)
    subscribed.set()
    async for message in device.messages:
        task = orjson.loads(message.payload)
        parameters = task.get("taskingParameters", {})
        level = parameters.get("level", 100) if parameters.get("on") else 0
        await publish(device, f"v1.1/Datastreams({state_id})/Observations", {"result": level})


@pytest.mark.parametrize("hub", ["mosquitto"], indirect=True)
async def test_a_task_is_delivered_over_mqtt_and_confirmed_and_an_unanswered_one_fails(
    hub: Hub,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    answering = await make_lamp(client, admin, "Lamp answering")
    silent = await make_lamp(client, admin, "Lamp silent", confirmation_seconds=1)
    async with hub.device() as device, hub.device() as operator:
        subscribed = asyncio.Event()
        lamp = asyncio.create_task(
            simulated_lamp(
                device, answering["capability_id"], answering["state_datastream_id"], subscribed
            )
        )
        try:
            async with asyncio.timeout(TIMEOUT):
                await subscribed.wait()
            created = await client.post(
                f"/v1.1/TaskingCapabilities({answering['capability_id']})/Tasks",
                json={"taskingParameters": {"on": True, "level": 70}},
                headers=admin,
            )
            assert created.status_code == 201, created.text
            task_id = created.json()["@iot.id"]

            async def confirmed() -> dict[str, Any] | None:
                answer = await client.get(f"/api/city/lighting/tasks/{task_id}")
                assert answer.status_code == 200, answer.text
                outcome: dict[str, Any] = answer.json()
                return outcome if outcome["status"] == "confirmed" else None

            outcome = await until(confirmed, "the lamp's state reading confirms the Task")
            assert outcome["level"] == 70
            reading = await client.get(f"/v1.1/Observations({outcome['observation_id']})")
            assert reading.json()["result"] == 70
            # a Task sent over MQTT to the lamp that never answers
            topic = f"v1.1/TaskingCapabilities({silent['capability_id']})/Tasks"
            await publish(operator, topic, {"taskingParameters": {"on": False}})
            tasks = await until(
                lambda: _tasks_of(client, silent["capability_id"]), "the MQTT Task is written"
            )
            silent_id = tasks[0]["@iot.id"]

            async def failed() -> dict[str, Any] | None:
                answer = await client.get(f"/api/city/lighting/tasks/{silent_id}")
                assert answer.status_code == 200, answer.text
                outcome: dict[str, Any] = answer.json()
                return outcome if outcome["status"] == "failed" else None

            failure = await until(failed, "the unanswered Task fails")
            assert failure["confirmed_at"] is None and failure["level"] == 0
        finally:
            lamp.cancel()
    alerts = (await client.get("/api/city/lighting/faults", params=_DAY)).json()["alerts"]
    assert [a["thing_id"] for a in alerts] == [silent["thing_id"]]
    assert (alerts[0]["fault"], alerts[0]["severity"], alerts[0]["state"]) == (
        "task_unconfirmed",
        "warning",
        "active",
    )
    in_ops = await client.get(f"/api/ops/alerts/{alerts[0]['id']}", headers=admin)
    assert in_ops.status_code == 200 and in_ops.json()["thing_id"] == silent["thing_id"]
    still = await client.get(f"/api/city/lighting/tasks/{task_id}")
    assert still.json()["status"] == "confirmed"  # a settled outcome stays
    assert (await client.get("/api/city/lighting/tasks/999999")).status_code == 404
    # another service's Task is none of street lighting's business
    other = await client.post("/v1.1/Things", json=hub_lamp("Fountain pump"), headers=admin)
    capability = (await client.get(other.headers["location"] + "/TaskingCapabilities")).json()
    pump_task = await client.post(
        f"/v1.1/TaskingCapabilities({capability['value'][0]['@iot.id']})/Tasks",
        json={"taskingParameters": {"on": True}},
        headers=admin,
    )
    listed = (await client.get("/api/city/lighting/tasks")).json()
    assert pump_task.json()["@iot.id"] not in {t["task_id"] for t in listed}
    assert {t["task_id"] for t in listed} == {task_id, silent_id}
    missing = await client.get(f"/api/city/lighting/tasks/{pump_task.json()['@iot.id']}")
    assert missing.status_code == 404


_DAY = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}


async def _tasks_of(client: httpx.AsyncClient, capability_id: int) -> list[dict[str, Any]]:
    answer = await client.get(f"/v1.1/TaskingCapabilities({capability_id})/Tasks")
    found: list[dict[str, Any]] = answer.json()["value"]
    return found


@pytest.mark.parametrize("hub", ["mosquitto"], indirect=True)
async def test_a_cabinets_task_over_mqtt_is_passed_on_to_the_lamps_it_feeds(
    hub: Hub,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    cabinet = await make_lamp(client, admin, "Cabinet TDM-07", kind="cabinet", cabinet="TDM-07")
    fed = [await make_lamp(client, admin, f"Lamp TDM-07 {n}", cabinet="TDM-07") for n in (1, 2)]
    other = await make_lamp(client, admin, "Lamp TDM-08 1", cabinet="TDM-08")
    async with contextlib.AsyncExitStack() as stack:
        operator = await stack.enter_async_context(hub.device())
        answering, subscriptions = [], []
        for lamp in (cabinet, *fed):  # a device (MQTT client) each
            device = await stack.enter_async_context(hub.device())
            subscriptions.append(subscribed := asyncio.Event())
            answering.append(
                asyncio.create_task(
                    simulated_lamp(
                        device, lamp["capability_id"], lamp["state_datastream_id"], subscribed
                    )
                )
            )
        try:
            async with asyncio.timeout(TIMEOUT):
                for subscribed in subscriptions:
                    await subscribed.wait()
            topic = f"v1.1/TaskingCapabilities({cabinet['capability_id']})/Tasks"
            await publish(operator, topic, {"taskingParameters": {"on": True, "level": 40}})
            (cabinet_task,) = await until(
                lambda: _tasks_of(client, cabinet["capability_id"]), "the cabinet's Task"
            )

            async def all_confirmed() -> list[dict[str, Any]] | None:
                listed = (await client.get("/api/city/lighting/tasks")).json()
                mine = {cabinet["thing_id"], *(lamp["thing_id"] for lamp in fed)}
                rows = [t for t in listed if t["thing_id"] in mine]
                done = len(rows) == 3 and all(t["status"] == "confirmed" for t in rows)
                return rows if done else None

            rows = await until(all_confirmed, "the cabinet and both of its lamps confirm")
        finally:
            for task in answering:
                task.cancel()
    assert {(t["thing_id"], t["level"]) for t in rows} == {
        (cabinet["thing_id"], 40),
        *((lamp["thing_id"], 40) for lamp in fed),
    }
    for lamp in fed:  # one Task each, after the cabinet's, with the cabinet's parameters
        (task,) = await _tasks_of(client, lamp["capability_id"])
        assert task["@iot.id"] > cabinet_task["@iot.id"]
        assert task["taskingParameters"] == {"on": True, "level": 40}
    assert await _tasks_of(client, other["capability_id"]) == []  # another cabinet's lamp


async def test_a_task_asked_after_from_many_requests_at_once_is_tracked_once(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # each request reconciles the new Tasks itself, as the background round does: on
    # PostgreSQL they run at the same moment and each sees the Task untracked
    lamp = await make_lamp(client, admin, "Lamp asked often")
    created = await client.post(
        f"/v1.1/TaskingCapabilities({lamp['capability_id']})/Tasks",
        json={"taskingParameters": {"on": True, "level": 40}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    task_id = created.json()["@iot.id"]
    answers = await asyncio.gather(
        *(client.get(f"/api/city/lighting/tasks/{task_id}") for _ in range(8))
    )
    assert [a.status_code for a in answers] == [200] * 8, [a.text for a in answers]
    assert {(a.json()["status"], a.json()["level"]) for a in answers} == {("pending", 40)}
    listed = (await client.get("/api/city/lighting/tasks")).json()
    assert [t["task_id"] for t in listed if t["task_id"] == task_id] == [task_id]


async def test_a_task_committed_after_a_younger_one_is_tracked_too(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any, backend: Backend
) -> None:
    if backend.name == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time: no commit can overtake")
    app = running_app
    first = await make_lamp(client, admin, "Lamp written late")
    second = await make_lamp(client, admin, "Lamp written early")
    # an older transaction makes Tasks (the smaller ids; more than one read of them takes),
    # still open while a younger one is made, committed and tracked: looking past the
    # newest id tracked skips the older ones
    async with hub_service.group_transaction(app.state.engine, app.state.bus) as (held, _log):
        late = [
            await hub_service.create(
                app.state.engine,
                Principal("admin", Role.ADMIN),
                parse_path(f"TaskingCapabilities({first['capability_id']})/Tasks"),
                {"taskingParameters": {"on": True, "level": 30}},
                "/test",
                connection=held,
            )
            for _ in range(25)
        ]
        early = await client.post(
            f"/v1.1/TaskingCapabilities({second['capability_id']})/Tasks",
            json={"taskingParameters": {"on": True, "level": 60}},
            headers=admin,
        )
        assert early.status_code == 201, early.text
        early_id = early.json()["@iot.id"]
        assert early_id > max(task.id for task in late)
        tracked = await client.get(f"/api/city/lighting/tasks/{early_id}")
        assert tracked.status_code == 200, tracked.text

    async def all_late_tracked() -> list[dict[str, Any]] | None:
        listed = (await client.get("/api/city/lighting/tasks")).json()
        found = [t for t in listed if t["task_id"] in {task.id for task in late}]
        return found if len(found) == len(late) else None

    outcomes = await until(all_late_tracked, "the Tasks committed late were never tracked")
    assert {(o["status"], o["level"]) for o in outcomes} == {("pending", 30)}
