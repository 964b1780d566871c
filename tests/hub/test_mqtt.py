"""The SensorThings MQTT extension through real MQTT clients, on both brokers and both backends.

The embedded amqtt broker runs on a free port; Mosquitto must be running at 127.0.0.1:1883
(`CITYHELIX_TEST_MQTT_URL` to change it): when it cannot be reached the tests fail.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import httpx
import orjson
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cityhelix.auth.tables import audit_log
from cityhelix.events.broker import BrokerPortInUse, start_embedded_broker
from cityhelix.hub.mqtt import MqttBridge, MqttUnavailable, start_mqtt
from cityhelix.hub.mqtt.bridge import ANNOUNCE_CHUNK
from cityhelix.hub.mqtt.links import EmbeddedLink
from cityhelix.hub.mqtt_state import SlotLeases
from cityhelix.hub.mqtt_tables import mqtt_slots
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN, Backend, bearer
from tests.hub.factories import (
    datastream,
    location,
    make_datastream,
    observed_property,
    sensor,
    thing,
)
from tests.served import free_port, on_a_free_port

pytestmark = pytest.mark.asyncio

MOSQUITTO_URL = os.environ.get("CITYHELIX_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
#: the HTTP test client's root, so that notifications and GET documents compare equal
HTTP_ROOT = "http://testserver"
SELECT = "$select=result,phenomenonTime"
#: Mosquitto cannot tell the hub what clients subscribed to: the test declares it
DECLARED_SELECT_FILTER = f"v1.1/+/Observations?{SELECT}"
TIMEOUT = 10.0
#: the Mosquitto here is shared by every test run: a persistent session left behind would
#: queue every message of every later run for a day (tests/hub/test_ingest_processes.py
#: tests the persistent sessions, on brokers of their own)
SHARED_BROKER = {"mqtt_clean_session": True}

Document = dict[str, Any]


@dataclass
class Hub:
    """A running bridge and how a device reaches its broker."""

    kind: str
    bridge: MqttBridge
    host: str
    port: int

    def device(
        self, username: str | None = "admin", password: str | None = ADMIN_TOKEN
    ) -> aiomqtt.Client:
        """An MQTT client, connected by `async with` (admin unless told otherwise)."""
        return aiomqtt.Client(self.host, self.port, username=username, password=password)


@pytest.fixture(params=["embedded", "mosquitto"])
async def hub(
    request: pytest.FixtureRequest, backend: Backend, running_app: Any, engine: AsyncEngine
) -> AsyncIterator[Hub]:
    """The bridge next to the test app (same engine, same event bus), on the broker asked for."""
    kind: str = request.param

    async def start(changes: dict[str, Any], declared: tuple[str, ...]) -> MqttBridge | None:
        return await start_mqtt(
            backend.settings.model_copy(update=changes),
            engine,
            running_app.state.bus,
            http_root=HTTP_ROOT,
            select_filters=declared,
            # its own group, so that no other hub on this Mosquitto takes our creations
            share_group=f"cityhelix-test-{uuid.uuid4().hex[:12]}",
        )

    if kind == "embedded":
        embedded = {"mqtt_url": "", "mqtt_host": "127.0.0.1"}
        port, bridge = await on_a_free_port(lambda port: start({**embedded, "mqtt_port": port}, ()))
        host = "127.0.0.1"
    else:
        bridge = await start(
            {"mqtt_url": MOSQUITTO_URL, **SHARED_BROKER}, (DECLARED_SELECT_FILTER,)
        )
        parts = urlsplit(MOSQUITTO_URL)
        host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    assert bridge is not None
    try:
        yield Hub(kind, bridge, host, port)
    finally:
        await bridge.stop()


@asynccontextmanager
async def mosquitto_hub(
    backend: Backend, running_app: Any, engine: AsyncEngine, **settings: Any
) -> AsyncIterator[Hub]:
    """A bridge on Mosquitto with settings of the test's own (the fixture's are fixed)."""
    configured = backend.settings.model_copy(
        update={"mqtt_url": MOSQUITTO_URL, **SHARED_BROKER, **settings}
    )
    bridge = await start_mqtt(configured, engine, running_app.state.bus, http_root=HTTP_ROOT)
    assert bridge is not None
    parts = urlsplit(MOSQUITTO_URL)
    try:
        yield Hub("mosquitto", bridge, parts.hostname or "127.0.0.1", parts.port or 1883)
    finally:
        await bridge.stop()


embedded_only = pytest.mark.parametrize("hub", ["embedded"], indirect=True)


def is_announcement(document: Document) -> bool:
    """Sent by the hub after a commit (an external broker also relays devices' raw requests)."""
    link = document.get("@iot.selfLink")
    return isinstance(link, str) and link.startswith(HTTP_ROOT)


def anything(document: Document) -> bool:
    return True


async def next_message(
    subscriber: aiomqtt.Client, where: Callable[[Document], bool] = is_announcement
) -> tuple[str, Document]:
    """The next (topic, JSON object) on `subscriber` that satisfies `where`.

    A payload that is not a JSON object (a raw request an external broker relays) reads as {}.
    """
    async with asyncio.timeout(TIMEOUT):
        async for message in subscriber.messages:
            try:
                document = orjson.loads(message.payload)
            except orjson.JSONDecodeError:
                document = {}
            if not isinstance(document, dict):
                document = {}
            if where(document):
                return message.topic.value, document
    raise AssertionError("the subscriber was disconnected")


async def publish(device: aiomqtt.Client, topic: str, body: Any) -> None:
    payload = body if isinstance(body, bytes) else orjson.dumps(body)
    await device.publish(topic, payload, qos=1)


def reading(result: float, hour: int = 0) -> Document:
    return {"phenomenonTime": f"2026-11-02T{hour:02d}:00:00Z", "result": result}


async def observations_of(client: httpx.AsyncClient, stream_id: int) -> list[Document]:
    response = await client.get(f"/v1.1/Datastreams({stream_id})/Observations")
    assert response.status_code == 200, response.text
    found: list[Document] = response.json()["value"]
    return found


def id_in(self_link: str) -> int:
    return int(self_link.rsplit("(", 1)[1].rstrip(")"))


async def test_observation_published_to_a_datastream_topic_is_written_and_announced(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe(topic, qos=1)
        await publish(device, topic, reading(21.5))
        announced_on, announced = await next_message(subscriber)
    assert announced_on == topic
    fetched = await client.get(announced["@iot.selfLink"])
    assert fetched.status_code == 200  # committed before it was announced
    assert announced == fetched.json()  # the very document of an HTTP GET
    assert [o["result"] for o in await observations_of(client, stream_id)] == [21.5]
    assert (hub.bridge.accepted, hub.bridge.refused, hub.bridge.failed) == (1, 0, 0)
    if hub.kind == "mosquitto":
        # the shared subscription brings the hub's notifications back; they create nothing
        async with asyncio.timeout(TIMEOUT):
            while hub.bridge.link.own_notifications < 4:  # the Observation's 4 topics
                await asyncio.sleep(0.05)


async def test_a_hub_alone_on_mosquitto_gets_none_of_its_notifications_back(
    backend: Backend, running_app: Any, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    """With no share group the hub subscribes with No Local: half the MQTT packets."""
    async with mosquitto_hub(backend, running_app, engine, mqtt_share_group="") as alone:
        bridge = alone.bridge
        stream_id = await make_datastream(client, bearer(ADMIN_TOKEN))
        topic = f"v1.1/Datastreams({stream_id})/Observations"
        async with alone.device() as subscriber, alone.device() as device:
            await subscriber.subscribe(topic, qos=1)
            for hour in range(5):
                await publish(device, topic, reading(float(hour), hour))
            announced = [(await next_message(subscriber))[1]["result"] for _ in range(5)]
            await bridge.wait_processed(5)
            await asyncio.sleep(0.5)  # an echo would be back by now
        assert announced == [0.0, 1.0, 2.0, 3.0, 4.0]  # in commit order
        assert (bridge.accepted, bridge.refused, bridge.failed) == (5, 0, 0)
        assert bridge.link.own_notifications == 0
        assert len(await observations_of(client, stream_id)) == 5


async def test_observation_published_to_observations_with_a_datastream_link_is_written(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe("v1.1/Observations", qos=1)
        body = {**reading(7.25), "Datastream": {"@iot.id": stream_id}}
        await publish(device, "v1.1/Observations", body)
        _, announced = await next_message(subscriber)
    assert announced["result"] == 7.25
    stored = await observations_of(client, stream_id)
    assert [o["@iot.id"] for o in stored] == [announced["@iot.id"]]


async def test_observation_published_to_a_multidatastream_topic_is_written(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await client.post("/v1.1/Things", json=thing(Locations=[location()]), headers=admin)
    measurement = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
    body = {
        "name": "wind",
        "description": "speed and direction",
        "unitOfMeasurements": [
            {"name": "metre per second", "symbol": "m/s", "definition": "ucum:m/s"},
            {"name": "degree", "symbol": "deg", "definition": "ucum:deg"},
        ],
        "multiObservationDataTypes": [measurement, measurement],
        "Thing": {"@iot.id": made.json()["@iot.id"]},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [observed_property("speed"), observed_property("direction")],
    }
    created = await client.post("/v1.1/MultiDatastreams", json=body, headers=admin)
    assert created.status_code == 201, created.text
    topic = f"v1.1/MultiDatastreams({created.json()['@iot.id']})/Observations"
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe(topic, qos=1)
        await publish(
            device, topic, {"result": [3.2, 270], "phenomenonTime": "2026-11-02T00:00:00Z"}
        )
        _, announced = await next_message(subscriber)
    assert announced["result"] == [3.2, 270]
    stored = (await client.get(f"/{topic}")).json()["value"]
    assert [o["result"] for o in stored] == [[3.2, 270]]


async def test_a_change_is_announced_on_every_topic_the_standard_defines(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    thing_id = (await client.get(f"/v1.1/Datastreams({stream_id})/Thing")).json()["@iot.id"]
    sensor_id = (await client.post("/v1.1/Sensors", json=sensor(), headers=admin)).json()["@iot.id"]
    property_id = (
        await client.post("/v1.1/ObservedProperties", json=observed_property(), headers=admin)
    ).json()["@iot.id"]
    new_stream = datastream(
        "PM10 at station 1",
        Sensor={"@iot.id": sensor_id},
        ObservedProperty={"@iot.id": property_id},
    )
    topics_of: dict[str, set[str]] = {}

    def complete(kind: str, count: int, other_than: str = "") -> str | None:
        """The selfLink of a `kind` announced on `count` topics by now, if any."""
        for link, topics in topics_of.items():
            if f"/{kind}(" in link and link != other_than and len(topics) == count:
                return link
        return None

    old_stream_link = f"{HTTP_ROOT}/v1.1/Datastreams({stream_id})"
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe("v1.1/#", qos=1)
        await publish(device, f"v1.1/Datastreams({stream_id})/Observations", reading(3.0))
        await publish(device, f"v1.1/Things({thing_id})/Datastreams", new_stream)
        # (the setup's own announcements may still be arriving: they are told apart)
        while not (complete("Observations", 4) and complete("Datastreams", 5, old_stream_link)):
            topic, document = await next_message(subscriber)
            topics_of.setdefault(document["@iot.selfLink"], set()).add(topic)
    observation_link = complete("Observations", 4)
    stream_link = complete("Datastreams", 5, old_stream_link)
    assert observation_link is not None and stream_link is not None
    observation_id, new_stream_id = id_in(observation_link), id_in(stream_link)
    feature = await client.get(f"/v1.1/Observations({observation_id})/FeatureOfInterest")
    assert topics_of[observation_link] == {
        "v1.1/Observations",
        f"v1.1/Observations({observation_id})",
        f"v1.1/Datastreams({stream_id})/Observations",
        f"v1.1/FeaturesOfInterest({feature.json()['@iot.id']})/Observations",
    }
    assert topics_of[stream_link] == {
        "v1.1/Datastreams",
        f"v1.1/Datastreams({new_stream_id})",
        f"v1.1/Things({thing_id})/Datastreams",
        f"v1.1/Sensors({sensor_id})/Datastreams",
        f"v1.1/ObservedProperties({property_id})/Datastreams",
    }


async def test_invalid_publications_are_refused_and_never_announced(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe(topic, qos=1)
        await publish(device, topic, b"{not json")
        await publish(device, topic, {"phenomenonTime": "2026-11-02T00:00:00Z"})  # no result
        await publish(device, "v1.1/Datastreams(999999)/Observations", reading(1.0))
        await asyncio.wait_for(hub.bridge.wait_processed(3), TIMEOUT)
        assert (hub.bridge.accepted, hub.bridge.refused, hub.bridge.failed) == (0, 3, 0)
        await publish(device, topic, reading(42.0))
        if hub.kind == "embedded":
            # the broker relays no raw request: the very first message is the announcement
            _, first = await next_message(subscriber, anything)
        else:
            _, first = await next_message(subscriber)
    assert first.get("result") == 42.0
    assert (hub.bridge.accepted, hub.bridge.refused, hub.bridge.failed) == (1, 3, 0)
    assert [o["result"] for o in await observations_of(client, stream_id)] == [42.0]


@pytest.mark.parametrize("qos", [0, 1])
async def test_notifications_go_out_at_the_configured_qos(
    backend: Backend, running_app: Any, engine: AsyncEngine, client: httpx.AsyncClient, qos: int
) -> None:
    group = f"cityhelix-test-{uuid.uuid4().hex[:12]}"
    settings = {"mqtt_notify_qos": qos, "mqtt_share_group": group}
    async with mosquitto_hub(backend, running_app, engine, **settings) as hub:
        stream_id = await make_datastream(client, bearer(ADMIN_TOKEN))
        topic = f"v1.1/Datastreams({stream_id})/Observations"
        async with hub.device() as subscriber, hub.device() as device:
            await subscriber.subscribe(topic, qos=1)  # a subscriber gets the lower of the two
            for hour in range(3):
                await publish(device, topic, reading(float(hour), hour))
            received: list[tuple[float, int]] = []
            async with asyncio.timeout(TIMEOUT):
                async for message in subscriber.messages:
                    document = orjson.loads(message.payload)
                    if is_announcement(document):
                        received.append((document["result"], message.qos))
                    if len(received) == 3:
                        break
        assert received == [(0.0, qos), (1.0, qos), (2.0, qos)]
        assert (hub.bridge.accepted, hub.bridge.refused, hub.bridge.failed) == (3, 0, 0)


def data_array(stream_id: int, first: int, count: int) -> Document:
    """A CreateObservations group: `count` hourly readings of `stream_id` from hour `first`."""
    rows = [[f"2026-11-02T{h:02d}:00:00Z", float(h)] for h in range(first, first + count)]
    return {
        "Datastream": {"@iot.id": stream_id},
        "components": ["phenomenonTime", "result"],
        "dataArray": rows,
    }


async def test_data_array_messages_are_written_and_announced_in_order_each_audited(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """Messages that arrive together are written together; each still gets its own answer:
    one naming a missing Datastream is refused alone, a bad row is that row's "error"."""
    first, second = await make_datastream(client, admin), await make_datastream(client, admin)
    messages = [[data_array(first, 2 * n, 2), data_array(second, 2 * n, 2)] for n in range(10)]
    messages[4] = [data_array(first, 8, 2), data_array(999_999, 0, 1)]  # refused as a whole
    messages[6][1]["dataArray"][0][0] = "not a time"  # that row only
    async with hub.device() as subscriber, hub.device() as device:
        await subscriber.subscribe(f"v1.1/Datastreams({first})/Observations", qos=1)
        for body in messages:
            await publish(device, "v1.1/CreateObservations", body)
        await asyncio.wait_for(hub.bridge.wait_processed(len(messages)), TIMEOUT)
        announced = [(await next_message(subscriber))[1]["result"] for _ in range(18)]
    assert (hub.bridge.accepted, hub.bridge.refused, hub.bridge.failed) == (9, 1, 0)
    assert announced == [float(h) for h in range(20) if h not in (8, 9)]  # commit order
    first_results = [o["result"] for o in await observations_of(client, first)]
    second_results = [o["result"] for o in await observations_of(client, second)]
    assert sorted(first_results) == [float(h) for h in range(20) if h not in (8, 9)]
    assert sorted(second_results) == [float(h) for h in range(20) if h not in (8, 9, 12)]
    async with engine.connect() as connection:
        audited = (
            await connection.execute(
                select(audit_log.c.path).where(audit_log.c.path == "mqtt:v1.1/CreateObservations")
            )
        ).all()
    assert len(audited) == 9  # one row per written message


@embedded_only  # the chunks are the bridge's, whatever the broker (over Mosquitto: 13 s)
async def test_a_write_longer_than_a_chunk_is_announced_whole_in_commit_order(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """One transaction of 2 x `ANNOUNCE_CHUNK` + 1 readings reaches the bridge as one batch
    of the bus: it goes out in three chunks, every reading once, in order."""
    stream_id = await make_datastream(client, admin)
    count = 2 * ANNOUNCE_CHUNK + 1
    start = datetime(2026, 11, 3, tzinfo=UTC)
    rows = [
        [(start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), float(i)]
        for i in range(count)
    ]
    body = {
        "Datastream": {"@iot.id": stream_id},
        "components": ["phenomenonTime", "result"],
        "dataArray": rows,
    }
    async with hub.device() as subscriber:
        await subscriber.subscribe(f"v1.1/Datastreams({stream_id})/Observations", qos=1)
        created = await client.post("/v1.1/CreateObservations", json=[body], headers=admin)
        assert created.status_code == 201, created.text
        announced = [(await next_message(subscriber))[1]["result"] for _ in range(count)]
    assert announced == [float(i) for i in range(count)]


async def test_select_subscription_gets_only_the_selected_members(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    async with hub.device() as narrow, hub.device() as full, hub.device() as device:
        await narrow.subscribe(f"{topic}?{SELECT}", qos=1)
        await full.subscribe(topic, qos=1)
        await publish(device, topic, reading(12.5, hour=5))
        selected_on, selected = await next_message(narrow, anything)
        _, complete = await next_message(full)
    assert selected_on == f"{topic}?{SELECT}"
    assert selected == {"result": 12.5, "phenomenonTime": "2026-11-02T05:00:00Z"}
    assert complete["result"] == 12.5 and "@iot.id" in complete


async def test_http_writes_are_announced_over_mqtt(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    async with hub.device() as subscriber:
        await subscriber.subscribe(f"v1.1/Datastreams({stream_id})/Observations", qos=1)
        created = await client.post(
            f"/v1.1/Datastreams({stream_id})/Observations", json=reading(5.0), headers=admin
        )
        assert created.status_code == 201
        _, announced = await next_message(subscriber)
        assert announced == created.json()
        await subscriber.unsubscribe(f"v1.1/Datastreams({stream_id})/Observations")
        entity_topic = f"v1.1/Observations({announced['@iot.id']})"
        await subscriber.subscribe(entity_topic, qos=1)
        patched = await client.patch(
            created.headers["Location"], json={"result": 6.0}, headers=admin
        )
        assert patched.status_code == 200
        topic, updated = await next_message(subscriber, lambda d: d.get("result") == 6.0)
    assert (topic, updated) == (entity_topic, patched.json())


async def test_a_change_goes_only_to_the_topics_someone_subscribed_to(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """The embedded broker knows every subscription: a reading goes to the one topic held,
    and, once no one listens, nowhere; an external broker gets every topic whatever is held."""
    stream_id = await make_datastream(client, admin)
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    embedded = hub.kind == "embedded"
    # on Mosquitto: the reading's 4 topics, and 2 narrowed by the declared `$select` filter
    everything = 6

    async def post(result: float) -> None:
        created = await client.post(f"/{topic}", json=reading(result), headers=admin)
        assert created.status_code == 201, created.text

    def counters() -> tuple[int, int]:
        status = hub.bridge.status()  # what GET /api/hub/ingest shows under "mqtt"
        return status["notifications"], status["unheard_changes"]

    async with hub.device() as subscriber:
        await subscriber.subscribe(topic, qos=1)
        # announced in commit order and counted before they go out: once the subscriber has
        # a reading, every change before it is counted
        for result in (4.5, 5.5):
            await post(result)
            announced_on, announced = await next_message(subscriber)
            assert (announced_on, announced["result"]) == (topic, result)
            if result == 4.5:
                sent, unheard = counters()
        assert counters() == (sent + (1 if embedded else everything), unheard)
        await subscriber.unsubscribe(topic)  # the broker drops the filter before its UNSUBACK
    sent, unheard = counters()
    await post(6.5)
    async with asyncio.timeout(TIMEOUT):
        while sum(counters()) == sent + unheard:
            await asyncio.sleep(0.02)
    assert counters() == ((sent, unheard + 1) if embedded else (sent + everything, unheard))


async def test_creations_are_audited_as_their_publisher(
    hub: Hub,
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    tokens: dict[str, str],
) -> None:
    tenant = bearer(tokens["tenant"])
    stream_id = await make_datastream(client, tenant)
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    async with (
        hub.device() as subscriber,
        hub.device("user-tenant", tokens["tenant"]) as device,
    ):
        await subscriber.subscribe(topic, qos=1)
        await publish(device, topic, reading(8.0))
        await next_message(subscriber)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(audit_log.c.user_name, audit_log.c.path).where(
                    audit_log.c.entity_type == "Observation"
                )
            )
        ).all()
    # the embedded broker knows the publisher; an external one does not (its ACLs decide)
    expected = "user-tenant" if hub.kind == "embedded" else "mqtt-ingest"
    assert [tuple(row) for row in rows] == [(expected, f"mqtt:{topic}")]


@embedded_only
async def test_a_tenant_cannot_publish_to_another_tenants_datastream(
    hub: Hub, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, bearer(tokens["tenant"]))
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    async with (
        hub.device() as subscriber,
        hub.device("user-tenant2", tokens["tenant2"]) as intruder,
        hub.device("user-tenant", tokens["tenant"]) as owner,
    ):
        await subscriber.subscribe(topic, qos=1)
        await publish(intruder, topic, reading(666.0))
        await asyncio.wait_for(hub.bridge.wait_processed(1), TIMEOUT)
        assert (hub.bridge.accepted, hub.bridge.refused) == (0, 1)
        await publish(owner, topic, reading(9.0))
        _, first = await next_message(subscriber, anything)
    assert first.get("result") == 9.0  # nothing of the intruder's reached the subscriber
    assert [o["result"] for o in await observations_of(client, stream_id)] == [9.0]


@embedded_only
async def test_embedded_broker_refuses_anonymous_and_unknown_logins(
    hub: Hub, tokens: dict[str, str]
) -> None:
    for username, password in [(None, None), ("user-tenant", None), ("user-tenant", "wrong")]:
        with pytest.raises(aiomqtt.MqttError):
            async with hub.device(username, password):
                pass
    with pytest.raises(aiomqtt.MqttError):  # another user's token
        async with hub.device("user-tenant2", tokens["tenant"]):
            pass
    async with hub.device("user-tenant", tokens["tenant"]):
        pass


@embedded_only
async def test_bridge_reconnects_and_announces_what_it_missed(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cityhelix.hub.mqtt.bridge")
    stream_id = await make_datastream(client, admin)
    # the test plays a client that takes over the hub's identity, which drops the hub's link
    assert isinstance(hub.bridge.link, EmbeddedLink)
    credentials = hub.bridge.link.broker.internal_credentials
    async with hub.device() as subscriber:
        await subscriber.subscribe(f"v1.1/Datastreams({stream_id})/Observations", qos=1)
        # amqtt can drop the taking-over client when the hub reconnects at the same moment
        # (its CONNACK never comes): one more try, the hub must still reconnect after it
        for attempt in range(2):
            intruder = aiomqtt.Client(
                hub.host,
                hub.port,
                username=credentials.username,
                password=credentials.password,
                identifier=hub.bridge.client_id,
                clean_session=False,  # amqtt takes a session over only when it is resumed
            )
            try:
                await intruder.__aenter__()
                break
            except aiomqtt.MqttError:
                if attempt == 1:
                    raise
        try:
            created = await client.post(
                f"/v1.1/Datastreams({stream_id})/Observations", json=reading(1.5), headers=admin
            )
        finally:
            await intruder.__aexit__(None, None, None)
        _, announced = await next_message(subscriber)
    assert announced == created.json()
    assert any(r.getMessage().startswith("reconnected to") for r in caplog.records)


async def test_no_mqtt_when_the_port_is_zero_and_no_url(
    backend: Backend, running_app: Any, engine: AsyncEngine
) -> None:
    settings = backend.settings.model_copy(update={"mqtt_port": 0, "mqtt_url": ""})
    assert await start_mqtt(settings, engine, running_app.state.bus) is None


async def test_busy_port_names_the_port_and_the_setting_to_change(backend: Backend) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = backend.settings.model_copy(update={"mqtt_port": port, "mqtt_url": ""})
        with pytest.raises(BrokerPortInUse, match=rf"127\.0\.0\.1:{port}.*CITYHELIX_MQTT_PORT"):
            await start_embedded_broker(settings, engine)
    await engine.dispose()


async def test_unreachable_external_broker_fails_the_start(
    backend: Backend, running_app: Any, engine: AsyncEngine
) -> None:
    settings = backend.settings.model_copy(
        update={"mqtt_url": f"mqtt://someone:secret@127.0.0.1:{free_port()}"}
    )
    with pytest.raises(MqttUnavailable, match="CITYHELIX_MQTT_URL") as raised:
        await start_mqtt(settings, engine, running_app.state.bus)
    assert "secret" not in str(raised.value)


async def test_stop_leaves_nothing_running(
    backend: Backend, running_app: Any, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    before = asyncio.all_tasks()

    def settings(port: int) -> Settings:
        return backend.settings.model_copy(update={"mqtt_port": port, "mqtt_url": ""})

    _, bridge = await on_a_free_port(
        lambda port: start_mqtt(settings(port), engine, running_app.state.bus)
    )
    assert bridge is not None
    await bridge.stop()
    assert {task for task in asyncio.all_tasks() - before if not task.done()} == set()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@embedded_only
async def test_batch_atomicity_group_writes_reach_mqtt_subscribers(
    hub: Hub, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    thing_id = (await client.get(f"/v1.1/Datastreams({stream_id})/Thing")).json()["@iot.id"]
    topic = f"v1.1/Datastreams({stream_id})/Observations"
    body = {
        "requests": [
            {
                "id": "o",
                "method": "post",
                "url": f"Datastreams({stream_id})/Observations",
                "body": reading(7.5),
                "atomicityGroup": "g",
            },
            {
                "id": "t",
                "method": "patch",
                "url": f"Things({thing_id})",
                "body": {"name": "Renamed in a group"},
                "atomicityGroup": "g",
            },
        ]
    }
    async with hub.device() as subscriber:
        await subscriber.subscribe(topic, qos=1)
        await subscriber.subscribe(f"v1.1/Things({thing_id})", qos=1)
        answer = await client.post("/v1.1/$batch", json=body, headers=admin)
        assert [r["status"] for r in answer.json()["responses"]] == [201, 200]

        # the setup's own creations may be announced after the subscription: not these
        def of_the_group(document: Document) -> bool:
            return is_announcement(document) and (
                document.get("name") == "Renamed in a group" or document.get("result") == 7.5
            )

        announced = dict(
            [
                await next_message(subscriber, of_the_group),
                await next_message(subscriber, of_the_group),
            ]
        )
    assert announced[topic]["result"] == 7.5
    assert announced[f"v1.1/Things({thing_id})"]["name"] == "Renamed in a group"


async def dead_letters_of(client: httpx.AsyncClient, count: int, **params: str) -> Document:
    """The dead-letter list once it holds `count` letters (they are written within a second)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            response = await client.get(
                "/api/hub/ingest/dead-letters", params=params, headers=bearer(ADMIN_TOKEN)
            )
            assert response.status_code == 200, response.text
            found: Document = response.json()
            if found["kept"] >= count:
                return found
            await asyncio.sleep(0.1)


async def test_refused_creations_are_kept_newest_first_up_to_the_cap(
    backend: Backend,
    running_app: Any,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    tokens: dict[str, str],
) -> None:
    group = f"cityhelix-test-{uuid.uuid4().hex[:12]}"
    async with mosquitto_hub(
        backend, running_app, engine, mqtt_dead_letters=3, mqtt_share_group=group
    ) as hub:
        stream_id = await make_datastream(client, bearer(ADMIN_TOKEN))
        async with hub.device() as device:
            for n in range(5):  # one at a time: kept in the order they came
                await publish(device, f"v1.1/Datastreams({900_000 + n})/Observations", reading(n))
                await asyncio.wait_for(hub.bridge.wait_processed(n + 1), TIMEOUT)
            big = {"result": 1.0, "parameters": {"padding": "x" * 10_000}, "resultTime": "no"}
            await publish(device, f"v1.1/Datastreams({stream_id})/Observations", big)
            await asyncio.wait_for(hub.bridge.wait_processed(6), TIMEOUT)
        letters = await dead_letters_of(client, 3)
        # the newest letter is written with the next flush: wait for it to be the first
        async with asyncio.timeout(TIMEOUT):
            while letters["value"][0]["topic"] != f"v1.1/Datastreams({stream_id})/Observations":
                await asyncio.sleep(0.1)
                letters = await dead_letters_of(client, 3)
        status = hub.bridge.status()
    assert letters["kept"] == 3 and status["dead_letters"]["cap"] == 3
    newest, *older = letters["value"]
    assert [letter["topic"] for letter in older] == [
        "v1.1/Datastreams(900004)/Observations",
        "v1.1/Datastreams(900003)/Observations",
    ]
    assert [letter["status"] for letter in older] == [404, 404]
    assert newest["status"] == 400 and "resultTime" in newest["reason"]
    assert newest["payload_truncated"] and len(newest["payload"]) == 4096
    assert newest["payload_bytes"] > 10_000
    assert status["refused"] == 6 and status["dead_letters"]["kept"] == 6


async def test_dead_letters_are_for_admins_and_operators_and_limit_is_checked(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    url = "/api/hub/ingest/dead-letters"
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers=bearer(tokens["analyst"]))).status_code == 403
    assert (await client.get(url, headers=bearer(tokens["tenant"]))).status_code == 403
    assert (await client.get(url, headers=bearer(tokens["operator"]))).status_code == 200
    for limit in ("0", "1001", "ten", "-1"):
        refused = await client.get(url, params={"limit": limit}, headers=bearer(ADMIN_TOKEN))
        assert refused.status_code == 400
        assert "limit" in refused.json()["detail"]
    empty = await client.get(url, params={"limit": "5"}, headers=bearer(ADMIN_TOKEN))
    assert empty.json() == {"kept": 0, "cap": 1000, "value": []}


async def test_a_clean_session_is_an_explicit_opt_in_that_the_status_shows(
    backend: Backend,
    running_app: Any,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="cityhelix.hub.mqtt.bridge")
    async with mosquitto_hub(backend, running_app, engine) as hub:  # SHARED_BROKER: clean
        status = hub.bridge.status()
    assert status["session"]["kind"] == "clean" and status["session"]["slot"] is None
    assert any("CITYHELIX_MQTT_CLEAN_SESSION" in r.getMessage() for r in caplog.records)
    assert status["share_group"] == f"cityhelix-{status['deployment'][:8]}"


async def test_the_embedded_broker_says_its_session_is_the_embedded_one(hub: Hub) -> None:
    status = hub.bridge.status()
    expected = "embedded" if hub.kind == "embedded" else "clean"
    assert status["session"]["kind"] == expected


async def test_processes_starting_together_each_lease_a_slot_of_their_own(
    engine: AsyncEngine,
) -> None:
    """Eight processes race for the lowest free slot: each gets one, none twice; a slot
    freed (a clean stop) or run out (a process killed) is the next one taken."""
    processes = [SlotLeases(engine, lease_seconds=60) for _ in range(8)]
    slots = await asyncio.gather(*(p.claim_lowest() for p in processes))
    assert sorted(slots) == list(range(8))
    await processes[slots.index(5)].release(5)
    assert await SlotLeases(engine, lease_seconds=60).claim_lowest() == 5
    short = SlotLeases(engine, lease_seconds=0)  # its lease has run out as soon as it is made
    assert await short.claim_lowest() == 8
    # a process still holding its first slot (not 5, which was given up and taken again)
    keeper, kept = next((p, s) for p, s in zip(processes, slots, strict=True) if s != 5)
    assert await keeper.free_slots() == [8]
    assert await keeper.claim(8)  # adopted
    assert await short.renew([8]) == [8]  # lost: another process holds it now
    assert await keeper.renew([kept, 8]) == []


async def test_a_hub_whose_slot_another_process_took_reconnects_under_a_new_one(
    backend: Backend, running_app: Any, engine: AsyncEngine, client: httpx.AsyncClient
) -> None:
    """Two connections with one id would take the session from each other: a hub that lost
    its lease (the database was out of reach for longer than a lease) leaves that id."""
    settings = {
        "mqtt_clean_session": False,
        "mqtt_session_expiry": 0,  # persistent, but nothing left on the shared broker
        "mqtt_slot_lease": 3,  # renewed every second
        "mqtt_share_group": f"cityhelix-test-{uuid.uuid4().hex[:12]}",
    }
    async with mosquitto_hub(backend, running_app, engine, **settings) as hub:
        before = hub.bridge.status()
        assert (before["session"]["kind"], before["session"]["slot"]) == ("persistent", 0)
        async with engine.begin() as connection:
            await connection.execute(
                update(mqtt_slots)
                .where(mqtt_slots.c.slot == 0)
                .values(
                    holder="another-process",
                    lease_expires_at=datetime.now(UTC) + timedelta(minutes=1),
                )
            )
        async with asyncio.timeout(TIMEOUT):
            while hub.bridge.status()["session"]["slot"] != 1:
                await asyncio.sleep(0.1)
        stream_id = await make_datastream(client, bearer(ADMIN_TOKEN))
        async with hub.device() as device:
            await publish(device, f"v1.1/Datastreams({stream_id})/Observations", reading(3.0))
            await asyncio.wait_for(hub.bridge.wait_processed(1), TIMEOUT)
        after = hub.bridge.status()
    assert before["client_id"].endswith("-0") and after["client_id"].endswith("-1")
    assert after["accepted"] == 1
    assert [o["result"] for o in await observations_of(client, stream_id)] == [3.0]
