"""The city services' live fixture: one app per backend for a module, with the operations
centre's rules evaluated live and the city's camera consumer running, its MQTT bridge on the
shared Mosquitto (a share group of its own), and a watcher of the durable stream."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiomqtt
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from cityhelix.hub.mqtt import MqttBridge, start_mqtt
from tests.conftest import ADMIN_TOKEN, Backend
from tests.ops.conftest import Watch, client_of, fresh_database, ops_settings

MOSQUITTO_URL = os.environ.get("CITYHELIX_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
HTTP_ROOT = "http://testserver"


@dataclass
class LiveCity:
    """The live app's HTTP client, its stream watcher and how a device reaches MQTT."""

    client: httpx.AsyncClient
    engine: AsyncEngine
    watch: Watch
    bridge: MqttBridge
    host: str
    port: int

    def device(self) -> aiomqtt.Client:
        return aiomqtt.Client(self.host, self.port, username="admin", password=ADMIN_TOKEN)


@pytest.fixture(scope="module")
async def live_city(backend: Backend) -> AsyncIterator[LiveCity]:
    """Started on emptied tables, so its consumers begin at the stream's true end; the
    module's tests share it (each builds Things of its own)."""
    settings = ops_settings(backend, mqtt_url=MOSQUITTO_URL, mqtt_clean_session=True)
    await fresh_database(settings)
    app = create_app(settings.model_copy(update={"mqtt_url": "", "mqtt_port": 0}), migrate=False)
    async with app.router.lifespan_context(app):
        bridge = await start_mqtt(
            settings,
            app.state.engine,
            app.state.bus,
            http_root=HTTP_ROOT,
            share_group=f"cityhelix-city-test-{uuid.uuid4().hex[:12]}",
        )
        assert bridge is not None
        parts = urlsplit(MOSQUITTO_URL)
        try:
            async with client_of(app) as client:
                yield LiveCity(
                    client,
                    app.state.engine,
                    Watch(app.state.stream),
                    bridge,
                    parts.hostname or "127.0.0.1",
                    parts.port or 1883,
                )
        finally:
            await bridge.stop()
