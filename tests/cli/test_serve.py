"""`cityhelix serve` as an operator meets it: a start-up that cannot work says how to fix it."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from tests.served import cli_env


def test_serve_with_the_embedded_brokers_port_taken_says_how_to_choose(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "cityhelix", "serve", "--port", "1"],
            env=cli_env(f"sqlite+aiosqlite:///{tmp_path}/ch.db", CITYHELIX_MQTT_PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert f"cannot listen on 127.0.0.1:{port}: the port is in use" in message
    for choice in (
        "CITYHELIX_MQTT_PORT=<a free port>",
        "CITYHELIX_MQTT_URL=",
        "CITYHELIX_MQTT_PORT=0",
    ):
        assert choice in message
