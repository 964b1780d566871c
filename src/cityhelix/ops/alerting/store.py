"""Rules, rule states and alerts in the database, and the outbox events of each alert change,
written in the caller's transaction (the one that also holds the state it follows from).

States are written by compare-and-set on their `version`: a second reader that evaluated
the same reading (a lease taken over mid-batch) loses, rolls back, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent
from cityhelix.ops.alerting.evaluate import State, Transition
from cityhelix.ops.alerting.rules import Rule, parse_rule
from cityhelix.ops.alerting.scope import Place
from cityhelix.ops.alerting.tables import (
    ops_alert_steps,
    ops_alerts,
    ops_rule_progress,
    ops_rule_states,
    ops_rules,
)
from cityhelix.ops.errors import Conflict

#: the state key of a composite rule (it watches rules, not one Datastream)
COMPOSITE_KEY = 0
OPEN_STATES = ("active", "acknowledged")
#: the state of a (rule, Datastream) with no row yet (states are immutable: one will do)
NEW_STATE = State()


class StateRace(Conflict):
    """Another reader changed a rule's state since it was read: this transaction lost."""


async def applied_position(connection: AsyncConnection, group: str) -> str | None:
    """The stream position of the last change whose readings consumer group `group` has
    evaluated (None: none yet)."""
    position: str | None = await connection.scalar(
        select(ops_rule_progress.c.position).where(ops_rule_progress.c.group_name == group)
    )
    return position


async def record_position(
    connection: AsyncConnection, group: str, read: str | None, position: str, now: datetime
) -> None:
    """Record `position` as applied by `group`, in the transaction of those evaluations, by
    compare-and-set on the position `read` before them: a reader that lost the group and
    evaluated the same changes as the group's next reader raises StateRace (its whole
    transaction rolls back) instead of recording them twice."""
    if read is None:
        # a second first writer fails on the primary key (IntegrityError): rolled back too
        await connection.execute(
            insert(ops_rule_progress).values(group_name=group, position=position, updated_at=now)
        )
        return
    result = await connection.execute(
        update(ops_rule_progress)
        .where(ops_rule_progress.c.group_name == group, ops_rule_progress.c.position == read)
        .values(position=position, updated_at=now)
    )
    if result.rowcount != 1:
        raise StateRace(f"consumer group {group} was evaluated further by another reader")


def rule_of(row: Any) -> Rule:
    return parse_rule({**row.definition, "enabled": bool(row.enabled)}, row.id)


async def load_rules(connection: AsyncConnection) -> list[Rule]:
    rows = await connection.execute(select(ops_rules).order_by(ops_rules.c.id))
    return [rule_of(row) for row in rows]


async def rule_row(connection: AsyncConnection, rule_id: int) -> Any:
    """The stored rule `rule_id`, or None."""
    return (
        await connection.execute(select(ops_rules).where(ops_rules.c.id == rule_id))
    ).one_or_none()


@dataclass
class Keyed:
    """A state as read, with what the compare-and-set needs."""

    state: State
    version: int | None  # None: no row yet
    alert_id: int | None


def _state(row: Any) -> State:
    return State(
        status=row.status,
        pending_since=row.pending_since,
        last_value=row.last_value,
        last_time=row.last_time,
        last_observation_id=row.last_observation_id,
        cleared_at=row.cleared_at,
        severity=row.severity,
        window=tuple(row.window or ()),
    )


async def states_on(
    connection: AsyncConnection, datastream_ids: Iterable[int]
) -> dict[tuple[int, int], Keyed]:
    """Every stored state on `datastream_ids`, by (rule, Datastream).

    Read by Datastream (an index), one statement per thousand of them whatever the number
    of rules: a batch of readings on 100 Datastreams with 100 rules each is one statement
    (not 20 of 500 (rule, Datastream) pairs), and a pair with no row costs nothing."""
    found: dict[tuple[int, int], Keyed] = {}
    ordered = sorted(set(datastream_ids))
    for start in range(0, len(ordered), 1000):
        rows = await connection.execute(
            select(ops_rule_states).where(
                ops_rule_states.c.datastream_id.in_(ordered[start : start + 1000])
            )
        )
        for row in rows:
            found[(row.rule_id, row.datastream_id)] = Keyed(_state(row), row.version, row.alert_id)
    return found


async def load_states(
    connection: AsyncConnection, keys: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], Keyed]:
    """The stored state of each (rule, Datastream) of `keys`, a new one where none is."""
    wanted = set(keys)
    stored = await states_on(connection, {datastream_id for _, datastream_id in wanted})
    return {key: stored.get(key) or Keyed(NEW_STATE, None, None) for key in wanted}


