"""Webhooks never reach this machine, its private network or a metadata service (server-side
request forgery): refused when subscribed, through the API, and again at delivery time on
the address actually connected to (a name that now resolves to loopback, as after DNS
rebinding), unless an operator lists the host. Both databases, a real receiver."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from cityhelix.ops.desk.webhook_targets import CheckedTransport
from cityhelix.ops.desk.webhooks import create_webhook
from tests.ops.desk_factories import incident
from tests.ops.test_webhooks import SECRET, Receiver, receiver

__all__ = ["receiver"]  # the fixture, shared with test_webhooks

pytestmark = pytest.mark.asyncio

REFUSED = (
    "http://localhost:8080/hook",  # a name that resolves to loopback (not in the allow-list)
    "http://127.0.0.2/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # loopback written as IPv6
    "http://169.254.169.254/latest/meta-data/",  # the cloud metadata service
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT, not public
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://no-such-host.invalid/hook",  # does not resolve
)


async def test_private_loopback_and_metadata_targets_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for url in REFUSED:
        answer = await client.post(
            "/api/ops/webhooks",
            json={"url": url, "events": ["ops.Incident.*"], "secret": SECRET},
            headers=admin,
        )
        assert answer.status_code == 400, (url, answer.text)
        assert answer.json()["detail"].startswith("url: "), answer.text
    assert (await client.get("/api/ops/webhooks", headers=admin)).json()["value"] == []
    public = await client.post(
        "/api/ops/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["*"], "secret": SECRET},
        headers=admin,
    )
    assert public.status_code == 201, public.text


async def test_a_target_that_now_resolves_to_loopback_is_refused_at_delivery(
    client: httpx.AsyncClient, admin: dict[str, str], receiver: Receiver, engine: object
) -> None:
    # a subscription whose name resolved to a public address when it was made, and resolves
    # to loopback now: stored through the desk's function, as the API stored it then
    port = receiver.url.split(":")[2].split("/")[0]
    rebound = f"http://localhost:{port}/hooks/cityhelix"
    async with engine.begin() as connection:  # type: ignore[attr-defined]
        hook = await create_webhook(
            connection, {"url": rebound, "events": ["ops.Incident.*"], "secret": SECRET}, "test"
        )
    await incident(client, admin)
    path = f"/api/ops/webhooks/{hook}/deliveries"

    async def tried_deliveries() -> list[Any]:
        listed = (await client.get(path, headers=admin)).json()["value"]
        return [d for d in listed if d["attempts"]]

    async with asyncio.timeout(30):  # the sender polls every 0.2 s in tests
        while not (tried := await tried_deliveries()):
            await asyncio.sleep(0.02)
    assert "refused" in tried[0]["last_error"] and "loopback" in tried[0]["last_error"]
    assert tried[0]["last_status"] is None
    assert receiver.received == []  # not a byte reached the receiver


async def test_the_sender_connects_to_a_listed_host_and_refuses_it_unlisted(
    receiver: Receiver,
) -> None:
    target = receiver.url.replace("127.0.0.1", "localhost")
    async with httpx.AsyncClient(transport=CheckedTransport([])) as refusing:
        with pytest.raises(httpx.ConnectError, match="loopback"):
            await refusing.post(target, content=b"{}")
    async with httpx.AsyncClient(transport=CheckedTransport(["LOCALHOST"])) as allowed:
        answer = await allowed.post(target, content=b"{}")
    assert answer.status_code == 401  # reached: the receiver found no valid signature
    assert len(receiver.received) == 1
