"""The tests' servers start again on another port when theirs was taken between choosing and
binding it (tests/served.py): `cityhelix serve`, its embedded MQTT broker, Mosquitto.

The race is made certain: the first port handed out is one a socket here listens on.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import served


@pytest.fixture
def taken_first(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[int]]]:
    """(a port taken by a listener here, the ports handed out): `free_port` hands out the
    taken one first when asked for the `n`-th port, n set by the test (1 unless told)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = int(holder.getsockname()[1])
        handed: list[int] = []
        real = served.free_port
        which = [1]

        def rigged() -> int:
            port = taken if len(handed) + 1 == which[0] else real()
            handed.append(port)
            return port

        monkeypatch.setattr(served, "free_port", rigged)
        yield taken, which


def test_a_served_process_whose_port_was_taken_starts_on_another(
    taken_first: tuple[int, list[int]], tmp_path: Path
) -> None:
    taken, _ = taken_first
    with served.serving(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path / "serve.log") as hub:
        assert hub.port != taken
        assert httpx.get(f"{hub.url}/v1.1", timeout=30).status_code == 200
        assert "address already in use" in hub.output()  # the first start, on the taken port


def test_a_served_process_whose_brokers_port_was_taken_starts_on_others(
    taken_first: tuple[int, list[int]], tmp_path: Path
) -> None:
    taken, which = taken_first
    which[0] = 2  # the embedded broker's port, chosen after the HTTP port
    log = tmp_path / "serve.log"
    with served.serving(f"sqlite+aiosqlite:///{tmp_path}/x.db", log, embedded_mqtt=True) as hub:
        assert taken not in (hub.port, hub.mqtt_port)
        with socket.create_connection(("127.0.0.1", hub.mqtt_port), timeout=30):
            pass  # its broker listens there
        assert "the port is in use" in hub.output()


def test_a_mosquitto_whose_port_was_taken_starts_on_another(
    taken_first: tuple[int, list[int]], tmp_path: Path
) -> None:
    taken, _ = taken_first
    port, process = served.start_mosquitto(
        tmp_path,
        lambda port: [
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence false",
            f"user {getpass.getuser()}",
        ],
    )
    try:
        assert port != taken
        assert "Address already in use" in (tmp_path / "mosquitto.log").read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_server_that_keeps_failing_on_taken_ports_fails_naming_the_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(served, "free_port", lambda: 1)

    def start(port: int) -> None:
        raise served.PortTaken(f"port {port} taken")

    with pytest.raises(served.PortTaken, match="port 1 taken"):
        served.on_free_ports(start)
