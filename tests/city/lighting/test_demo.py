"""The demo's street lighting: lamps and schedules loaded once, and simulated lamps that
answer their Tasks over a real MQTT broker (the dead one does not)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cityhelix.city.lighting.demo import DEAD_LAMP, LampSimulator, load_lighting, synchronise
from tests.hub.test_mqtt import Hub, hub  # noqa: F401 - the fixture

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("hub", ["embedded"], indirect=True)
async def test_demo_lamps_load_once_and_answer_their_tasks_over_mqtt(
    hub: Hub,  # noqa: F811 - the fixture imported above
    client: httpx.AsyncClient,
    admin: dict[str, str],
) -> None:
    client.headers.update(admin)
    lamps = await load_lighting(client)
    assert len(lamps) == 21 and {lamp["kind"] for lamp in lamps} == {"lamp", "cabinet"}
    assert await load_lighting(client) == lamps  # a second start loads nothing again
    assert len((await client.get("/api/city/lighting/schedules")).json()) == 2
    stop = asyncio.Event()
    async with hub.device() as device:
        simulator = LampSimulator(lamps)
        running = asyncio.create_task(simulator.run(device, stop))
        # the lamps' subscriptions reach the broker before their Tasks are sent
        wanted = {f"v1.1/TaskingCapabilities({c})/Tasks" for c in simulator.lamps}
        async with asyncio.timeout(20):
            while not wanted <= set(hub.bridge.link.subscribed_filters()):
                await asyncio.sleep(0.05)
        assert await synchronise(client, lamps) == 21

        async def outcomes() -> dict[int, str]:
            listed: list[dict[str, Any]] = (await client.get("/api/city/lighting/tasks")).json()
            return {outcome["thing_id"]: outcome["status"] for outcome in listed}

        async with asyncio.timeout(20):
            while list((await outcomes()).values()).count("confirmed") < 20:
                await asyncio.sleep(0.3)
        stop.set()
        await running
    by_name = {lamp["thing_id"]: lamp["name"] for lamp in lamps}
    pending = [by_name[t] for t, status in (await outcomes()).items() if status != "confirmed"]
    assert pending == [DEAD_LAMP]
