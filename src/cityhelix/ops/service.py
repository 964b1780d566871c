"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.db.engine import read_connection
from cityhelix.events.stream import EventStream
from cityhelix.ops.alerting import actions, rules, store
from cityhelix.ops.alerting.evaluate import Reading
from cityhelix.ops.alerting.live import Match, RuleEvaluation
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.alerting.sse import event_stream
from cityhelix.ops.alerting.tables import ops_alerts, ops_rules
from cityhelix.ops.desk import incidents as desk
from cityhelix.ops.desk.attachments import read_attachment, store_attachment
from cityhelix.ops.desk.catalogue import Catalogue, Category, load_catalogue
from cityhelix.ops.desk.incidents import IncidentFilter as IncidentFilter
from cityhelix.ops.desk.kpis import Window, key_figures
from cityhelix.ops.desk.kpis import window_from as key_figures_window
from cityhelix.ops.desk.open311.filing import (
    FiledRequest,
    Media,
    PublicRequest,
    PublicStep,
    file_request,
    public_request,
)
from cityhelix.ops.desk.storage import AttachmentStore, store_for
from cityhelix.ops.desk.tables import incidents
from cityhelix.ops.errors import BadRequest as BadRequest  # raised by create_rule
from cityhelix.ops.errors import Conflict as Conflict
from cityhelix.ops.errors import Forbidden as Forbidden
from cityhelix.ops.errors import NotFound as NotFound
from cityhelix.ops.errors import OpsError as OpsError
from cityhelix.settings import Settings

#: codes the console's pages show (the parts' modules stay private to ops)
RULE_KINDS: tuple[str, ...] = rules.KINDS
RULE_OPERATORS: tuple[str, ...] = rules.OPERATORS
SEVERITIES: tuple[str, ...] = rules.SEVERITIES
INCIDENT_STATUSES: tuple[str, ...] = desk.STATUSES
INCIDENT_TRANSITIONS: dict[str, frozenset[str]] = desk.TRANSITIONS

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------


async def create_rule(engine: AsyncEngine, body: dict[str, Any], principal: Principal) -> int:
    """Create a rule from its API body (as `POST /api/ops/rules` takes it) for another pillar
    that derives rules from its domain data (a gauge's alert level, a QCVN limit); its id.

    `BadRequest` names the field; the write is audited and announced like the HTTP one.
    """
    rule = await actions.create_rule(_view(engine), principal, body)
    return int(rule["id"])


async def evaluate_reading(
    engine: AsyncEngine,
    settings: Settings,
    rule_id: int,
    *,
    datastream_id: int,
    thing_id: int | None,
    observation_id: int,
    time: datetime,
    value: float,
) -> int:
    """Evaluate rule `rule_id` on one number another pillar derived from a reading the
    live evaluator cannot read (a camera's category event as 1 or 0); how many alert
    changes it made. Idempotent per Observation id: a reading whose id is not newer than
    the last one evaluated for the rule and Datastream is skipped (a fault the next check
    finds again, a camera event delivered again)."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))
        ).one_or_none()
    if row is None:
        raise NotFound(f"rule_id: no rule {rule_id}", field="rule_id")
    evaluation = RuleEvaluation(engine, settings, HubView(engine))
    reading = Reading(observation_id, time, value)
    match = Match((store.rule_of(row),), datastream_id, thing_id, reading)
    return len(await evaluation.apply([match], once_per_id=True))


async def alerts_of_rules(engine: AsyncEngine, rule_ids: list[int]) -> list[dict[str, Any]]:
    """The alerts of the rules `rule_ids` as the API shows them, newest first (at most 10,000)."""
    if not rule_ids:
        return []
    query = (
        select(ops_alerts)
        .where(ops_alerts.c.rule_id.in_(rule_ids))
        .order_by(ops_alerts.c.id.desc())
        .limit(10_000)
    )
    async with engine.connect() as connection:
        return [store.alert_json(row) for row in await connection.execute(query)]


# --- desk: incidents, departments, Open311, KPIs, for the web's citizen pages and wall screen

__all__ = [
    "CITIZEN_SOURCE",
    "AttachmentStore",
    "BadRequest",
    "Catalogue",
    "Category",
    "CitizenInquiry",
    "FiledRequest",
    "Media",
    "NotFound",
    "OpsError",
    "PublicRequest",
    "PublicStep",
    "Window",
    "alerts_of_rules",
    "citizen_attachment_store",
    "citizen_inquiries",
    "create_rule",
    "evaluate_reading",
    "file_request",
    "key_figures",
    "key_figures_window",
    "load_catalogue",
    "public_request",
]


def citizen_attachment_store(settings: Settings) -> AttachmentStore:
    """Where a citizen's photo goes: the store the desk's own attachments use."""
    return store_for(settings)


# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------


@dataclass(frozen=True)
class CitizenInquiry:
    """A citizen's non-emergency request (Open311, hotline, app) and when staff answered."""

    id: int
    channel: str
    created_at: datetime
    acknowledged_at: datetime | None


