"""The operations centre's door for other pillars (web, city, helix): plain async functions.

Other pillars call only what is named here; the parts' modules stay private to ops.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.events.bus import EntityEvent
from cityhelix.ops.alerting import store
from cityhelix.ops.alerting.evaluate import Reading
from cityhelix.ops.alerting.live import Match, RuleEvaluation
from cityhelix.ops.alerting.rules import parse_rule, rule_body
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.alerting.tables import ops_alerts, ops_rules
from cityhelix.ops.errors import BadRequest as BadRequest  # raised by create_rule
from cityhelix.ops.errors import NotFound as NotFound
from cityhelix.ops.errors import OpsError as OpsError
from cityhelix.settings import Settings

# --- alerting: rules and alerts (ops.alerting) -----------------------------------------


async def create_rule(engine: AsyncEngine, body: dict[str, Any], principal: Principal) -> int:
    """Create a rule from its API body (as `POST /api/ops/rules` takes it) for another pillar
    that derives rules from its domain data (a gauge's alert level, a QCVN limit); its id.

    `BadRequest` names the field; the write is audited and announced like the HTTP one.
    """
    rule = parse_rule(body)
    view = HubView(engine)
    for datastream_id in rule.scope.datastream_ids:
        if await view.datastream(datastream_id) is None:
            raise BadRequest(
                f"datastream_ids: no Datastream {datastream_id}", field="datastream_ids"
            )
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        if rule.kind == "composite":
            known = set(
                (
                    await connection.execute(
                        select(ops_rules.c.id).where(ops_rules.c.id.in_(rule.rule_ids))
                    )
                ).scalars()
            )
            missing = [i for i in rule.rule_ids if i not in known]
            if missing:
                raise BadRequest(f"rule_ids: no rule {missing[0]}", field="rule_ids")
        rule_id = int(
            (
                await connection.execute(
                    insert(ops_rules)
                    .values(
                        name=rule.name,
                        kind=rule.kind,
                        definition=rule_body(rule),
                        enabled=int(rule.enabled),
                        created_at=now,
                        updated_at=now,
                        created_by=principal.name,
                    )
                    .returning(ops_rules.c.id)
                )
            ).scalar_one()
        )
        await record_write(connection, principal, "POST", "/api/ops/rules", [("Rule", rule_id)])
        await store.append_events(
            connection, [EntityEvent("create", "Rule", rule_id, {"name": rule.name}, "ops")]
        )
    return rule_id


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


# --- desk: incidents, departments, Open311, webhooks, KPIs (ops.desk) -----------------
