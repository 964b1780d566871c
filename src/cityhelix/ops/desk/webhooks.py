"""Webhooks: subscriptions to event topics, deliveries stored per event (consumer group
"ops-webhooks" on the durable stream), sent signed, retried with exponential backoff, given up
into a dead-letter list that can be replayed. Stored, so they survive a restart; each is held
by one sender at a time (a lease taken by compare-and-set), so N processes may send.

Targets on loopback, link-local, private or metadata addresses are refused, when subscribed
and again at each connection (webhook_targets).

Signature: `X-CityHelix-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.db.engine import read_connection
from cityhelix.events.stream import Change
from cityhelix.ops.desk.tables import webhook_deliveries, webhooks
from cityhelix.ops.desk.webhook_targets import CheckedTransport
from cityhelix.ops.errors import BadRequest, Conflict, NotFound
from cityhelix.settings import Settings

GROUP = "ops-webhooks"
SIGNATURE_HEADER = "X-CityHelix-Signature"
MAX_BACKOFF_SECONDS = 3600.0
_PATTERN = re.compile(r"^[A-Za-z]+(\.[A-Za-z]+(\.[a-z]+)?)?(\.\*)?$|^\*$")
logger = logging.getLogger(__name__)
#: events of a change matched between two turns of the event loop (a few ms of work)
_EVENTS_PER_TURN = 1_000
#: deliveries stored by one statement (the driver binds each row on the event loop)
_ROWS_PER_INSERT = 1_000


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """What a receiver does: recompute the HMAC and compare in constant time; refuse a
    timestamp older than `tolerance` seconds (a replayed delivery)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts["v1"])


def matches(patterns: Sequence[str], topic: str) -> bool:
    for pattern in patterns:
        if pattern == "*" or pattern == topic:
            return True
        if pattern.endswith(".*") and topic.startswith(pattern[:-1]):
            return True
    return False


def subscription_from_body(body: Any) -> dict[str, Any]:
    """A subscription's checked fields: url (http/https), events (topic patterns), secret."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object with url, events and secret")
    unknown = set(body) - {"url", "events", "secret"}
    if unknown:
        name = sorted(unknown)[0]
        raise BadRequest(f"{name}: not a property of a webhook", name)
    url = body.get("url")
    if not isinstance(url, str) or len(url) > 2000 or not re.match(r"^https?://[^\s/]+", url):
        raise BadRequest("url: expected an http or https URL of at most 2000 characters", "url")
    events = body.get("events")
    if (
        not isinstance(events, list)
        or not 1 <= len(events) <= 50
        or not all(isinstance(e, str) and _PATTERN.match(e) for e in events)
    ):
        raise BadRequest(
            "events: expected 1 to 50 topics or patterns, "
            "e.g. 'ops.Incident.*', 'ops.Alert.create'",
            "events",
        )
    secret = body.get("secret")
    if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
        raise BadRequest("secret: expected a string of 16 to 200 characters", "secret")
    return {"url": url, "events": events, "secret": secret}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def webhook_json(row: Any) -> dict[str, Any]:
    """A subscription as the API shows it (never its secret)."""
    return {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "created_at": _iso(row.created_at),
        "created_by": row.created_by,
    }


def delivery_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "topic": row.topic,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": _iso(row.next_attempt_at),
        "last_status": row.last_status,
        "last_error": row.last_error,
        "created_at": _iso(row.created_at),
        "delivered_at": _iso(row.delivered_at),
        "body": orjson.loads(row.body),
    }


async def create_webhook(connection: AsyncConnection, fields: dict[str, Any], actor: str) -> int:
    result = await connection.execute(
        insert(webhooks)
        .returning(webhooks.c.id)
        .values(**fields, created_at=datetime.now(UTC), created_by=actor)
    )
    return int(result.scalar_one())


async def enqueue(engine: AsyncEngine, change: Change) -> None:
    """Store a delivery per event of `change` and subscription that wants it (once: a change
    read again adds nothing, by the unique event key)."""
    async with read_connection(engine) as connection:  # one round trip: after every commit
        subscriptions = list(await connection.execute(select(webhooks)))
    if not subscriptions:
        return
    wanted_by_topic = {
        topic: [s for s in subscriptions if matches(s.events, topic)]
        for topic in change.events.by_topic
    }
    if not any(wanted_by_topic.values()):
        return  # a bulk write's readings, and no subscription wants them
    now = datetime.now(UTC)
    rows = []
    for index, event in enumerate(change.events):
        if index and not index % _EVENTS_PER_TURN:
            await asyncio.sleep(0)  # a large write's change: let requests through
        wanted = wanted_by_topic[event.topic]
        if not wanted:
            continue
        body = orjson.dumps(
            {
                "topic": event.topic,
                "action": event.action,
                "entity_type": event.entity_type,
                "id": event.id,
                "payload": dict(event.payload),
                "committed_at": _iso(change.committed_at),
            }
        ).decode()
        for subscription in wanted:
            rows.append(
                {
                    "webhook_id": subscription.id,
                    "event_key": f"{change.position}/{index}"[:100],
                    "topic": event.topic[:100],
                    "body": body,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    if not rows:
        return
    try:
        async with engine.begin() as connection:
            # in slices: the driver binds each row's values on the event loop
            for first in range(0, len(rows), _ROWS_PER_INSERT):
                await connection.execute(
                    insert(webhook_deliveries), rows[first : first + _ROWS_PER_INSERT]
                )
    except IntegrityError:
        # read again after a crash: keep those stored, add the missing ones one by one
        for row in rows:
            try:
                async with engine.begin() as connection:
                    await connection.execute(insert(webhook_deliveries).values(row))
            except IntegrityError:
                continue


def backoff(settings: Settings, attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: base, 2 x base, 4 x base, ... at most an hour."""
    seconds = settings.ops_webhook_backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, MAX_BACKOFF_SECONDS))


