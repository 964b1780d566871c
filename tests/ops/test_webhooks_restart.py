"""A webhook delivery that failed in one `cityhelix serve` process is delivered by the next
one after a restart: deliveries are stored, not held in memory (real processes, both
databases, a real receiver that is down at first)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from cityhelix.ops.desk.webhooks import SIGNATURE_HEADER, verify
from tests.conftest import ADMIN_TOKEN, POSTGRES_ADMIN_DSN, _run_outside_loop
from tests.served import bound_socket, port_of, served

SECRET = "restart-shared-secret-0123456789"
ENV = {
    "CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN,
    "CITYHELIX_OPS_WEBHOOK_POLL_SECONDS": "0.1",
    "CITYHELIX_OPS_WEBHOOK_BACKOFF_SECONDS": "1",
    "CITYHELIX_OPS_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]',
}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Receiver:
    """Records each delivery and whether its signature verifies."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(
            {
                "verified": verify(SECRET, headers.get(SIGNATURE_HEADER.lower(), ""), body),
                "delivery": headers.get("x-cityhelix-delivery"),
            }
        )
        self.arrived.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own: the session's app would otherwise send the delivery too."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
        return
    name = f"cityhelix_restart_{uuid.uuid4().hex[:8]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    host = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host}/{name}"
    finally:
        _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)  # polling another process's HTTP API: no event to wait on
    raise AssertionError(f"{what} within {timeout} s")


@pytest.mark.slow
def test_failed_delivery_is_sent_by_the_next_process_after_a_restart(fresh_database: str) -> None:
    # the receiver's port, bound now and listened on later: until then deliveries are
    # refused there, and no other server can take it meanwhile
    reserved = bound_socket()
    target = f"http://127.0.0.1:{port_of(reserved)}/hook"
    with served(fresh_database, **ENV) as base:
        hook = httpx.post(
            f"{base}/api/ops/webhooks",
            json={"url": target, "events": ["ops.Incident.*"], "secret": SECRET},
            headers=ADMIN,
        ).json()
        created = httpx.post(
            f"{base}/api/ops/incidents",
            json={"category": "flooding", "title": "Water on the road"},
            headers=ADMIN,
        )
        assert created.status_code == 201, created.text

        def failed() -> list[Any]:
            answer = httpx.get(f"{base}/api/ops/webhooks/{hook['id']}/deliveries", headers=ADMIN)
            return [d for d in answer.json()["value"] if d["attempts"] >= 1]

        [pending] = _until(failed, 30, "a failed attempt (receiver down)")
        assert pending["status"] == "pending" and "Connect" in (pending["last_error"] or "")

    receiver = Receiver()
    server = uvicorn.Server(uvicorn.Config(receiver, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [reserved]}, daemon=True)
    thread.start()
    try:
        with served(fresh_database, **ENV) as base:
            assert receiver.arrived.wait(30), "the restarted server did not deliver"
            assert receiver.received[0] == {"verified": True, "delivery": str(pending["id"])}

            def delivered() -> list[Any]:
                answer = httpx.get(
                    f"{base}/api/ops/webhooks/{hook['id']}/deliveries?status=delivered",
                    headers=ADMIN,
                )
                return list(answer.json()["value"])

            [done] = _until(delivered, 30, "the delivery recorded as delivered")
            assert done["attempts"] >= 2
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        reserved.close()
