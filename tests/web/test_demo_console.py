"""`cityhelix demo` prints the console's URL and an operator's password that signs in."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from cityhelix.city import demo as city_demo
from cityhelix.city.lighting import demo as lighting_demo
from tests.hub.processes import wait_until
from tests.served import start_served


@pytest.mark.slow
def test_demo_prints_a_console_url_and_an_operator_who_can_sign_in(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    # the province takes minutes to load on a loaded machine: up once it says how to sign in
    demo = start_served(
        f"sqlite+aiosqlite:///{tmp_path}/demo.db",
        log,
        embedded_mqtt=True,
        command=("demo",),
        said="sign in as:",
        seconds=240,
        COLUMNS="200",
    )
    port = demo.port
    try:
        text = demo.output()
        assert f"http://127.0.0.1:{port}/console" in text
        found = re.search(r"sign in as:\s+(\S+) / (\S+)", text)
        assert found is not None, text
        name, password = found.groups()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            form = client.get("/login")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            signed = client.post(
                "/login",
                data={"csrf_token": token.group(1), "username": name, "password": password},
            )
            assert (signed.status_code, signed.headers["location"]) == (303, "/console")
            # the province's 43 Things and the city services' stations (the lamps come
            # while the demo starts its lighting simulation)
            expected = 43 + city_demo.THINGS + lighting_demo.THINGS
            wait_until(
                lambda: len(client.get("/console/things.json").json()["things"]) == expected,
                120,
                f"the console to show the demo's {expected} Things",
                every=1.0,
            )
    finally:
        demo.stop()
