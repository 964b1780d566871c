"""`cityhelix demo` end to end: a real process serves the province and keeps it live."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from cityhelix.city import demo as city_demo
from cityhelix.city.lighting import demo as lighting_demo
from tests.served import start_served


@pytest.mark.slow
def test_demo_serves_the_province_and_simulates(tmp_path: Path) -> None:
    demo = start_served(
        f"sqlite+aiosqlite:///{tmp_path}/demo.db",
        tmp_path / "demo.log",
        embedded_mqtt=True,
        command=("demo", "--interval", "0.5"),
        # printed once it listens (and has loaded the province): a taken port is a restart
        said="sign in as:",
        seconds=240,
    )
    process, port = demo.process, demo.port
    base = f"http://127.0.0.1:{port}/v1.1"
    try:
        deadline = time.monotonic() + 240
        first: int | None = None
        while time.monotonic() < deadline:
            assert process.poll() is None, demo.output()
            try:
                things = httpx.get(f"{base}/Things", params={"$count": "true", "$top": "0"}).json()
                # the province's 43 Things and the city services' stations, all loaded
                if things.get("@iot.count") == 43 + city_demo.THINGS + lighting_demo.THINGS:
                    count = httpx.get(
                        f"{base}/Observations", params={"$count": "true", "$top": "0"}
                    ).json()["@iot.count"]
                    first = count if first is None else first
                    if count > first:  # the simulator's readings arrive
                        break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the demo did not load and simulate within 240 s")
        kinds = httpx.get(f"{base}/Things", params={"$top": "100"}).json()["value"]
        assert {t["properties"]["kind"] for t in kinds} >= {"streetlight", "air_quality"}
        assert first is not None and first >= 43 * 2 * 144 // 2
    finally:
        demo.stop()
