"""HTTP for rules and alerts under `/api/ops`: translates requests to the store and back.

Writes need an admin or operator, are audited and announce themselves on the outbox
(ops.Rule.* so every process's evaluator reloads its rules in stream order).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import principal_from_header
from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.events.bus import EntityEvent
from cityhelix.hub import service as hub_service
from cityhelix.ops.alerting import history, store
from cityhelix.ops.alerting.evaluate import State
from cityhelix.ops.alerting.live import wake_readers
from cityhelix.ops.alerting.preview import preview
from cityhelix.ops.alerting.rules import MAX_SCOPE_IDS, Rule, parse_rule, rule_body
from cityhelix.ops.alerting.scope import HubView, read_document
from cityhelix.ops.alerting.tables import ops_alert_steps, ops_alerts, ops_rule_states, ops_rules
from cityhelix.ops.errors import BadRequest, Conflict, Forbidden, NotFound
from cityhelix.ops.routes import OpsRoute
from cityhelix.settings import Settings

router = APIRouter(prefix="/api/ops", route_class=OpsRoute, tags=["operations centre"])

WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})
READERS = frozenset({Role.ADMIN, Role.OPERATOR, Role.ANALYST, Role.DEPARTMENT})
MAX_COMMENT = 2000
MAX_PREVIEW_HOURS = 24 * 31


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def _view(request: Request) -> HubView:
    view: HubView | None = getattr(request.app.state, "ops_hub_view", None)
    if view is None:
        view = request.app.state.ops_hub_view = HubView(_engine(request))
    return view


async def caller(request: Request, header: str | None, roles: frozenset[Role]) -> Principal:
    settings: Settings = request.app.state.settings
    principal = await principal_from_header(_engine(request), settings, header, write=True)
    if principal.role not in roles:
        raise Forbidden(f"role {principal.role.value} may not do this here")
    return principal


Auth = Annotated[str | None, Header(alias="Authorization")]


async def _checked(request: Request, body: object, rule_id: int = 0) -> Rule:
    """The rule in `body`, checked against the hub and the other rules (400 names the field)."""
    rule = parse_rule(body, rule_id)
    view = _view(request)
    scope = rule.scope
    for datastream_id in scope.datastream_ids:
        if await view.datastream(datastream_id) is None:
            raise BadRequest(
                f"datastream_ids: no Datastream {datastream_id}", field="datastream_ids"
            )
    if scope.observed_property_id is not None:
        try:
            await read_document(
                view.engine, f"/ObservedProperties({scope.observed_property_id})", {"$select": "id"}
            )
        except hub_service.HubError:
            raise BadRequest(
                f"observed_property_id: no ObservedProperty {scope.observed_property_id}",
                field="observed_property_id",
            ) from None
    if rule.kind == "composite":
        async with _engine(request).connect() as connection:
            others = {r.id: r for r in await store.load_rules(connection)}
        for child in rule.rule_ids:
            if child not in others:
                raise BadRequest(f"rule_ids: no rule {child}", field="rule_ids")
        if rule_id and _reaches(others, rule.rule_ids, rule_id):
            raise BadRequest(
                "rule_ids: the composite would refer to itself through its rules",
                field="rule_ids",
            )
    return rule


def _reaches(rules: dict[int, Rule], start: tuple[int, ...], target: int) -> bool:
    seen: set[int] = set()
    todo = list(start)
    while todo:
        current = todo.pop()
        if current == target:
            return True
        if current in seen or current not in rules:
            continue
        seen.add(current)
        todo.extend(rules[current].rule_ids)
    return False


def _rule_json(row: Any) -> dict[str, Any]:
    rule = store.rule_of(row)
    return {
        "id": row.id,
        **rule_body(rule),
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": row.updated_at.isoformat().replace("+00:00", "Z"),
        "created_by": row.created_by,
    }


def _rule_event(action: str, rule_id: int, name: str) -> EntityEvent:
    return EntityEvent(action, "Rule", rule_id, {"name": name}, "ops")


@router.post("/rules", status_code=201)
async def create_rule(
    request: Request, body: Annotated[Any, Body()], authorization: Auth = None
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    rule = await _checked(request, body)
    now = datetime.now(UTC)
    body_stored = rule_body(rule)
    started = await _history_states(request, rule, now)
    async with _engine(request).begin() as connection:
        rule_id = (
            await connection.execute(
                insert(ops_rules)
                .values(
                    name=rule.name,
                    kind=rule.kind,
                    definition=body_stored,
                    enabled=int(rule.enabled),
                    created_at=now,
                    updated_at=now,
                    created_by=principal.name,
                )
                .returning(ops_rules.c.id)
            )
        ).scalar_one()
        await record_write(connection, principal, "POST", "/api/ops/rules", [("Rule", rule_id)])
        for datastream_id, state in started.items():
            await store.save_state(
                connection, (rule_id, datastream_id), store.Keyed(state, None, None)
            )
        await store.append_events(connection, [_rule_event("create", rule_id, rule.name)])
        row = (await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))).one()
    return _rule_json(row)


async def _history_states(request: Request, rule: Rule, moment: datetime) -> dict[int, State]:
    """A new anomaly rule's window on each Datastream it covers, from the stored history
    before `moment`: with it the rule judges the next reading at once."""
    if not history.needs_history(rule):
        return {}
    view = _view(request)
    states: dict[int, State] = {}
    for datastream_id in (await view.datastreams_of(rule))[:MAX_SCOPE_IDS]:
        state = await history.state_before(view.engine, rule, datastream_id, moment, replay=False)
        if state.window:
            states[datastream_id] = state
    return states


@router.get("/rules")
async def list_rules(request: Request, authorization: Auth = None) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        rows = (await connection.execute(select(ops_rules).order_by(ops_rules.c.id))).all()
    return {"value": [_rule_json(row) for row in rows]}


@router.post("/rules/preview")
async def preview_body(
    request: Request,
    body: Annotated[Any, Body()],
    hours: Annotated[float, Query(gt=0, le=MAX_PREVIEW_HOURS)] = 24,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    rule = await _checked(request, body)
    return await _preview(request, rule, hours)


async def _preview(request: Request, rule: Rule, hours: float) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    end = datetime.now(UTC)
    rules: dict[int, Rule] = {}
    if rule.kind == "composite":
        async with _engine(request).connect() as connection:
            rules = {r.id: r for r in await store.load_rules(connection)}
    result = await preview(
        _view(request),
        rule,
        end - timedelta(hours=hours),
        end,
        min_reraise_seconds=settings.ops_alert_min_reraise_seconds,
        rules=rules,
    )
    return {"rule_id": rule.id or None, **result}


async def _rule_row(connection: Any, rule_id: int) -> Any:
    row = (
        await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no rule {rule_id}", field="id")
    return row


@router.post("/rules/{rule_id}/preview")
async def preview_rule(
    request: Request,
    rule_id: int,
    hours: Annotated[float, Query(gt=0, le=MAX_PREVIEW_HOURS)] = 24,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        rule = store.rule_of(await _rule_row(connection, rule_id))
    return await _preview(request, rule, hours)


@router.get("/rules/{rule_id}")
async def get_rule(request: Request, rule_id: int, authorization: Auth = None) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        return _rule_json(await _rule_row(connection, rule_id))


@router.patch("/rules/{rule_id}")
async def patch_rule(
    request: Request, rule_id: int, body: Annotated[Any, Body()], authorization: Auth = None
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object of the members to change", field="body")
    async with _engine(request).connect() as connection:
        current = await _rule_row(connection, rule_id)
    if "kind" in body and body["kind"] != current.kind:
        raise BadRequest("kind: cannot change; create a new rule", field="kind")
    merged = {**current.definition, "enabled": bool(current.enabled), **body}
    # a new scope replaces the old one
    scopes = ("datastream_ids", "observed_property_id", "district", "polygon")
    if any(name in body for name in scopes):
        merged = {k: v for k, v in merged.items() if k not in scopes or k in body}
    rule = await _checked(request, merged, rule_id)
    now = datetime.now(UTC)
    started = await _history_states(request, rule, now)
    async with _engine(request).begin() as connection:
        # Datastreams new to an anomaly rule's scope start from their history too; those it
        # watched already keep the window they have
        if started:
            known = await store.load_states(connection, ((rule_id, d) for d in started))
            for (_, datastream_id), keyed in known.items():
                if keyed.version is None:
                    keyed.state = started[datastream_id]
                    await store.save_state(connection, (rule_id, datastream_id), keyed)
        await connection.execute(
            update(ops_rules)
            .where(ops_rules.c.id == rule_id)
            .values(
                name=rule.name,
                definition=rule_body(rule),
                enabled=int(rule.enabled),
                updated_at=now,
            )
        )
        await record_write(
            connection, principal, "PATCH", f"/api/ops/rules/{rule_id}", [("Rule", rule_id)]
        )
        await store.append_events(connection, [_rule_event("update", rule_id, rule.name)])
        row = await _rule_row(connection, rule_id)
    return _rule_json(row)


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(request: Request, rule_id: int, authorization: Auth = None) -> Response:
    principal = await caller(request, authorization, WRITERS)
    async with _engine(request).begin() as connection:
        row = await _rule_row(connection, rule_id)
        for other in await store.load_rules(connection):
            if rule_id in other.rule_ids:
                raise Conflict(
                    f"rule {other.id} ({other.name}) combines this rule: change it first",
                    field="id",
                )
        await store.delete_rule(connection, rule_id)
        await record_write(
            connection, principal, "DELETE", f"/api/ops/rules/{rule_id}", [("Rule", rule_id)]
        )
        await store.append_events(connection, [_rule_event("delete", rule_id, row.name)])
    return Response(status_code=204)


# --- alerts ---------------------------------------------------------------------------


@router.get("/alerts")
async def list_alerts(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(active|acknowledged|cleared|resolved)$")] = None,
    rule_id: int | None = None,
    datastream_id: int | None = None,
    severity: Annotated[str | None, Query(pattern="^(info|warning|critical)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    authorization: Auth = None,
) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    query = select(ops_alerts).order_by(ops_alerts.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(ops_alerts.c.state == state)
    if rule_id is not None:
        query = query.where(ops_alerts.c.rule_id == rule_id)
    if datastream_id is not None:
        query = query.where(ops_alerts.c.datastream_id == datastream_id)
    if severity is not None:
        query = query.where(ops_alerts.c.severity == severity)
    async with _engine(request).connect() as connection:
        rows = (await connection.execute(query)).all()
    return {"value": [store.alert_json(row) for row in rows]}


async def alert_or_404(connection: Any, alert_id: int) -> Any:
    row = await store.alert_row(connection, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}", field="id")
    return row


@router.get("/alerts/{alert_id}")
async def get_alert(request: Request, alert_id: int, authorization: Auth = None) -> dict[str, Any]:
    await caller(request, authorization, READERS)
    async with _engine(request).connect() as connection:
        row = await alert_or_404(connection, alert_id)
        steps = await connection.execute(
            select(ops_alert_steps)
            .where(ops_alert_steps.c.alert_id == alert_id)
            .order_by(ops_alert_steps.c.id)
        )
        timeline = [
            {
                "step": s.step,
                "at": s.at.isoformat().replace("+00:00", "Z"),
                "by": s.by,
                "comment": s.comment,
            }
            for s in steps
        ]
    return {**store.alert_json(row), "timeline": timeline}


def _comment(body: object) -> str | None:
    if body is None:
        return None
    if not isinstance(body, dict):
        raise BadRequest('expected {"comment": "..."}', field="body")
    comment = body.get("comment")
    if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        raise BadRequest(
            f"comment: expected text of at most {MAX_COMMENT} characters", field="comment"
        )
    return comment


async def _step(
    request: Request, alert_id: int, body: object, authorization: str | None, step: str
) -> dict[str, Any]:
    principal = await caller(request, authorization, WRITERS)
    comment = _comment(body)
    now = datetime.now(UTC)
    allowed = ("active",) if step == "acknowledged" else store.OPEN_STATES
    async with _engine(request).begin() as connection:
        row = await alert_or_404(connection, alert_id)
        if row.state not in allowed:
            raise Conflict(f"state: the alert is {row.state}, it cannot be {step}", field="state")
        if step == "acknowledged":
            values = {"state": step, "acknowledged_at": now, "acknowledged_by": principal.name}
        else:
            values = {"state": step, "ended_at": now, "ended_by": principal.name}
            # the rule starts again from clear for this Datastream (flapping counts from now)
            await connection.execute(
                update(ops_rule_states)
                .where(ops_rule_states.c.alert_id == alert_id)
                .values(
                    status="clear",
                    alert_id=None,
                    severity=None,
                    pending_since=None,
                    cleared_at=now,
                    version=ops_rule_states.c.version + 1,
                )
            )
        await connection.execute(
            update(ops_alerts).where(ops_alerts.c.id == alert_id).values(**values)
        )
        await store.add_step(connection, alert_id, step, now, principal.name, comment)
        await record_write(
            connection,
            principal,
            "POST",
            f"/api/ops/alerts/{alert_id}/{'acknowledge' if step == 'acknowledged' else 'resolve'}",
            [("Alert", alert_id)],
        )
        row = await store.alert_row(connection, alert_id)
        rule = store.rule_of(await _rule_row(connection, row.rule_id))
        await store.append_events(
            connection, [store.alert_event("update", row, rule, change=step, comment=comment)]
        )
    wake_readers(request.app.state.stream)
    return store.alert_json(row)


@router.post("/alerts/{alert_id}/acknowledge")
async def acknowledge_alert(
    request: Request,
    alert_id: int,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    return await _step(request, alert_id, body, authorization, "acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    request: Request,
    alert_id: int,
    body: Annotated[Any, Body()] = None,
    authorization: Auth = None,
) -> dict[str, Any]:
    return await _step(request, alert_id, body, authorization, "resolved")
