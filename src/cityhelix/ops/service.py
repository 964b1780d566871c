"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.events.stream import EventStream
from cityhelix.ops.alerting import actions, store
from cityhelix.ops.alerting.evaluate import Reading
from cityhelix.ops.alerting.live import Match, RuleEvaluation
from cityhelix.ops.alerting.rules import KINDS as RULE_KINDS
from cityhelix.ops.alerting.rules import OPERATORS as RULE_OPERATORS
from cityhelix.ops.alerting.rules import SEVERITIES
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.alerting.sse import event_stream
from cityhelix.ops.alerting.tables import ops_alerts, ops_rules
from cityhelix.ops.desk import incidents as desk
from cityhelix.ops.desk.attachments import checked as checked_attachment
from cityhelix.ops.desk.catalogue import Catalogue, load_catalogue
from cityhelix.ops.desk.http import attachment_store
from cityhelix.ops.desk.incidents import STATUSES as INCIDENT_STATUSES
from cityhelix.ops.desk.incidents import TRANSITIONS as INCIDENT_TRANSITIONS
from cityhelix.ops.desk.incidents import IncidentFilter
from cityhelix.ops.errors import BadRequest, Conflict, Forbidden, NotFound, OpsError
from cityhelix.settings import Settings

__all__ = [
    "INCIDENT_STATUSES",
    "INCIDENT_TRANSITIONS",
    "RULE_KINDS",
    "RULE_OPERATORS",
    "SEVERITIES",
    "BadRequest",
    "Catalogue",
    "Conflict",
    "Forbidden",
    "IncidentFilter",
    "NotFound",
    "OpsError",
    "acknowledge_alert",
    "alert_events",
    "alerts_of_rules",
    "attach_to_incident",
    "check_rule",
    "comment_on_incident",
    "create_rule",
    "evaluate_reading",
    "incident_attachment",
    "incident_catalogue",
    "list_incidents",
    "list_rules",
    "may_change_rules",
    "open_alerts",
    "preview_rule",
    "read_incident",
    "read_rule",
    "resolve_alert",
    "tick_incident_step",
    "update_incident",
    "update_rule",
]

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------

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
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ops_rules).order_by(ops_rules.c.id))).all()
    return [actions.rule_json(row) for row in rows]


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


async def create_rule(engine: AsyncEngine, body: dict[str, Any], principal: Principal) -> int:
    """Create a rule from its API body (as `POST /api/ops/rules` takes it, checked the same
    way), for the console's editor and for another pillar that derives rules from its
    domain data (a gauge's alert level, a QCVN limit); its id.

    `BadRequest` names the field; the write is audited and announced like the HTTP one.
    The caller decides who may create rules (`may_change_rules` for people).
    """
    created = await actions.create_rule(_view(engine), principal, body)
    return int(created["id"])


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
    changes it made. Idempotent per Observation id, like live evaluation."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))
        ).one_or_none()
    if row is None:
        raise NotFound(f"rule_id: no rule {rule_id}", field="rule_id")
    evaluation = RuleEvaluation(engine, settings, HubView(engine))
    match = Match(store.rule_of(row), datastream_id, thing_id, Reading(observation_id, time, value))
    return len(await evaluation.apply([match]))


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


# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------


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
    media_type, sha256 = checked_attachment(content, settings.ops_attachment_max_bytes)
    name = (filename or "attachment")[-255:]
    files = attachment_store(settings)
    key = await files.put(content)
    try:
        async with engine.begin() as connection:
            await desk.check_access(connection, incident_id, principal)
            attachment_id = await desk.add_attachment_row(
                connection,
                incident_id,
                principal,
                filename=name,
                media_type=media_type,
                size=len(content),
                sha256=sha256,
                storage_key=key,
            )
            await record_write(connection, principal, "POST", path, [("Attachment", attachment_id)])
    except BaseException:
        await files.delete(key)
        raise
    return attachment_id


async def incident_attachment(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal,
    incident_id: int,
    attachment_id: int,
) -> tuple[str, str, bytes]:
    """(file name, media type, content) of an attachment `principal` may see."""
    async with engine.connect() as connection:
        await desk.check_access(connection, incident_id, principal)
        row = await desk.attachment_row(connection, incident_id, attachment_id)
    try:
        content = await attachment_store(settings).get(row.storage_key)
    except FileNotFoundError:
        raise NotFound(f"attachment {attachment_id}: its file is gone from storage") from None
    return row.filename, row.media_type, content