#: the incidents' source that marks a citizen's inquiry (Open311 and the desk's own form)
CITIZEN_SOURCE = "citizen"


async def citizen_inquiries(
    engine: AsyncEngine, start: datetime, end: datetime
) -> list[CitizenInquiry]:
    """The citizens' inquiries created in [start, end), oldest first, with the moment each
    was first acknowledged (None while nobody has): the helix scorecard's response time."""
    statement = (
        select(incidents.c.id, incidents.c.channel, incidents.c.created_at,
               incidents.c.acknowledged_at)
        .where(
            incidents.c.source == CITIZEN_SOURCE,
            incidents.c.created_at >= start,
            incidents.c.created_at < end,
        )
        .order_by(incidents.c.created_at, incidents.c.id)
    )  # fmt: skip
    async with read_connection(engine) as connection:
        rows = (await connection.execute(statement)).all()
    return [
        CitizenInquiry(row.id, row.channel, row.created_at, row.acknowledged_at) for row in rows
    ]


# --- the console's pages: rules, alerts, incidents (web) ---------------------------------

#: who may write rules and acknowledge or resolve alerts (as on `/api/ops`)
_ALERTING_WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})


def may_change_rules(principal: Principal) -> bool:
    """Whether `principal` may write rules and acknowledge or resolve alerts."""
    return principal.role in _ALERTING_WRITERS


def _writer(principal: Principal) -> None:
    if not may_change_rules(principal):
        raise Forbidden(f"role {principal.role.value} may not do this here")


def _view(engine: AsyncEngine) -> HubView:
    return HubView(engine)


