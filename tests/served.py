"""The tests' servers on free ports: `cityhelix serve` processes, Mosquitto, in-process apps.

A port chosen free may be taken before the server binds it (another xdist worker's server,
an outgoing connection's ephemeral port): `cityhelix serve` binds only after its start-up
(seconds of migrations). One way for all of them, so that a taken port means another start
on another port, never a failed test:

- a server in this process listens on a socket bound here first (`bound_socket`, passed
  to uvicorn as `sockets=`): there is no window at all;
- a server that binds by itself (a process, the embedded MQTT broker) is started through
  `on_free_ports` / `entered_on_free_port`, which start it again on other ports when it
  says its port was taken (`PortTaken`, `BrokerPortInUse`);
- a process is up when it says it listens on *its* port (not when something answers
  there: that may be whoever took the port).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

from cityhelix.events.broker import BrokerPortInUse

T = TypeVar("T")

#: starts tried when a port was taken before the server bound it
STARTS = 3
#: how a cityhelix process (uvicorn, the embedded broker) and Mosquitto say a port is taken
_TAKEN = ("address already in use", "the port is in use")
START_SECONDS = 60.0


class PortTaken(RuntimeError):
    """The server could not bind its port: another took it after it was chosen."""


#: what a start raises when its port was taken meanwhile
TAKEN = (PortTaken, BrokerPortInUse)


def free_port() -> int:
    """A port free now. Whoever binds it later may find it taken: start through
    `on_free_ports` or `entered_on_free_port`, or bind here with `bound_socket`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bound_socket() -> socket.socket:
    """A TCP socket bound to a free loopback port, for a server of this process (uvicorn's
    `serve(sockets=[...])`); until it listens, connections to it are refused."""
    bound = socket.socket()
    # no SO_REUSEADDR: the kernel may then hand the port to no other socket, listening or not
    bound.bind(("127.0.0.1", 0))
    return bound


def port_of(bound: socket.socket) -> int:
    return int(bound.getsockname()[1])


def says_port_taken(output: str) -> bool:
    lowered = output.lower()
    return any(message in lowered for message in _TAKEN)


def on_free_ports(start: Callable[..., T], ports: int = 1) -> T:
    """`start(*ports)` on `ports` free ports; on others while it raises one of `TAKEN`."""
    for attempt in range(STARTS):
        try:
            return start(*(free_port() for _ in range(ports)))
        except TAKEN:
            if attempt == STARTS - 1:
                raise
    raise AssertionError("unreachable")


async def on_a_free_port(start: Callable[[int], Awaitable[T]]) -> tuple[int, T]:
    """(port, `await start(port)`) on a free port; on another while it raises `TAKEN`."""
    for attempt in range(STARTS):
        port = free_port()
        try:
            return port, await start(port)
        except TAKEN:
            if attempt == STARTS - 1:
                raise
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def entered_on_free_port(
    enter: Callable[[int], AbstractAsyncContextManager[T]],
) -> AsyncIterator[tuple[int, T]]:
    """(port, what `enter(port)` gives) on a free port, e.g. an app's lifespan with its
    embedded broker there; entered again on another while entering raises `TAKEN`."""
    for attempt in range(STARTS):
        port = free_port()
        stack = contextlib.AsyncExitStack()
        try:
            value = await stack.enter_async_context(enter(port))
        except TAKEN:
            await stack.aclose()
            if attempt == STARTS - 1:
                raise
            continue
        async with stack:
            yield port, value
        return


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYHELIX_")}
    env.update({"CITYHELIX_DATABASE_URL": database_url, "CITYHELIX_MQTT_PORT": "0"}, **extra)
    return env


