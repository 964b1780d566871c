"""A served CityHelix for the operations-centre pages: its own Mosquitto (readings arrive
over real MQTT), rule evaluation on with a quick stream, an operator and a department clerk
who sign in with passwords, and small factories that write through the HTTP API.

No demo province: each test makes the few Things, rules and incidents it needs, so a city
starts in seconds.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.db.engine import create_engine
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.hub.processes import mosquitto
from tests.web.browser import OPERATOR, OPERATOR_PASSWORD, City, served_city

CLERK = "clerk-water"
CLERK_PASSWORD = "drain-cover-77"


def _png(width: int, height: int) -> bytes:
    """A real PNG (a dusk-blue gradient with a lamp-yellow disc), so the page can show it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # no filter
        for x in range(width):
            lit = (x - width * 0.7) ** 2 + (y - height * 0.35) ** 2 < (height * 0.18) ** 2
            rows += bytes((250, 200, 40) if lit else (20 + y, 40 + y, 90 + y // 2))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )


#: a photo of the broken lamp, as a citizen or crew would attach it
PNG = _png(160, 100)


async def _users(database_url: str) -> None:
    """The operator and the clerk, written through the auth service (the CLI's own door;
    a process per command would cost seconds each)."""
    engine = create_engine(Settings(database_url=database_url))
    try:
        await create_user(engine, OPERATOR, Role.OPERATOR)
        await set_password(engine, OPERATOR, OPERATOR_PASSWORD)
        await create_user(engine, CLERK, Role.DEPARTMENT, "water")
        await set_password(engine, CLERK, CLERK_PASSWORD)
    finally:
        await engine.dispose()


async def _add_users(city: City) -> None:
    await _users(city.database_url)  # `serve` migrated the database


@contextmanager
def served_ops_city(database_url: str, tmp: Path, *, with_mqtt: bool) -> Iterator[City]:
    """`cityhelix serve` on `database_url`, fed by a Mosquitto of its own when `with_mqtt`."""
    with ExitStack() as stack:
        extra = {
            "CITYHELIX_STREAM_POLL_SECONDS": "0.2",
            "CITYHELIX_OPS_ALERT_MIN_RERAISE_SECONDS": "0",
            "CITYHELIX_OPS_ATTACHMENTS_DIR": str(tmp / "attachments"),
        }
        mqtt_port = 0
        if with_mqtt:
            mqtt_port = stack.enter_context(mosquitto(tmp))
            extra["CITYHELIX_MQTT_URL"] = f"mqtt://127.0.0.1:{mqtt_port}"
        city = stack.enter_context(
            served_city(database_url, tmp / "serve.log", populate=_add_users, **extra)
        )
        # the readings' broker: the city's own Mosquitto (its embedded broker is off)
        yield City(city.url, database_url, mqtt_port)


def probe_thing(city: City, name: str, readings: list[tuple[datetime, float]]) -> tuple[int, int]:
    """A PM2.5 station with `readings` in its history: (Thing id, Datastream id)."""
    with city.client() as client:
        made = client.post(
            "/v1.1/Things",
            json={
                "name": name,
                "description": "a probe for the operations-centre pages",
                "properties": {"kind": "air_quality", "district": "Di An"},
                "Locations": [
                    {
                        "name": f"{name} site",
                        "description": "",
                        "encodingType": "application/geo+json",
                        "location": {"type": "Point", "coordinates": [106.769, 10.9068]},
                    }
                ],
                "Datastreams": [
                    {
                        "name": f"{name} PM2.5",
                        "description": "",
                        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                        "unitOfMeasurement": {
                            "name": "microgram per cubic metre",
                            "symbol": "µg/m³",
                            "definition": "http://qudt.org/vocab/unit/MicroGM-PER-M3",
                        },
                        "Sensor": {
                            "name": f"{name} sensor",
                            "description": "",
                            "encodingType": "text/html",
                            "metadata": "none",
                        },
                        "ObservedProperty": {
                            "name": "PM2.5",
                            "definition": "https://en.wikipedia.org/wiki/Particulates",
                            "description": "",
                        },
                        "Observations": [
                            {"phenomenonTime": moment.isoformat(), "result": value}
                            for moment, value in readings
                        ],
                    }
                ],
            },
        )
        assert made.status_code == 201, made.text
        thing_id = int(made.headers["Location"].rsplit("(", 1)[1].rstrip(")"))
        streams = client.get(f"/v1.1/Things({thing_id})/Datastreams").json()["value"]
    return thing_id, int(streams[0]["@iot.id"])


def quiet_day() -> list[tuple[datetime, float]]:
    """Hourly PM2.5 of the last day, above 50 only from 10 to 7 hours ago."""
    now = datetime.now(UTC)
    return [
        (now - timedelta(hours=hours), 62.0 if 7 <= hours <= 10 else 21.0)
        for hours in range(23, 0, -1)
    ]


def threshold_rule(city: City, datastream_id: int, name: str) -> dict[str, Any]:
    with city.client() as client:
        made = client.post(
            "/api/ops/rules",
            json={
                "name": name,
                "kind": "threshold",
                "datastream_ids": [datastream_id],
                "operator": "gt",
                "value": 50,
                "clear_value": 40,
                "for_seconds": 0,
                "severity": "critical",
            },
        )
        assert made.status_code == 201, made.text
        rule: dict[str, Any] = made.json()
    return rule


def new_incident(city: City, **fields: Any) -> dict[str, Any]:
    """An incident opened by the operations centre through the API."""
    body = {
        "category": "streetlight_out",
        "priority": "high",
        "title": "Three lights dark on Binh Duong Avenue",
        "description": "Reported by the night patrol",
        "location": {"type": "Point", "coordinates": [106.769, 10.9068]},
        **fields,
    }
    with city.client() as client:
        made = client.post("/api/ops/incidents", json=body)
        assert made.status_code == 201, made.text
        document: dict[str, Any] = made.json()
    return document


def read_incident(city: City, incident_id: int) -> dict[str, Any]:
    with city.client() as client:
        document: dict[str, Any] = client.get(f"/api/ops/incidents/{incident_id}").json()
    return document


def alerts_of(city: City, rule_id: int) -> list[dict[str, Any]]:
    with city.client() as client:
        value: list[dict[str, Any]] = client.get(
            "/api/ops/alerts", params={"rule_id": rule_id}
        ).json()["value"]
    return value


def publish(city: City, datastream_id: int, result: float) -> None:
    """One reading over MQTT through the city's Mosquitto, acknowledged (QoS 1)."""
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    publisher.username_pw_set("ops-pages-probe", ADMIN_TOKEN)
    publisher.connect("127.0.0.1", city.mqtt_port)
    publisher.loop_start()
    try:
        info = publisher.publish(
            f"v1.1/Datastreams({datastream_id})/Observations",
            json.dumps({"result": result}),
            qos=1,
        )
        info.wait_for_publish(timeout=30)  # acknowledged: a loaded machine may take seconds
    finally:
        publisher.loop_stop()
        publisher.disconnect()