async def list_rules(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every rule as `GET /api/ops/rules` shows it, by id."""
    return await actions.list_rules(engine)


async def read_rule(engine: AsyncEngine, rule_id: int) -> dict[str, Any]:
    """One rule as `GET /api/ops/rules/{id}` shows it (NotFound otherwise)."""
    async with engine.connect() as connection:
        return actions.rule_json(await actions.rule_row(connection, rule_id))


async def check_rule(engine: AsyncEngine, body: object, rule_id: int = 0) -> None:
    """Check a rule body as POST (or, with `rule_id`, PATCH) would: BadRequest names the
    field; nothing is written."""
    if rule_id:
        body = await actions.merged_rule_body(engine, rule_id, body)
    await actions.checked_rule(_view(engine), body, rule_id)


async def create_rule_checked(
    engine: AsyncEngine, principal: Principal, body: object
) -> dict[str, Any]:
    """A new rule for a person (the console's editor): checked, stored, audited and
    announced as `POST /api/ops/rules` does, with the writer's role checked; the rule."""
    _writer(principal)
    return await actions.create_rule(_view(engine), principal, body)


async def update_rule(
    engine: AsyncEngine, principal: Principal, rule_id: int, body: object
) -> dict[str, Any]:
    """Change a rule as `PATCH /api/ops/rules/{id}` does."""
    _writer(principal)
    return await actions.update_rule(_view(engine), principal, rule_id, body)


async def preview_rule(
    engine: AsyncEngine, settings: Settings, body: object, hours: float = 24, rule_id: int = 0
) -> dict[str, Any]:
    """When a rule body would have fired and cleared over the last `hours`, as
    `POST /api/ops/rules/preview` answers (checked first; no side effect)."""
    if rule_id:
        body = await actions.merged_rule_body(engine, rule_id, body)
    view = _view(engine)
    rule = await actions.checked_rule(view, body, rule_id)
    return await actions.preview_rule(
        view, rule, hours, min_reraise_seconds=settings.ops_alert_min_reraise_seconds
    )


async def open_alerts(engine: AsyncEngine, limit: int = 500) -> list[dict[str, Any]]:
    """Active and acknowledged alerts, newest first, each with its rule's name."""
    query = (
        select(ops_alerts, ops_rules.c.name.label("rule_name"))
        .join(ops_rules, ops_rules.c.id == ops_alerts.c.rule_id)
        .where(ops_alerts.c.state.in_(store.OPEN_STATES))
        .order_by(ops_alerts.c.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [{**store.alert_json(row), "rule_name": row.rule_name} for row in rows]


async def acknowledge_alert(
    engine: AsyncEngine,
    stream: EventStream | None,
    principal: Principal,
    alert_id: int,
    comment: str | None,
) -> dict[str, Any]:
    """As `POST /api/ops/alerts/{id}/acknowledge`."""
    _writer(principal)
    comment = actions.checked_comment({"comment": comment})
    return await actions.change_alert(engine, stream, principal, alert_id, "acknowledged", comment)


async def resolve_alert(
    engine: AsyncEngine,
    stream: EventStream | None,
    principal: Principal,
    alert_id: int,
    comment: str | None,
) -> dict[str, Any]:
    """As `POST /api/ops/alerts/{id}/resolve`."""
    _writer(principal)
    comment = actions.checked_comment({"comment": comment})
    return await actions.change_alert(engine, stream, principal, alert_id, "resolved", comment)


async def alert_events(
    request: Request, kind: str | None, last_event_id: str | None
) -> StreamingResponse:
    """The live stream of `/api/ops/stream` for a caller the calling pillar has let in."""
    return await event_stream(request, kind, None, last_event_id)


def incident_catalogue(settings: Settings) -> Catalogue:
    """Departments, categories (SLA, SOP steps) and priorities of the configured catalogue."""
    return load_catalogue(settings.ops_catalogue)


async def list_incidents(
    engine: AsyncEngine, settings: Settings, principal: Principal, where: IncidentFilter
) -> list[dict[str, Any]]:
    """Incidents `principal` may see matching `where`, as `GET /api/ops/incidents`."""
    async with engine.connect() as connection:
        return await desk.list_incidents(connection, incident_catalogue(settings), principal, where)


async def read_incident(
    engine: AsyncEngine, settings: Settings, principal: Principal, incident_id: int
) -> dict[str, Any]:
    """One incident with checklist, timeline, attachments (Forbidden for another
    department's, NotFound)."""
    async with engine.connect() as connection:
        return await desk.read_incident(
            connection, incident_catalogue(settings), incident_id, principal
        )


async def update_incident(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    incident_id: int,
    body: dict[str, Any],
    path: str,
) -> None:
    """As `PATCH /api/ops/incidents/{id}` (status, assignee, ...), audited under `path`."""
    async with engine.begin() as connection:
        await desk.update_incident(
            connection, incident_catalogue(settings), incident_id, principal, body
        )
        await record_write(connection, principal, "PATCH", path, [("Incident", incident_id)])


async def comment_on_incident(
    engine: AsyncEngine, principal: Principal, incident_id: int, text: str, path: str
) -> None:
    """A comment on the incident's timeline, audited under `path`."""
    async with engine.begin() as connection:
        await desk.add_comment(connection, incident_id, principal, {"text": text})
        await record_write(connection, principal, "POST", path, [("Incident", incident_id)])


async def tick_incident_step(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    incident_id: int,
    step: int,
    path: str,
) -> None:
    """Mark SOP step `step` done (Conflict when it is already), audited under `path`."""
    async with engine.begin() as connection:
        await desk.tick_step(connection, incident_catalogue(settings), incident_id, step, principal)
        await record_write(connection, principal, "POST", path, [("Incident", incident_id)])


async def attach_to_incident(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    incident_id: int,
    filename: str,
    content: bytes,
    path: str,
) -> int:
    """Store an upload checked by content and size (415/413 name `file`) in the configured
    attachment store; its id. Nothing is kept when the row is not written."""
    async with engine.connect() as connection:
        await desk.check_access(connection, incident_id, principal)
    attachment_id, _, _, _ = await store_attachment(
        engine,
        store_for(settings),
        principal,
        incident_id,
        filename,
        content,
        max_bytes=settings.ops_attachment_max_bytes,
        path=path,
    )
    return attachment_id


async def incident_attachment(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    incident_id: int,
    attachment_id: int,
) -> tuple[str, str, bytes]:
    """(file name, media type, content) of an attachment `principal` may see."""
    row, content = await read_attachment(
        engine, store_for(settings), principal, incident_id, attachment_id
    )
    return row.filename, row.media_type, content
