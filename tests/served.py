"""Run `cityhelix serve` as a real process on a free port, for clients that need a socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHELIX_")}
    env.update({"CITYHELIX_DATABASE_URL": database_url, "CITYHELIX_MQTT_PORT": "0"}, **extra)
    return env


#: starts tried when the port was taken before the server bound it
_STARTS = 3


@contextmanager
def served(database_url: str, **env: str) -> Iterator[str]:
    """The base URL of a `cityhelix serve` process, stopped on exit.

    uvicorn binds its port only after the app's start-up (seconds of migrations), and the
    free port picked before may be taken by then (another worker's server, an outgoing
    connection's ephemeral port): such a start is tried again on another port.
    """
    for attempt in range(_STARTS):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)],
            env=cli_env(database_url, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(process, f"http://127.0.0.1:{port}")
        except _PortTaken:
            if attempt == _STARTS - 1:
                raise
            continue
        except BaseException:
            process.terminate()
            process.wait(timeout=20)
            raise
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=20)
        return


class _PortTaken(RuntimeError):
    """The server exited because its port was taken meanwhile."""


def wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    """Until the served process at `url` answers, or it exits, or 60 s pass."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            taken = "address already in use" in output
            raise (_PortTaken if taken else RuntimeError)(
                f"cityhelix serve exited early:\n{output}"
            )
        try:
            if httpx.get(f"{url}/v1.1", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("cityhelix serve did not answer within 60 s")
        time.sleep(0.1)
