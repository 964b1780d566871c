"""What a person does to rules and alerts, apart from how the request arrived: check a rule
against the hub and the other rules, create and change it, preview it, acknowledge or
resolve an alert; the web console and other pillars call these through `ops.service`.

The HTTP handlers of `api.py` call these too, so both doors make the same checks, audit rows
and outbox events.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.events.bus import EntityEvent
from cityhelix.events.stream import EventStream
from cityhelix.hub import service as hub_service
from cityhelix.ops.alerting import history, store
from cityhelix.ops.alerting.evaluate import State
from cityhelix.ops.alerting.live import wake_readers
from cityhelix.ops.alerting.preview import preview
from cityhelix.ops.alerting.rules import MAX_SCOPE_IDS, Rule, parse_rule, rule_body
from cityhelix.ops.alerting.scope import HubView, read_document
from cityhelix.ops.alerting.tables import ops_alert_steps, ops_alerts, ops_rule_states, ops_rules
from cityhelix.ops.errors import BadRequest, Conflict, NotFound

MAX_COMMENT = 2000


async def checked_rule(view: HubView, body: object, rule_id: int = 0) -> Rule:
    """The rule in `body`, checked against the hub and the other rules (400 names the field)."""
    rule = parse_rule(body, rule_id)
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
        async with view.engine.connect() as connection:
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


def rule_json(row: Any) -> dict[str, Any]:
    """A stored rule as the API shows it."""
    rule = store.rule_of(row)
    return {
        "id": row.id,
        **rule_body(rule),
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": row.updated_at.isoformat().replace("+00:00", "Z"),
        "created_by": row.created_by,
    }


def rule_event(action: str, rule_id: int, name: str) -> EntityEvent:
    return EntityEvent(action, "Rule", rule_id, {"name": name}, "ops")


async def rule_row(connection: AsyncConnection, rule_id: int) -> Any:
    """The stored rule `rule_id`, or 404."""
    row = (
        await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no rule {rule_id}", field="id")
    return row


async def create_rule(view: HubView, principal: Principal, body: object) -> dict[str, Any]:
    """Check and store a new rule, audited and announced in one transaction."""
    rule = await checked_rule(view, body)
    now = datetime.now(UTC)
    body_stored = rule_body(rule)
    started = await history_states(view, rule, now)
    async with view.engine.begin() as connection:
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
        await store.append_events(connection, [rule_event("create", rule_id, rule.name)])
        row = await rule_row(connection, rule_id)
    return rule_json(row)


async def history_states(view: HubView, rule: Rule, moment: datetime) -> dict[int, State]:
    """A new anomaly rule's window on each Datastream it covers, from the stored history
    before `moment` (as `POST /api/ops/rules` starts it): it judges the next reading at once."""
    if not history.needs_history(rule):
        return {}
    states: dict[int, State] = {}
    for datastream_id in (await view.datastreams_of(rule))[:MAX_SCOPE_IDS]:
        state = await history.state_before(view.engine, rule, datastream_id, moment)
        if state.window:
            states[datastream_id] = state
    return states


async def merged_rule_body(engine: AsyncEngine, rule_id: int, body: object) -> dict[str, Any]:
    """The stored rule with the members of a PATCH `body` over it (a new scope replaces
    the old one; the kind cannot change)."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object of the members to change", field="body")
    async with engine.connect() as connection:
        current = await rule_row(connection, rule_id)
    if "kind" in body and body["kind"] != current.kind:
        raise BadRequest("kind: cannot change; create a new rule", field="kind")
    merged = {**current.definition, "enabled": bool(current.enabled), **body}
    scopes = ("datastream_ids", "observed_property_id", "district", "polygon")
    if any(name in body for name in scopes):
        merged = {k: v for k, v in merged.items() if k not in scopes or k in body}
    return merged


async def update_rule(
    view: HubView, principal: Principal, rule_id: int, body: object
) -> dict[str, Any]:
    """Apply a PATCH to rule `rule_id`, checked as a new rule is, audited and announced."""
    rule = await checked_rule(view, await merged_rule_body(view.engine, rule_id, body), rule_id)
    now = datetime.now(UTC)
    started = await history_states(view, rule, now)
    async with view.engine.begin() as connection:
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
        await store.append_events(connection, [rule_event("update", rule_id, rule.name)])
        row = await rule_row(connection, rule_id)
    return rule_json(row)


async def delete_rule(engine: AsyncEngine, principal: Principal, rule_id: int) -> None:
    """Delete rule `rule_id` (404; 409 while a composite combines it), audited and announced."""
    async with engine.begin() as connection:
        row = await rule_row(connection, rule_id)
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
        await store.append_events(connection, [rule_event("delete", rule_id, row.name)])


async def list_rules(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every rule as the API shows it, by id."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(ops_rules).order_by(ops_rules.c.id))).all()
    return [rule_json(row) for row in rows]


async def preview_rule(
    view: HubView, rule: Rule, hours: float, *, min_reraise_seconds: float
) -> dict[str, Any]:
    """When `rule` would have fired and cleared over the last `hours` (no side effect)."""
    end = datetime.now(UTC)
    rules: dict[int, Rule] = {}
    if rule.kind == "composite":
        async with view.engine.connect() as connection:
            rules = {r.id: r for r in await store.load_rules(connection)}
    result = await preview(
        view,
        rule,
        end - timedelta(hours=hours),
        end,
        min_reraise_seconds=min_reraise_seconds,
        rules=rules,
    )
    return {"rule_id": rule.id or None, **result}


def checked_comment(body: object) -> str | None:
    """The `comment` of an acknowledge/resolve body (400 names it when it is not text)."""
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


async def change_alert(
    engine: AsyncEngine,
    stream: EventStream | None,
    principal: Principal,
    alert_id: int,
    step: str,
    comment: str | None,
) -> dict[str, Any]:
    """Acknowledge (`step` "acknowledged") or resolve ("resolved") an alert, with who, when
    and the comment on its timeline; 409 naming the state when it cannot."""
    now = datetime.now(UTC)
    allowed = ("active",) if step == "acknowledged" else store.OPEN_STATES
    async with engine.begin() as connection:
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
        rule = store.rule_of(await rule_row(connection, row.rule_id))
        await store.append_events(
            connection, [store.alert_event("update", row, rule, change=step, comment=comment)]
        )
    wake_readers(stream)
    return store.alert_json(row)


async def alert_or_404(connection: AsyncConnection, alert_id: int) -> Any:
    row = await store.alert_row(connection, alert_id)
    if row is None:
        raise NotFound(f"no alert {alert_id}", field="id")
    return row


async def alert_timeline(connection: AsyncConnection, alert_id: int) -> list[dict[str, Any]]:
    """An alert's steps (raised, acknowledged, ...), oldest first."""
    steps = await connection.execute(
        select(ops_alert_steps)
        .where(ops_alert_steps.c.alert_id == alert_id)
        .order_by(ops_alert_steps.c.id)
    )
    return [
        {
            "step": s.step,
            "at": s.at.isoformat().replace("+00:00", "Z"),
            "by": s.by,
            "comment": s.comment,
        }
        for s in steps
    ]
