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
from cityhelix.settings import Settings

if TYPE_CHECKING:
    # only its counters are read: the HTTP adapter does not import the MQTT adapter at run time
    from cityhelix.hub.mqtt import MqttBridge

router = APIRouter(tags=["Data hub ingest"], route_class=PlainRoute)

#: who watches the ingest: the operations centre, and analysts sizing the platform
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST})


def _mqtt_counters(bridge: MqttBridge | None) -> dict[str, Any] | None:
    if bridge is None:
        return None
    return {
        "broker": bridge.link.description,
        "client_id": bridge.client_id,
        "accepted": bridge.accepted,
        "refused": bridge.refused,
        "failed": bridge.failed,
        "own_notifications": bridge.link.own_notifications,
    }


async def _reader(request: Request) -> Response | None:
    """None when the caller may read the counters, else the error to answer."""
    principal = await request_principal(request, write=False)
    if principal == ANONYMOUS:
        raise NotAuthenticated("this request needs 'Authorization: Bearer <token>'")
    if principal.role not in READERS:
        return detail_response(
            403, f"the role {principal.role.value} may not read the ingest's counters"
        )
    return None


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
    refused = await _reader(request)
    if refused is not None:
        return refused
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
        "`mqtt` is null when MQTT is off; its `own_notifications` counts the hub's own "
        "notifications an external broker sent back through the shared subscription (none "
        "with `CITYHELIX_MQTT_SHARE_GROUP` empty). Readable by admin, operator and analyst."
    ),
)
async def ingest_status(request: Request) -> Response:
    refused = await _reader(request)
    if refused is not None:
        return refused
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
