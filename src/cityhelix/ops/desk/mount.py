"""What this part of the operations centre serves: routers and background work (`ops/mount.py`
composes the parts; `ops/pillar.py` names their commands and tables)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from cityhelix.background import stop_tasks
from cityhelix.ops.desk import escalation, from_alerts, webhooks
from cityhelix.ops.desk.catalogue import load_catalogue
from cityhelix.ops.desk.consuming import consume_forever
from cityhelix.ops.desk.http import router as incidents_router
from cityhelix.ops.desk.open311.http import router as open311_router
from cityhelix.ops.desk.webhooks_http import router as webhooks_router

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI
    from sqlalchemy.ext.asyncio import AsyncEngine

    from cityhelix.events.stream import Change, EventStream
    from cityhelix.settings import Settings

ROUTERS: Sequence[APIRouter] = (incidents_router, webhooks_router, open311_router)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The escalation pass, the desk's consumer groups and the webhook sender, stopped
    with the app."""
    engine: AsyncEngine = app.state.engine
    stream: EventStream = app.state.stream
    catalogue = load_catalogue(settings.ops_catalogue)

    async def from_alert(change: Change) -> None:
        await from_alerts.open_incidents(engine, catalogue, change)

    async def to_webhooks(change: Change) -> None:
        await webhooks.enqueue(engine, change)

    tasks = [
        asyncio.create_task(
            escalation.escalate_forever(engine, catalogue, settings.ops_escalation_seconds),
            name="ops-desk-escalation",
        ),
        asyncio.create_task(
            consume_forever(
                stream,
                from_alerts.GROUP,
                from_alert,
                start="earliest",
                retry_seconds=settings.stream_poll_seconds,
            ),
            name=from_alerts.GROUP,
        ),
        asyncio.create_task(
            consume_forever(
                stream,
                webhooks.GROUP,
                to_webhooks,
                # a new group reads all that is kept: a subscription made as the group is
                # created sees events committed a moment before (only then-subscribed get them)
                start="earliest",
                retry_seconds=settings.stream_poll_seconds,
            ),
            name=webhooks.GROUP,
        ),
        asyncio.create_task(
            webhooks.deliver_forever(engine, settings), name="ops-webhook-deliveries"
        ),
    ]
    try:
        yield
    finally:
        await stop_tasks(tasks)