async def save_state(connection: AsyncConnection, key: tuple[int, int], keyed: Keyed) -> None:
    """Write a state by compare-and-set (StateRace when another reader got there first)."""
    state = keyed.state
    values = {
        "status": state.status,
        "pending_since": state.pending_since,
        "last_value": state.last_value,
        "last_time": state.last_time,
        "last_observation_id": state.last_observation_id,
        "cleared_at": state.cleared_at,
        "severity": state.severity,
        "alert_id": keyed.alert_id,
        "window": list(state.window) if state.window else None,
    }
    if keyed.version is None:
        exists = await connection.scalar(
            select(ops_rule_states.c.version).where(
                ops_rule_states.c.rule_id == key[0], ops_rule_states.c.datastream_id == key[1]
            )
        )
        if exists is not None:
            raise StateRace("a rule's state was written by another reader")
        await connection.execute(
            insert(ops_rule_states).values(
                rule_id=key[0], datastream_id=key[1], version=1, **values
            )
        )
        keyed.version = 1
        return
    result = await connection.execute(
        update(ops_rule_states)
        .where(
            ops_rule_states.c.rule_id == key[0],
            ops_rule_states.c.datastream_id == key[1],
            ops_rule_states.c.version == keyed.version,
        )
        .values(version=keyed.version + 1, **values)
    )
    if result.rowcount != 1:
        raise StateRace("a rule's state was written by another reader")
    keyed.version += 1


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def alert_json(row: Any) -> dict[str, Any]:
    """An alert as the API shows it."""
    return {
        "id": row.id,
        "rule_id": row.rule_id,
        "datastream_id": row.datastream_id,
        "thing_id": row.thing_id,
        "state": row.state,
        "severity": row.severity,
        "count": row.count,
        "first_seen": _time(row.first_seen),
        "last_seen": _time(row.last_seen),
        "value": row.value,
        "location": row.location,
        "district": row.district,
        "acknowledged_at": _time(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "ended_at": _time(row.ended_at),
        "ended_by": row.ended_by,
    }


def alert_event(action: str, row: Any, rule: Rule, **extra: Any) -> EntityEvent:
    """The contract's event of an alert change (docs/operations-centre.md)."""
    payload = {
        "rule_id": row.rule_id,
        "rule_name": rule.name,
        "datastream_id": row.datastream_id,
        "thing_id": row.thing_id,
        "state": row.state,
        "severity": row.severity,
        "count": row.count,
        "first_seen": _time(row.first_seen),
        "last_seen": _time(row.last_seen),
        "value": row.value,
        "location": row.location,
        "district": row.district,
        "incident_template": rule.incident_template,
        **extra,
    }
    return EntityEvent(action, "Alert", row.id, payload, "ops")


async def alert_row(connection: AsyncConnection, alert_id: int) -> Any:
    return (
        await connection.execute(select(ops_alerts).where(ops_alerts.c.id == alert_id))
    ).one_or_none()


async def add_step(
    connection: AsyncConnection,
    alert_id: int,
    step: str,
    at: datetime,
    by: str | None = None,
    comment: str | None = None,
) -> None:
    await connection.execute(
        insert(ops_alert_steps).values(alert_id=alert_id, step=step, at=at, by=by, comment=comment)
    )


async def apply_transition(
    connection: AsyncConnection,
    rule: Rule,
    datastream_id: int | None,
    thing_id: int | None,
    place: Place,
    keyed: Keyed,
    transition: Transition,
    now: datetime,
) -> EntityEvent | None:
    """Write what `transition` does to the (rule, Datastream) alert; its event."""
    if transition.kind == "raise":
        alert_id = (
            await connection.execute(
                insert(ops_alerts)
                .values(
                    rule_id=rule.id,
                    datastream_id=datastream_id,
                    thing_id=thing_id,
                    state="active",
                    severity=transition.severity,
                    count=1,
                    first_seen=transition.time,
                    last_seen=transition.time,
                    value=transition.value,
                    location=place.location,
                    district=place.district,
                    created_at=now,
                )
                .returning(ops_alerts.c.id)
            )
        ).scalar_one()
        keyed.alert_id = alert_id
        await add_step(connection, alert_id, "raised", transition.time)
        return alert_event("create", await alert_row(connection, alert_id), rule)
    alert_id = keyed.alert_id
    if alert_id is None:
        return None
    if transition.kind == "clear":
        keyed.alert_id = None
        result = await connection.execute(
            update(ops_alerts)
            .where(ops_alerts.c.id == alert_id, ops_alerts.c.state.in_(OPEN_STATES))
            .values(state="cleared", ended_at=transition.time, last_seen=transition.time)
        )
        if result.rowcount != 1:
            return None  # resolved by hand meanwhile
        await add_step(connection, alert_id, "cleared", transition.time)
        return alert_event("update", await alert_row(connection, alert_id), rule, change="cleared")
    values: dict[str, Any] = {"last_seen": transition.time, "value": transition.value}
    if transition.kind == "escalate":
        values["severity"] = transition.severity
    result = await connection.execute(
        update(ops_alerts)
        .where(ops_alerts.c.id == alert_id, ops_alerts.c.state.in_(OPEN_STATES))
        .values(count=ops_alerts.c.count + 1, **values)
    )
    if result.rowcount != 1:
        return None
    if transition.kind == "escalate":
        await add_step(
            connection, alert_id, "escalated", transition.time, comment=transition.severity
        )
    return alert_event(
        "update", await alert_row(connection, alert_id), rule, change=transition.kind
    )


async def firing_rules(connection: AsyncConnection, rule_ids: Sequence[int]) -> dict[int, bool]:
    """Which of `rule_ids` fire now for at least one Datastream."""
    rows = await connection.execute(
        select(ops_rule_states.c.rule_id)
        .where(ops_rule_states.c.rule_id.in_(list(rule_ids)), ops_rule_states.c.status == "firing")
        .distinct()
    )
    firing = {row.rule_id for row in rows}
    return {rule_id: rule_id in firing for rule_id in rule_ids}


async def append_events(connection: AsyncConnection, events: Sequence[EntityEvent]) -> None:
    await outbox.append(connection, list(events))


async def delete_rule(connection: AsyncConnection, rule_id: int) -> None:
    await connection.execute(delete(ops_rules).where(ops_rules.c.id == rule_id))