async def _claim(engine: AsyncEngine, settings: Settings, limit: int = 20) -> list[Any]:
    """Due deliveries this sender now holds (compare-and-set on the lease)."""
    now = datetime.now(UTC)
    lease = now + timedelta(seconds=settings.ops_webhook_timeout_seconds * 2 + 5)
    async with engine.connect() as connection:
        due = list(
            await connection.execute(
                select(webhook_deliveries.c.id, webhook_deliveries.c.lease_until)
                .where(
                    webhook_deliveries.c.status == "pending",
                    webhook_deliveries.c.next_attempt_at <= now,
                    or_(
                        webhook_deliveries.c.lease_until.is_(None),
                        webhook_deliveries.c.lease_until < now,
                    ),
                )
                .order_by(webhook_deliveries.c.id)
                .limit(limit)
            )
        )
    held = []
    for row in due:
        async with engine.begin() as connection:
            condition = (
                webhook_deliveries.c.lease_until.is_(None)
                if row.lease_until is None
                else webhook_deliveries.c.lease_until == row.lease_until
            )
            taken = await connection.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == row.id, condition)
                .values(lease_until=lease)
            )
            if taken.rowcount == 1:
                held.append(row.id)
    if not held:
        return []
    async with engine.connect() as connection:
        return list(
            await connection.execute(
                select(webhook_deliveries, webhooks.c.url, webhooks.c.secret)
                .join(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
                .where(webhook_deliveries.c.id.in_(held))
                .order_by(webhook_deliveries.c.id)
            )
        )


async def _send(client: httpx.AsyncClient, row: Any) -> tuple[int | None, str | None]:
    body = row.body.encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(row.secret, int(time.time()), body),
        "X-CityHelix-Event": row.topic,
        "X-CityHelix-Delivery": str(row.id),
    }
    try:
        answer = await client.post(row.url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return None, f"{type(error).__name__}: {error}"[:500]
    if 200 <= answer.status_code < 300:
        return answer.status_code, None
    return answer.status_code, f"HTTP {answer.status_code}"


async def deliver_due(engine: AsyncEngine, settings: Settings, client: httpx.AsyncClient) -> int:
    """One pass: send what is due; record each outcome. The number sent successfully."""
    delivered = 0
    for row in await _claim(engine, settings):
        status, error = await _send(client, row)
        now = datetime.now(UTC)
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now}
            delivered += 1
        elif attempts >= settings.ops_webhook_max_attempts:
            values = {"status": "dead"}
        else:
            values = {"next_attempt_at": now + backoff(settings, attempts)}
        async with engine.begin() as connection:
            await connection.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == row.id)
                .values(
                    **values,
                    attempts=attempts,
                    last_status=status,
                    last_error=error,
                    lease_until=None,
                )
            )
    return delivered


async def deliver_forever(engine: AsyncEngine, settings: Settings) -> None:
    # every connection goes to an address checked at that moment (webhook_targets); no
    # redirects, no proxies from the environment: either would send us elsewhere unchecked
    async with httpx.AsyncClient(
        timeout=settings.ops_webhook_timeout_seconds,
        follow_redirects=False,
        trust_env=False,
        transport=CheckedTransport(settings.ops_webhook_allowed_hosts),
    ) as client:
        while True:
            try:
                await deliver_due(engine, settings, client)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("a webhook delivery pass failed; the next one tries again")
            await asyncio.sleep(settings.ops_webhook_poll_seconds)


async def replay(connection: AsyncConnection, delivery_id: int) -> None:
    """Send a dead letter again, from a fresh count of attempts."""
    row = (
        await connection.execute(
            select(webhook_deliveries.c.status).where(webhook_deliveries.c.id == delivery_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    if row.status != "dead":
        raise Conflict(f"delivery {delivery_id} is {row.status}, not a dead letter")
    await connection.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery_id)
        .values(status="pending", attempts=0, next_attempt_at=datetime.now(UTC), lease_until=None)
    )


async def delete_webhook(connection: AsyncConnection, webhook_id: int) -> None:
    await connection.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
    )
    result = await connection.execute(delete(webhooks).where(webhooks.c.id == webhook_id))
    if result.rowcount == 0:
        raise NotFound(f"no webhook {webhook_id}")
