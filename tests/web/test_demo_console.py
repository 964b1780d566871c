"""`cityhelix demo` prints the console's URL and an operator's password that signs in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cityhelix.city import demo as city_demo
from cityhelix.city.lighting import demo as lighting_demo
from tests.hub.processes import wait_until
from tests.served import cli_env, free_port


@pytest.mark.slow
def test_demo_prints_a_console_url_and_an_operator_who_can_sign_in(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    env = cli_env(f"sqlite+aiosqlite:///{tmp_path}/demo.db", CITYHELIX_MQTT_PORT=str(mqtt_port))
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cityhelix", "demo", "--port", str(port)],
            env={**env, "COLUMNS": "200"},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:

        def printed() -> bool:
            assert process.poll() is None, log.read_text()
            return "sign in as:" in log.read_text()

        wait_until(printed, 240, "the demo to print how to sign in", every=0.5)
        text = log.read_text()
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
        process.terminate()
        process.wait(timeout=30)
