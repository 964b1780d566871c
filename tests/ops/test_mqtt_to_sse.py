"""The whole way, as the issue draws it: a device publishes readings over real MQTT (the
app's embedded broker), the hub commits them, the rules evaluate them from the durable
stream, and the console's SSE stream shows the alert raised once, its repeat counted and
its clearing; on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

import aiomqtt
import orjson
import pytest
from fastapi import FastAPI

from tests.conftest import ADMIN_TOKEN, Backend
from tests.ops.conftest import client_of, ops_settings, uvicorn_served
from tests.ops.readings import alerts, new_datastream, new_rule, threshold
from tests.ops.test_sse import listening
from tests.served import entered_on_free_port


@pytest.fixture
async def mqtt_app(backend: Backend) -> AsyncIterator[tuple[FastAPI, str, int]]:
    """An app with its embedded MQTT broker on a free port, served by uvicorn."""

    def served_with_broker(port: int) -> AbstractAsyncContextManager[tuple[FastAPI, str]]:
        return uvicorn_served(ops_settings(backend, mqtt_port=port, mqtt_host="127.0.0.1"))

    async with entered_on_free_port(served_with_broker) as (broker, (app, url)):
        yield app, url, broker


async def test_mqtt_readings_raise_repeat_and_clear_one_alert_seen_on_sse(
    mqtt_app: tuple[FastAPI, str, int], admin: dict[str, str]
) -> None:
    app, url, broker = mqtt_app
    async with client_of(app) as client:
        ds = await new_datastream(client, admin)
        rule_id = await new_rule(client, admin, **threshold(ds))
        topic = f"v1.1/Datastreams({ds})/Observations"
        async with (
            listening(url, admin, kind="alert") as frames,
            aiomqtt.Client("127.0.0.1", broker, username="device", password=ADMIN_TOKEN) as mqtt,
        ):

            async def publish(value: float) -> None:
                body = {"phenomenonTime": datetime.now(UTC).isoformat(), "result": value}
                await mqtt.publish(topic, orjson.dumps(body), qos=1)

            await publish(60)
            raised = await frames.alert(rule_id=rule_id)
            await publish(70)
            repeat = await frames.alert(rule_id=rule_id)
            await publish(45)  # between the levels: hysteresis, nothing happens
            await publish(10)
            cleared = await frames.alert(rule_id=rule_id)
        assert (raised["event"], raised["data"]["action"]) == ("alert", "create")
        assert raised["data"]["value"] == 60 and raised["data"]["state"] == "active"
        assert (repeat["data"]["change"], repeat["data"]["count"]) == ("repeat", 2)
        assert (cleared["data"]["change"], cleared["data"]["state"]) == ("cleared", "cleared")
        [stored] = await alerts(client, admin, rule_id=rule_id)
        assert (stored["count"], stored["state"]) == (2, "cleared")
