"""Street lighting in the demo province: lamps and cabinets on a few roads with dusk/dawn
schedules, and simulated lamps that take their Tasks over MQTT and report back.

Each simulated lamp answers a Task with a state reading of the level it was told, and
reports its power draw every tick. A few misbehave, so the operations centre has something
true to show: one lamp is dead (it never confirms and draws nothing), one burns by day,
one cabinet has gone silent. Everything goes through the public interfaces (HTTP, MQTT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import httpx
import orjson

from cityhelix.city.lighting.sun import sun_elevation
from cityhelix.settings import Settings

log = logging.getLogger(__name__)

#: (district, road, cabinet, lon, lat of the road's first lamp, lamps on it)
ROADS = (
    ("Thu Dau Mot", "Yersin", "TDM-01", 106.6519, 10.9804, 6),
    ("Thu Dau Mot", "Cach Mang Thang Tam", "TDM-02", 106.6560, 10.9745, 6),
    ("Di An", "Nguyen An Ninh", "DA-01", 106.7690, 10.9068, 6),
)
#: how many Things the lighting demo adds (each road's lamps and its cabinet)
THINGS = sum(count + 1 for *_, count in ROADS)
#: lamps that misbehave in the demo, by name
DEAD_LAMP = "Yersin 3"
DAY_BURNER = "Nguyen An Ninh 2"
SILENT_CABINET = "Cabinet DA-01"
TICK_SECONDS = 30.0


def _lamps() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for district, road, cabinet, lon, lat, count in ROADS:
        bodies.append(
            {
                "name": f"Cabinet {cabinet}",
                "kind": "cabinet",
                "lon": lon - 0.0004,
                "lat": lat,
                "district": district,
                "road": road,
                "cabinet": cabinet,
                "rated_watts": 100 * count,
            }
        )
        for index in range(1, count + 1):
            bodies.append(
                {
                    "name": f"{road} {index}",
                    "kind": "lamp",
                    "lon": lon + 0.0005 * index,
                    "lat": lat + 0.0002 * index,
                    "district": district,
                    "road": road,
                    "cabinet": cabinet,
                    "rated_watts": 100 if road != "Yersin" else 150,
                    "confirmation_seconds": 60,
                }
            )
    return bodies


SCHEDULES = (
    {
        "name": "Thu Dau Mot: dusk to dawn, dimmed after 23:00",
        "group": {"kind": "district", "value": "Thu Dau Mot"},
        "on_offset_minutes": -5,
        "off_offset_minutes": 5,
        "profile": [{"from": "23:00", "level": 60}, {"from": "04:30", "level": 100}],
        "exceptions": [
            {"date": "2027-02-16", "level": 100, "reason": "Lunar New Year's Eve (Tet)"},
            {"date": "2026-12-31", "level": 100, "reason": "New Year's Eve countdown"},
        ],
    },
    {
        "name": "Nguyen An Ninh: dusk to dawn, 50 % in the small hours",
        "group": {"kind": "road", "value": "Nguyen An Ninh"},
        "profile": [{"from": "00:00", "level": 50}, {"from": "05:00", "level": 80}],
        "exceptions": [{"date": "2026-09-02", "level": 100, "reason": "National Day"}],
    },
)


async def load_lighting(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Register the demo's lamps and schedules once (nothing when lamps exist); the lamps."""
    known: list[dict[str, Any]] = (await client.get("/api/city/lighting/lamps")).json()
    if any(lamp["capability_id"] for lamp in known):  # the province's own are not tasked
        return [lamp for lamp in known if lamp["capability_id"]]
    for body in _lamps():
        made = await client.post("/api/city/lighting/lamps", json=body)
        made.raise_for_status()
    for schedule in SCHEDULES:
        (await client.post("/api/city/lighting/schedules", json=schedule)).raise_for_status()
    lamps: list[dict[str, Any]] = (await client.get("/api/city/lighting/lamps")).json()
    return [lamp for lamp in lamps if lamp["capability_id"]]


def _broker(settings: Settings) -> tuple[str, int] | None:
    if settings.mqtt_url:
        rest = settings.mqtt_url.split("://", 1)[-1].split("@")[-1]
        host, _, port = rest.partition(":")
        return host, int(port or 1883)
    if settings.mqtt_port:
        return settings.mqtt_host, settings.mqtt_port
    return None


