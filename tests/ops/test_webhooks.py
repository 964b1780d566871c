"""Webhooks against a real HTTP receiver (uvicorn in the test, on a socket of its own): signed
deliveries verified by the receiver, retries after failures, the dead-letter list and its
replay, stored deliveries; on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from cityhelix.ops.desk.webhooks import SIGNATURE_HEADER, verify
from tests.conftest import bearer
from tests.ops.conftest import serving_in_process
from tests.ops.desk_factories import incident

SECRET = "receiver-shared-secret-0123456789"


@dataclass
class Receiver:
    """An ASGI app that answers `failures` times 500, then 200, verifying each signature."""

    failures: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    url: str = ""

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
        signature = headers.get(SIGNATURE_HEADER.lower(), "")
        failing = self.failures > 0
        self.failures -= 1 if failing else 0
        status = 500 if failing else (200 if verify(SECRET, signature, body) else 401)
        async with self.arrived:
            self.received.append(
                {
                    "status": status,
                    "verified": verify(SECRET, signature, body),
                    "delivery": headers.get("x-cityhelix-delivery"),
                    "event": headers.get("x-cityhelix-event"),
                    "body": orjson.loads(body),
                }
            )
            self.arrived.notify_all()
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), timeout
            )
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    app = Receiver()
    async with serving_in_process(app) as url:
        app.url = f"{url}/hooks/cityhelix"
        yield app


async def subscribe(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, events: list[str]
) -> dict[str, Any]:
    answer = await client.post(
        "/api/ops/webhooks", json={"url": url, "events": events, "secret": SECRET}, headers=headers
    )
    assert answer.status_code == 201, answer.text
    document: dict[str, Any] = answer.json()
    return document


async def _delivery(
    client: httpx.AsyncClient, admin: dict[str, str], hook: int, status: str
) -> list[Any]:
    answer = await client.get(f"/api/ops/webhooks/{hook}/deliveries?status={status}", headers=admin)
    value: list[Any] = answer.json()["value"]
    return value


async def test_signed_delivery_is_retried_after_failures_and_verified_by_the_receiver(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver
) -> None:
    receiver.failures = 2
    hook = await subscribe(client, admin, receiver.url, ["ops.Incident.*"])
    assert "secret" not in hook
    created = await incident(client, admin, category="flooding")
    received = await receiver.wait_for(3)
    assert [r["status"] for r in received[:3]] == [500, 500, 200]
    assert all(r["verified"] for r in received)
    assert len({r["delivery"] for r in received[:3]}) == 1  # the same delivery, retried
    body = received[2]["body"]
    assert body["topic"] == "ops.Incident.create" and body["id"] == created["id"]
    assert body["payload"]["department_codes"] == ["water"]
    assert received[2]["event"] == "ops.Incident.create"
    # the stored delivery says so (once its outcome is recorded after the answer)
    async with asyncio.timeout(20):  # the outcome is written just after the receiver answered
        while not (delivered := await _delivery(client, admin, hook["id"], "delivered")):
            await asyncio.sleep(0.02)
    assert [(d["attempts"], d["last_status"]) for d in delivered] == [(3, 200)]


async def test_given_up_delivery_goes_to_dead_letters_and_replays(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver
) -> None:
    receiver.failures = 3  # as many as the attempts allowed in tests
    hook = await subscribe(client, admin, receiver.url, ["ops.Incident.create"])
    await incident(client, admin)
    await receiver.wait_for(3)

    async def dead_letters() -> list[Any]:
        answer = await client.get("/api/ops/webhooks/dead-letters", headers=admin)
        value: list[Any] = answer.json()["value"]
        return value

    async with asyncio.timeout(20):  # the outcome is written just after the receiver answered
        while not (dead := await dead_letters()):
            await asyncio.sleep(0.02)
    assert [(d["webhook_id"], d["attempts"], d["last_status"]) for d in dead] == [
        (hook["id"], 3, 500)
    ]
    assert await _delivery(client, admin, hook["id"], "pending") == []
    replayed = await client.post(
        f"/api/ops/webhooks/dead-letters/{dead[0]['id']}/replay", headers=admin
    )
    assert replayed.status_code == 200 and replayed.json()["status"] == "pending"
    received = await receiver.wait_for(4)
    assert received[3]["status"] == 200 and received[3]["verified"]
    again = await client.post(
        f"/api/ops/webhooks/dead-letters/{dead[0]['id']}/replay", headers=admin
    )
    assert again.status_code == 409


async def test_only_subscribed_topics_are_delivered(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver
) -> None:
    await subscribe(client, admin, receiver.url, ["ops.Incident.update"])
    created = await incident(client, admin)
    await client.patch(f"/api/ops/incidents/{created['id']}", json={"assignee": "a"}, headers=admin)
    received = await receiver.wait_for(1)
    assert [r["body"]["topic"] for r in received] == ["ops.Incident.update"]


async def test_bad_subscriptions_are_refused_naming_the_field_and_only_operators_manage_them(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    good = {"url": "https://93.184.215.14/hook", "events": ["ops.Incident.*"], "secret": SECRET}
    for body, named in (
        ({**good, "url": "ftp://example.org"}, "url"),
        ({**good, "url": "http://169.254.169.254/latest/meta-data/"}, "url"),
        ({**good, "events": []}, "events"),
        ({**good, "events": ["ops.Incident.*; drop"]}, "events"),
        ({**good, "secret": "short"}, "secret"),
        ({**good, "colour": "red"}, "colour"),
    ):
        answer = await client.post("/api/ops/webhooks", json=body, headers=admin)
        assert answer.status_code == 400 and named in answer.json()["detail"], answer.text
    assert (await client.get("/api/ops/webhooks", headers=admin)).json()["value"] == []
    clerk = bearer(tokens["department"])
    assert (await client.post("/api/ops/webhooks", json=good, headers=clerk)).status_code == 403
    made = await client.post("/api/ops/webhooks", json=good, headers=bearer(tokens["operator"]))
    assert made.status_code == 201
    gone = await client.delete(f"/api/ops/webhooks/{made.json()['id']}", headers=admin)
    assert gone.status_code == 204
    assert (
        await client.get(f"/api/ops/webhooks/{made.json()['id']}", headers=admin)
    ).status_code == 404
