"""The live event stream `GET /api/ops/stream`: the operations centre's alert and incident
events as Server-Sent Events, read from the durable stream's outbox, each with its
position as `id`, so a client that reconnects with `Last-Event-ID` misses nothing kept.

`kpi` events are a summary (active alerts by severity) sent on connecting and every
minute; they are not stored and carry no id.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent
from cityhelix.events.database import DatabaseStream
from cityhelix.events.outbox import Position
from cityhelix.openapi_errors import plain_errors
from cityhelix.ops.alerting.api import READERS, caller
from cityhelix.ops.alerting.tables import ops_alerts
from cityhelix.ops.errors import BadRequest
from cityhelix.ops.routes import OpsRoute
from cityhelix.settings import Settings

router = APIRouter(
    prefix="/api/ops",
    route_class=OpsRoute,
    tags=["operations centre"],
    responses=plain_errors(401, 403, 429),
)

KINDS = {"Alert": "alert", "Incident": "incident"}
ALL_KINDS = frozenset({"alert", "incident", "kpi"})
KPI_SECONDS = 60.0
_EVENT_ID = re.compile(r"^(-?\d{1,20}):(\d{1,20})(?:\.(\d{1,6}))?$")
#: outbox rows read per round (each may hold many events)
_ROWS = 100


def event_id(position: str, index: int) -> str:
    """`<xid>:<id>.<n>`: the change's stream position and the event's place in it."""
    return f"{position}.{index}"


def parse_event_id(text: str) -> tuple[Position, int]:
    match = _EVENT_ID.match(text.strip())
    if match is None:
        raise BadRequest(
            "Last-Event-ID: expected an id this stream sent, e.g. 812:5119.0",
            field="Last-Event-ID",
        )
    return Position(int(match[1]), int(match[2])), int(match[3] or 0)


def _kinds(text: str | None) -> frozenset[str]:
    if text is None:
        return ALL_KINDS
    kinds = frozenset(k.strip() for k in text.split(",") if k.strip())
    if not kinds or not kinds <= ALL_KINDS:
        raise BadRequest("kind: expected a list of alert, incident, kpi", field="kind")
    return kinds


def _frame(kind: str, data: dict[str, Any], identifier: str | None = None) -> bytes:
    head = f"id: {identifier}\n" if identifier is not None else ""
    return f"{head}event: {kind}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


def _wanted(event: EntityEvent, kinds: frozenset[str], district: str | None) -> str | None:
    if event.pillar != "ops":
        return None
    kind = KINDS.get(event.entity_type)
    if kind is None or kind not in kinds:
        return None
    if district is not None and event.payload.get("district") != district:
        return None
    return kind


async def _kpi(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(ops_alerts.c.severity, func.count())
            .where(ops_alerts.c.state.in_(("active", "acknowledged")))
            .group_by(ops_alerts.c.severity)
        )
        return {"open_alerts_by_severity": {severity: int(n) for severity, n in rows}}


async def _frames(
    request: Request,
    start: Position,
    resume: tuple[str, int] | None,
    kinds: frozenset[str],
    district: str | None,
) -> AsyncIterator[bytes]:
    engine: AsyncEngine = request.app.state.engine
    settings: Settings = request.app.state.settings
    stream = request.app.state.stream
    stopping: asyncio.Event = request.app.state.ops_stopping
    loop = asyncio.get_running_loop()
    position = start
    heartbeat = settings.ops_sse_heartbeat_seconds
    next_beat = loop.time() + heartbeat
    next_kpi = loop.time()
    yield b"retry: 2000\n\n"
    while not stopping.is_set():
        if "kpi" in kinds and loop.time() >= next_kpi:
            yield _frame("kpi", await _kpi(engine))
            next_kpi = loop.time() + KPI_SECONDS
        # a wake-up that comes while reading is kept, not slept through until the poll
        mark = stream.wake.mark() if isinstance(stream, DatabaseStream) else None
        async with engine.connect() as connection:
            changes = await outbox.read_after(connection, position, _ROWS)
        for change in changes:
            # the change of the client's last event: only its events after that one
            skip = resume[1] if resume is not None and change.position == resume[0] else -1
            for index, event in enumerate(change.events):
                if index <= skip:
                    continue
                kind = _wanted(event, kinds, district)
                if kind is not None:
                    data = {"action": event.action, "id": event.id, **event.payload}
                    yield _frame(kind, data, event_id(change.position, index))
            position = Position.parse(change.position)
        if changes:
            continue
        if loop.time() >= next_beat:
            yield b": heartbeat\n\n"
            next_beat = loop.time() + heartbeat
        wait = min(settings.stream_poll_seconds, max(next_beat - loop.time(), 0.01))
        if isinstance(stream, DatabaseStream):
            await stream.wake.wait(wait, mark)
        else:
            await asyncio.sleep(wait)  # NATS: the outbox is polled (no local wake-up)
        if await request.is_disconnected():
            return


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **plain_errors(400)},
)
async def live_stream(
    request: Request,
    kind: str | None = None,
    district: Annotated[str | None, Query(max_length=200)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    authorization: Annotated[str | None, Header(alias="Authorization")] = None,
) -> StreamingResponse:
    """Alert, incident and kpi events as they commit (text/event-stream)."""
    await caller(request, authorization, READERS)
    return await event_stream(request, kind, district, last_event_id)


async def event_stream(
    request: Request, kind: str | None, district: str | None, last_event_id: str | None
) -> StreamingResponse:
    """The stream for a caller already let in (the API's token, the console's session)."""
    kinds = _kinds(kind)
    if last_event_id:
        after, index = parse_event_id(last_event_id)
        # read the change of the last event again (from just before it), skipping its
        # events up to the one the client has
        start: Position = Position(after.xid, after.id - 1)
        resume: tuple[str, int] | None = (str(after), index)
    else:
        async with request.app.state.engine.connect() as connection:
            start, resume = await outbox.latest(connection), None
    return StreamingResponse(
        _frames(request, start, resume, kinds, district),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