class LampSimulator:
    """The demo's lamps as devices: their levels, their answers, their power draw."""

    def __init__(self, lamps: list[dict[str, Any]], seed: int = 7) -> None:
        self.lamps = {lamp["capability_id"]: lamp for lamp in lamps if lamp["capability_id"]}
        self.levels = {lamp["thing_id"]: 0 for lamp in lamps}
        self.random = random.Random(seed)

    async def answer(self, mqtt: aiomqtt.Client, task: dict[str, Any], capability_id: int) -> None:
        lamp = self.lamps.get(capability_id)
        if lamp is None or lamp["name"] == DEAD_LAMP:
            return  # the dead lamp never confirms: its Task fails
        parameters = task.get("taskingParameters") or {}
        level = int(parameters.get("level", 100)) if parameters.get("on") else 0
        self.levels[lamp["thing_id"]] = level
        topic = f"v1.1/Datastreams({lamp['state_datastream_id']})/Observations"
        await mqtt.publish(topic, orjson.dumps({"result": level}), qos=1)

    def power(self, lamp: dict[str, Any], now: datetime) -> float | None:
        name = lamp["name"]
        if name == SILENT_CABINET:
            return None
        if lamp["kind"] == "cabinet":
            members = [
                self.levels[other["thing_id"]] * other["rated_watts"] / 100
                for other in self.lamps.values()
                if other["cabinet"] == lamp["cabinet"] and other["kind"] == "lamp"
            ]
            return float(round(sum(members) + 15, 1))  # the cabinet's own controller
        if name == DEAD_LAMP:
            return 0.0
        lon, lat = lamp["location"]["coordinates"]
        if name == DAY_BURNER and sun_elevation(lat, lon, now) > 0:
            return float(round(lamp["rated_watts"] * self.random.uniform(0.9, 1.0), 1))
        level = self.levels[lamp["thing_id"]]
        return float(round(lamp["rated_watts"] * level / 100 * self.random.uniform(0.95, 1.02), 1))

    async def run(self, mqtt: aiomqtt.Client, stop: asyncio.Event) -> None:
        for capability_id in self.lamps:  # each lamp listens to its own capability
            await mqtt.subscribe(f"v1.1/TaskingCapabilities({capability_id})/Tasks", qos=1)
        tasks = asyncio.create_task(self._tasks(mqtt))
        try:
            while not stop.is_set():
                now = datetime.now(UTC)
                for lamp in self.lamps.values():
                    watts = self.power(lamp, now)
                    if watts is None:
                        continue
                    topic = f"v1.1/Datastreams({lamp['power_datastream_id']})/Observations"
                    await mqtt.publish(topic, orjson.dumps({"result": watts}), qos=1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_SECONDS)
        finally:
            tasks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tasks

    async def _tasks(self, mqtt: aiomqtt.Client) -> None:
        async for message in mqtt.messages:
            topic = message.topic.value
            try:
                task = orjson.loads(message.payload)
                capability_id = int(topic.split("(")[1].split(")")[0])
            except (orjson.JSONDecodeError, IndexError, ValueError):
                continue
            if isinstance(task, dict) and "@iot.id" in task:  # the hub's announcement
                await self.answer(mqtt, task, capability_id)


def _report(task: asyncio.Task[None]) -> None:
    """Say why the simulated lamps stopped, when it was not the demo stopping them."""
    if not task.cancelled() and task.exception() is not None:
        log.error("street lighting demo stopped: %r", task.exception())


async def synchronise(client: httpx.AsyncClient, lamps: list[dict[str, Any]]) -> int:
    """Tell every lamp the state it should have now (on in the dark, off by day), as the
    control room does after a start: Tasks the lamps answer (and the dead one does not)."""
    now = datetime.now(UTC)
    sent = 0
    for lamp in lamps:
        lon, lat = lamp["location"]["coordinates"]
        dark = sun_elevation(lat, lon, now) < 0
        made = await client.post(
            f"/v1.1/TaskingCapabilities({lamp['capability_id']})/Tasks",
            json={"taskingParameters": {"on": dark, "level": 100 if dark else 0}},
        )
        sent += made.status_code == 201
    return sent


@contextlib.asynccontextmanager
async def simulated_lighting(
    client: httpx.AsyncClient, settings: Settings, token: str
) -> AsyncIterator[None]:
    """The demo's lamps loaded and simulated over MQTT while the context is open."""
    lamps = await load_lighting(client)
    broker = _broker(settings)
    if broker is None:
        log.info("street lighting demo: MQTT is off, lamps are not simulated")
        yield
        return
    stop = asyncio.Event()
    quiet = logging.getLogger("cityhelix.demo.lighting.mqtt")
    quiet.setLevel(logging.ERROR)
    async with aiomqtt.Client(
        broker[0], broker[1], username="lighting-demo", password=token, logger=quiet
    ) as mqtt:
        simulator = LampSimulator(lamps)
        running = asyncio.create_task(simulator.run(mqtt, stop))
        running.add_done_callback(_report)
        await asyncio.sleep(0.5)  # the lamps' subscription reaches the broker
        await synchronise(client, lamps)
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await running