@dataclass
class ServedProcess:
    """A `cityhelix serve` process: its URL and port(s), its output file, how to stop it."""

    url: str
    port: int
    #: the embedded MQTT broker's port, 0 when MQTT is off (or the broker external)
    mqtt_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: no lifespan shutdown, nothing flushed."""
        self.process.kill()
        self.process.wait(timeout=10)


def start_served(
    database_url: str,
    log: Path,
    *,
    embedded_mqtt: bool = False,
    ready: str = "/v1.1",
    seconds: float = START_SECONDS,
    command: tuple[str, ...] = ("serve",),
    said: str | None = None,
    **env: str,
) -> ServedProcess:
    """`cityhelix serve` on a free port (and its embedded MQTT broker on another when
    `embedded_mqtt`), once it listens there and `ready` answers 200; output appended to
    `log` (a file: a full pipe would stall a busy server). Started again on other ports
    when one was taken meanwhile.

    Another `command` (`("demo", "--interval", "1")`) that does not log uvicorn's start is
    up once its output has `said` (which it must print only after it listens)."""

    def start(port: int, mqtt_port: int = 0) -> ServedProcess:
        extra = {**env, "CITYHELIX_MQTT_PORT": str(mqtt_port)} if embedded_mqtt else env
        offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "cityhelix", *command, "--port", str(port)],
                env=cli_env(database_url, **extra),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started = ServedProcess(f"http://127.0.0.1:{port}", port, mqtt_port, process, log)
        try:
            _wait_until_listening(started, offset, ready, said, seconds)
        except BaseException:
            started.stop()
            raise
        return started

    return on_free_ports(start, 2 if embedded_mqtt else 1)


def _wait_until_listening(
    served: ServedProcess, offset: int, ready: str, said: str | None, seconds: float
) -> None:
    """Until uvicorn says it runs on the process's own port and `ready` answers there (or
    the output has `said`)."""
    listening = f"Uvicorn running on {served.url}".encode()
    deadline = time.monotonic() + seconds
    while True:
        with served.log.open("rb") as output:
            output.seek(offset)
            output_now = output.read()
        text = output_now.decode(errors="replace")
        if served.process.poll() is not None:
            raise (PortTaken if says_port_taken(text) else RuntimeError)(
                f"cityhelix {served.process.args[3]} exited early:\n{text}"
            )
        if listening not in output_now and says_port_taken(text):
            # uvicorn binds after the app's start-up, then runs its shutdown before it
            # exits: a pillar's stop that hangs there (once in a full run) must not pass
            # for a start that never came; the caller stops it and starts on another port
            raise PortTaken(f"cityhelix {served.process.args[3]} found its port taken:\n{text}")
        if said is not None:
            if said.encode() in output_now:
                return
        elif listening in output_now:
            try:
                if httpx.get(f"{served.url}{ready}", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"cityhelix {served.process.args[3]} not up within {seconds:g} s")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL when the process has not ended within 30 s: a pillar's stop may
    hang past it (the web pillar's, after a large write) once its test is over."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@contextmanager
def serving(database_url: str, log: Path, **options: object) -> Iterator[ServedProcess]:
    """`start_served`'s process (same arguments), stopped on exit."""
    served = start_served(database_url, log, **options)  # type: ignore[arg-type]
    try:
        yield served
    finally:
        served.stop()


@contextmanager
def served(database_url: str, **env: str) -> Iterator[str]:
    """The base URL of a `cityhelix serve` process, stopped on exit."""
    with (
        tempfile.TemporaryDirectory(prefix="cityhelix-served-") as directory,
        serving(database_url, Path(directory) / "serve.log", **env) as process,
    ):
        yield process.url


def wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    """Until the served process at `url` answers, or it exits, or 60 s pass.

    For a process started elsewhere without its output (prefer `start_served`, which also
    knows the answer comes from this process and starts again when the port was taken)."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise (PortTaken if says_port_taken(output) else RuntimeError)(
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


def start_mosquitto(
    directory: Path, config: Callable[[int], list[str]], *, seconds: float = 30
) -> tuple[int, subprocess.Popen[bytes]]:
    """(port, process) of a Mosquitto on a free port, with the config lines `config(port)`
    and its log in `directory/mosquitto.log`; once it says it runs (its listener bound)."""
    log, errors = directory / "mosquitto.log", directory / "mosquitto.err"

    def start(port: int) -> tuple[int, subprocess.Popen[bytes]]:
        path = directory / "mosquitto.conf"
        path.write_text("\n".join([*config(port), f"log_dest file {log}", ""]))
        offset = log.stat().st_size if log.exists() else 0
        error_offset = errors.stat().st_size if errors.exists() else 0
        with errors.open("ab") as error_output:
            process = subprocess.Popen(
                ["mosquitto", "-c", str(path)], stdout=error_output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + seconds
        while True:
            said = log.read_bytes()[offset:].decode(errors="replace") if log.exists() else ""
            if process.poll() is not None:
                said += errors.read_bytes()[error_offset:].decode(errors="replace")
                raise (PortTaken if says_port_taken(said) else RuntimeError)(
                    f"mosquitto exited:\n{said}"
                )
            if " running" in said:
                return port, process
            if time.monotonic() > deadline:
                process.terminate()
                process.wait(timeout=10)
                raise RuntimeError(f"mosquitto did not start within {seconds:g} s:\n{said}")
            time.sleep(0.05)

    return on_free_ports(start)
