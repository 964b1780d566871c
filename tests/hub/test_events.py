"""Every committed write is announced, whatever path it came by, on both backends.

The live bus (what MQTT subscribers get) and the durable stream carry the same events;
`$batch` atomicity groups are announced once, at their commit, and a failed one not at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cityhelix.events.bus import EntityEvent, EventBus, Subscription
from cityhelix.events.stream import EventStream, StreamConsumer
from tests.hub.factories import full_thing, location, make_datastream, sensor, thing

pytestmark = pytest.mark.asyncio


def _created(response: dict[str, Any]) -> tuple[str, int]:
    set_name, _, rest = response["headers"]["location"].rsplit("/", 1)[-1].partition("(")
    return set_name, int(rest.rstrip(")"))


def _drain(subscription: Subscription) -> list[EntityEvent]:
    events: list[EntityEvent] = []
    while batch := subscription.take_nowait():
        events += batch
    return events


async def _stream_events(consumer: StreamConsumer) -> list[EntityEvent]:
    """What the group has now (a read that waits half a second for more ends it)."""
    events: list[EntityEvent] = []
    while changes := await consumer.read(timeout=0.5):
        events += [event for change in changes for event in change.events]
        await consumer.commit()
    return events


async def _stream_until(consumer: StreamConsumer, topic: str, entity_id: int) -> list[EntityEvent]:
    """The group's events up to and with (`topic`, `entity_id`): a change may be held back a
    while (an older transaction anywhere on the PostgreSQL cluster is still open)."""
    events: list[EntityEvent] = []
    async with asyncio.timeout(20):
        while (topic, entity_id) not in {(e.topic, e.id) for e in events}:
            changes = await consumer.read(timeout=20)
            events += [event for change in changes for event in change.events]
            await consumer.commit()
    return events


async def test_batch_atomicity_group_writes_reach_the_bus_and_the_durable_stream(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any
) -> None:
    bus: EventBus = running_app.state.bus
    stream: EventStream = running_app.state.stream
    stream_id = await make_datastream(client, admin)
    body = {
        "requests": [
            {
                "id": "t",
                "method": "post",
                "url": "Things",
                "body": thing("In a group", Locations=[location()]),
                "atomicityGroup": "g",
            },
            {
                "id": "o",
                "method": "post",
                "url": f"Datastreams({stream_id})/Observations",
                "body": {"phenomenonTime": "2026-11-03T10:00:00Z", "result": 42},
                "atomicityGroup": "g",
            },
            {
                "id": "p",
                "method": "patch",
                "url": "$t",
                "body": {"description": "patched in the group"},
                "atomicityGroup": "g",
            },
        ]
    }
    async with bus.subscribe() as live, stream.consumer("batch-test") as consumer:
        await _stream_events(consumer)
        answer = await client.post("/v1.1/$batch", json=body, headers=admin)
        assert answer.status_code == 200, answer.text
        responses = answer.json()["responses"]
        assert [r["status"] for r in responses] == [201, 201, 200]
        (_, thing_id), (_, observation_id) = _created(responses[0]), _created(responses[1])
        announced = _drain(live)
        durable = await _stream_until(consumer, "hub.Thing.update", thing_id)
    # changes committed before the batch (the stream factory's) may still arrive first when
    # another transaction on the cluster held them back at the drain: start at the group's
    start = next(
        i for i, e in enumerate(durable) if (e.topic, e.id) == ("hub.Thing.create", thing_id)
    )
    durable = durable[start:]
    for events in (announced, durable):
        topics = {(e.topic, e.id) for e in events}
        assert ("hub.Thing.create", thing_id) in topics
        assert ("hub.Thing.update", thing_id) in topics
        assert ("hub.Observation.create", observation_id) in topics
        (reading,) = [e for e in events if e.topic == "hub.Observation.create"]
        assert reading.payload["result"] == 42
        assert reading.payload["datastream_id"] == stream_id
    assert [(e.topic, e.id) for e in durable] == [(e.topic, e.id) for e in announced]


async def test_failed_atomicity_group_announces_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any
) -> None:
    bus: EventBus = running_app.state.bus
    stream: EventStream = running_app.state.stream
    body = {
        "requests": [
            {
                "id": "a",
                "method": "post",
                "url": "Things",
                "body": thing("A"),
                "atomicityGroup": "g",
            },
            {
                "id": "b",
                "method": "post",
                "url": "Things",
                "body": {"nom": 1},
                "atomicityGroup": "g",
            },
        ]
    }
    async with bus.subscribe() as live, stream.consumer("failed-batch") as consumer:
        await _stream_events(consumer)  # the group starts here
        # read up to a write of this test's: a change of an earlier test held back by an
        # open transaction elsewhere on the cluster comes before it, not after the batch
        start = await client.post("/v1.1/Sensors", json=sensor("start"), headers=admin)
        await _stream_until(consumer, "hub.Sensor.create", start.json()["@iot.id"])
        _drain(live)
        answer = await client.post("/v1.1/$batch", json=body, headers=admin)
        assert answer.status_code == 200
        assert {r["status"] for r in answer.json()["responses"]} == {400}
        assert _drain(live) == []
        # a write after it: the stream holds it and nothing before it
        marker = await client.post("/v1.1/Sensors", json=sensor("marker"), headers=admin)
        marker_id = marker.json()["@iot.id"]
        durable = await _stream_until(consumer, "hub.Sensor.create", marker_id)
        # (the app's background tasks may write their own events meanwhile)
        written = [(e.topic, e.id) for e in durable if e.entity_type in ("Thing", "Sensor")]
        assert written == [("hub.Sensor.create", marker_id)]


async def test_every_write_path_announces_its_changes_once(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any
) -> None:
    bus: EventBus = running_app.state.bus
    async with bus.subscribe() as live:
        created = await client.post("/v1.1/Things", json=full_thing("Deep", 2), headers=admin)
        thing_id = created.json()["@iot.id"]
        stream_id = (await client.get(f"/v1.1/Things({thing_id})/Datastreams")).json()["value"][0][
            "@iot.id"
        ]
        await client.patch(f"/v1.1/Things({thing_id})", json={"name": "Renamed"}, headers=admin)
        plain = await client.post(
            f"/v1.1/Datastreams({stream_id})/Observations", json={"result": 1.5}, headers=admin
        )
        array = await client.post(
            "/v1.1/CreateObservations",
            json=[
                {
                    "Datastream": {"@iot.id": stream_id},
                    "components": ["phenomenonTime", "result"],
                    "dataArray": [["2026-11-01T00:00:00Z", 1], ["2026-11-01T00:01:00Z", 2]],
                }
            ],
            headers=admin,
        )
        assert array.status_code == 201
        await client.delete(f"/v1.1/Things({thing_id})", headers=admin)
        events = _drain(live)
    topics = [e.topic for e in events]
    assert topics.count("hub.Observation.create") == 2 + 1 + 2
    assert topics.count("hub.Thing.create") == 1
    assert topics.count("hub.Thing.update") == 1
    assert ("hub.Thing.delete", thing_id) in {(e.topic, e.id) for e in events}
    renamed = next(e for e in events if e.topic == "hub.Thing.update")
    assert renamed.payload["name"] == "Renamed"
    plain_id = int(plain.headers["Location"].rsplit("(", 1)[1].rstrip(")"))
    (reading,) = [e for e in events if e.id == plain_id and e.entity_type == "Observation"]
    assert reading.payload["thing_id"] == thing_id
    assert reading.payload["result"] == 1.5
