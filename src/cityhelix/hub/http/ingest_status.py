"""`GET /api/hub/ingest` and `/api/hub/stream`: the batched writer's counters, the MQTT
bridge's and the durable stream's (retention, each consumer's lag), for operators.

Back-pressure is invisible from outside until clients get 503s; this shows how full the queue
is and was, how many batches and readings were written, and what MQTT accepted or refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.auth.principal import ANONYMOUS, Role
from cityhelix.events.stream import EventStream
from cityhelix.hub.http.api import request_principal
from cityhelix.hub.http.responses import PlainRoute, detail_response, json_response
from cityhelix.hub.ingest import ObservationIngest
from cityhelix.hub.mqtt_state import read_dead_letters
from cityhelix.openapi_errors import plain_errors
from cityhelix.settings import Settings

if TYPE_CHECKING:
    # only its counters are read: the HTTP adapter does not import the MQTT adapter at run time
    from cityhelix.hub.mqtt import MqttBridge

router = APIRouter(
    tags=["Data hub ingest"], route_class=PlainRoute, responses=plain_errors(401, 403, 429)
)

#: who watches the ingest: the operations centre, and analysts sizing the platform
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST})
#: who reads refused messages (their bodies may carry any tenant's data)
DEAD_LETTER_READERS = frozenset({Role.ADMIN, Role.OPERATOR})
#: the most dead letters one request returns
MAX_DEAD_LETTERS = 1000


def _mqtt_counters(bridge: MqttBridge | None) -> dict[str, Any] | None:
    return None if bridge is None else bridge.status()


@router.get(
    "/api/hub/stream",
    summary="The durable stream of committed changes: retention and each consumer's lag",
    description=(
        "`backend` is `database` or `nats` (`CITYHELIX_STREAM_BACKEND`); `retention_hours` "
        "how long changes are kept; `kept_changes` and `oldest_kept_at` what is kept now. "
        "Per consumer group: its stored `position`, the changes (`lag_changes`: committed "
        "transactions) and events (`lag_events`) after it, when the oldest unread change "
        "committed, and which process reads for the group now (`owner`, null when none). "
        "Readable by admin, operator and analyst; see docs/events.md."
    ),
)
async def stream_status(request: Request) -> Response:
    if (refusal := await _refusal(request, READERS, "the stream's status")) is not None:
        return refusal
    stream: EventStream = request.app.state.stream
    return json_response((await stream.status()).as_json())


@router.get(
    "/api/hub/ingest",
    summary="The ingest's queue, batches and MQTT counters of this process",
    description=(
        "Counters since this process started (each `cityhelix serve` process has its own). "
        "`queued` readings wait for a batch now, `most_queued` is the peak; `overloaded` "
        "counts HTTP readings answered 503 because the queue was full; `fallbacks` counts "
        "batches the database refused and that were written again one reading at a time. "
        "`mqtt` is null when MQTT is off; it says which session runs (`session.kind`: "
        "persistent or clean, its `slot`), the deployment and its share group, other "
        "deployments seen on the broker, refused creations kept as dead letters, and the "
        "creations waiting (`waiting`, at most about `queue_bound`; `read_pauses` counts the "
        "times the hub stopped reading its socket to hold the broker back); "
        "`own_notifications` counts the hub's own notifications an external broker sent back "
        "through the shared subscription (none with `CITYHELIX_MQTT_SHARE_GROUP` empty); "
        "`notifications` counts those published, `unheard_changes` the committed changes "
        "announced to no one (the embedded broker had no subscription matching them). "
        "Readable by admin, operator and analyst."
    ),
)
async def ingest_status(request: Request) -> Response:
    if (refusal := await _refusal(request, READERS, "the ingest's counters")) is not None:
        return refusal
    ingest: ObservationIngest = request.app.state.ingest
    settings: Settings = request.app.state.settings
    return json_response(
        {
            "queued": ingest.queued,
            "most_queued": ingest.most_queued,
            "batches": ingest.batches,
            "readings": ingest.readings,
            "overloaded": ingest.overloaded,
            "fallbacks": ingest.fallbacks,
            "queue_size": settings.ingest_queue_size,
            "batch_size": settings.ingest_batch_size,
            "batch_ms": settings.ingest_batch_ms,
            "mqtt": _mqtt_counters(request.app.state.mqtt),
        }
    )


async def _refusal(request: Request, readers: frozenset[Role], what: str) -> Response | None:
    """The 401/403 answer for a caller who may not read `what`; None for one who may."""
    principal = await request_principal(request, write=False)
    if principal == ANONYMOUS:
        raise NotAuthenticated("this request needs 'Authorization: Bearer <token>'")
    if principal.role not in readers:
        return detail_response(403, f"the role {principal.role.value} may not read {what}")
    return None


@router.get(
    "/api/hub/ingest/dead-letters",
    summary="MQTT creations the hub refused, newest first",
    description=(
        "Kept in the database (at most `CITYHELIX_MQTT_DEAD_LETTERS` rows, the oldest "
        "dropped), by every process: `time` received, `topic`, `status` (what HTTP would have "
        "answered), `reason`, `publisher`, and the `payload` (its first 4 KiB as text; "
        "`payload_truncated` when longer). `limit` (1 to 1000, default 100) of them. "
        "Readable by admin and operator."
    ),
)
async def dead_letters(request: Request, limit: str = "100") -> Response:
    if (refusal := await _refusal(request, DEAD_LETTER_READERS, "dead letters")) is not None:
        return refusal
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_DEAD_LETTERS:
        return detail_response(
            400, f"limit must be a whole number from 1 to {MAX_DEAD_LETTERS}, got {limit!r}"
        )
    settings: Settings = request.app.state.settings
    kept, letters = await read_dead_letters(request.app.state.engine, int(limit))
    return json_response({"kept": kept, "cap": settings.mqtt_dead_letters, "value": letters})
