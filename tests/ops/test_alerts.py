"""Alerts from live evaluation of committed readings (the durable stream), over HTTP, on
both databases: one alert per rule and Datastream, repeats only count, the clear level
clears it, durations, hysteresis, escalation, flapping, and the hand-made steps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from cityhelix.app import create_app
from cityhelix.events import outbox
from cityhelix.events.tables import event_consumers
from cityhelix.ops.alerting import live
from cityhelix.ops.alerting.kpis import alert_counts
from tests.conftest import Backend
from tests.ops.conftest import Watch, client_of, fresh_database, ops_settings
from tests.ops.readings import alerts, at, new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio


async def test_reading_over_threshold_raises_one_alert_repeats_count_and_clear_level_clears(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(ops_client, admin, **threshold(datastream_id))
    await send(ops_client, admin, datastream_id, 0, 30)
    await send(ops_client, admin, datastream_id, 1, 55)
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["value"] == 55 and raised.payload["state"] == "active"
    await send(ops_client, admin, datastream_id, 2, 60)
    await send(ops_client, admin, datastream_id, 3, 45)  # between the levels: still firing
    await send(ops_client, admin, datastream_id, 4, 70)
    await watch.alert("repeat", count=3)
    (alert,) = await alerts(ops_client, admin, state="active", rule_id=rule_id)
    assert {k: alert[k] for k in ("rule_id", "datastream_id", "state", "severity", "count")} == {
        "rule_id": rule_id,
        "datastream_id": datastream_id,
        "state": "active",
        "severity": "warning",
        "count": 3,
    }
    assert (alert["first_seen"], alert["last_seen"], alert["value"]) == (at(1), at(4), 70)
    await send(ops_client, admin, datastream_id, 5, 39)
    cleared = await watch.alert("cleared", rule_id=rule_id)
    assert cleared.payload["state"] == "cleared"
    assert await alerts(ops_client, admin, state="active") == []
    (ended,) = await alerts(ops_client, admin, rule_id=rule_id)
    assert ended["state"] == "cleared" and ended["ended_at"] == at(5)
    # over again: a new alert, not the old one counted
    await send(ops_client, admin, datastream_id, 6, 51)
    again = await watch.alert("raise", rule_id=rule_id)
    assert again.id != raised.id


async def test_rule_fires_only_after_holding_for_its_duration(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(ops_client, admin, **threshold(datastream_id, for_seconds=300))
    await send(ops_client, admin, datastream_id, 0, 55)
    await send(ops_client, admin, datastream_id, 2, 30)  # dropped back: the wait starts again
    await send(ops_client, admin, datastream_id, 3, 55)
    await send(ops_client, admin, datastream_id, 6, 56)  # 3 minutes held: not yet
    await send(ops_client, admin, datastream_id, 8, 57)  # 5 minutes held: fires
    raised = await watch.alert("raise", rule_id=rule_id)
    assert (raised.payload["first_seen"], raised.payload["value"]) == (at(8), 57)
    assert len(await alerts(ops_client, admin, rule_id=rule_id)) == 1


async def test_escalation_raises_severity_when_the_second_level_is_crossed(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(
        ops_client,
        admin,
        **threshold(datastream_id, escalation_value=100, escalation_severity="critical"),
    )
    await send(ops_client, admin, datastream_id, 0, 60)
    await watch.alert("raise", rule_id=rule_id, severity="warning")
    await send(ops_client, admin, datastream_id, 1, 120)
    escalated = await watch.alert("escalate", rule_id=rule_id)
    assert escalated.payload["severity"] == "critical"
    (alert,) = await alerts(ops_client, admin, rule_id=rule_id)
    assert (alert["severity"], alert["count"]) == ("critical", 2)


async def test_flapping_is_suppressed_for_the_rules_minimum_time_between_raises(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(ops_client, admin, **threshold(datastream_id, min_reraise_seconds=600))
    await send(ops_client, admin, datastream_id, 0, 60)
    first = await watch.alert("raise", rule_id=rule_id)
    await send(ops_client, admin, datastream_id, 1, 30)
    await watch.alert("cleared", rule_id=rule_id)
    await send(ops_client, admin, datastream_id, 2, 60)  # 1 minute after clearing: held back
    await send(ops_client, admin, datastream_id, 12, 61)  # 11 minutes after: raised
    second = await watch.alert("raise", rule_id=rule_id)
    assert second.payload["first_seen"] == at(12) and second.id != first.id
    assert len(await alerts(ops_client, admin, rule_id=rule_id)) == 2


async def test_acknowledge_then_resolve_records_who_and_when_and_refuses_a_second_time(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(ops_client, admin, **threshold(datastream_id))
    await send(ops_client, admin, datastream_id, 0, 60)
    raised = await watch.alert("raise", rule_id=rule_id)
    acknowledged = await ops_client.post(
        f"/api/ops/alerts/{raised.id}/acknowledge",
        json={"comment": "crew on the way"},
        headers=admin,
    )
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["state"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == "admin"
    event = await watch.alert("acknowledged", rule_id=rule_id)
    assert event.payload["comment"] == "crew on the way"
    twice = await ops_client.post(
        f"/api/ops/alerts/{raised.id}/acknowledge", json={}, headers=admin
    )
    assert twice.status_code == 409
    # still counted while acknowledged
    await send(ops_client, admin, datastream_id, 1, 65)
    await watch.alert("repeat", rule_id=rule_id, count=2)
    resolved = await ops_client.post(
        f"/api/ops/alerts/{raised.id}/resolve", json={"comment": "filter replaced"}, headers=admin
    )
    assert resolved.json()["state"] == "resolved" and resolved.json()["ended_by"] == "admin"
    detail = (await ops_client.get(f"/api/ops/alerts/{raised.id}", headers=admin)).json()
    assert [s["step"] for s in detail["timeline"]] == ["raised", "acknowledged", "resolved"]
    assert detail["timeline"][2]["comment"] == "filter replaced"
    bad = await ops_client.post(
        f"/api/ops/alerts/{raised.id}/resolve", json={"comment": 7}, headers=admin
    )
    assert bad.status_code == 400 and "comment" in bad.json()["detail"]
    missing = await ops_client.post("/api/ops/alerts/4242/resolve", json={}, headers=admin)
    assert missing.status_code == 404


async def test_alert_counts_by_severity_for_the_desks_kpis(
    ops_app: FastAPI, ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    rule_id = await new_rule(ops_client, admin, **threshold(datastream_id, severity="critical"))
    await send(ops_client, admin, datastream_id, 0, 60)
    await watch.alert("raise", rule_id=rule_id)
    async with ops_app.state.engine.connect() as connection:
        counts = await alert_counts(
            connection, datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
        )
        before = await alert_counts(
            connection, datetime(2025, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
        )
    assert counts == {"info": 0, "warning": 0, "critical": 1}
    assert before == {"info": 0, "warning": 0, "critical": 0}


async def test_rule_state_survives_a_restart_of_the_app(
    backend: Backend, admin: dict[str, str]
) -> None:
    """A duration half held before the restart completes after it: the state was stored."""
    settings = ops_settings(backend)
    await fresh_database(settings)
    first = create_app(settings, migrate=False)
    async with first.router.lifespan_context(first), client_of(first) as http:
        datastream_id = await new_datastream(http, admin)
        rule_id = await new_rule(http, admin, **threshold(datastream_id, for_seconds=300))
        watch = Watch(first.state.stream)
        await send(http, admin, datastream_id, 0, 55)
        # evaluated (pending) before the first app stops: a sentinel rule's alert says so
        sentinel = await new_rule(http, admin, **threshold(datastream_id, name="s", value=54))
        await send(http, admin, datastream_id, 1, 56)
        await watch.alert("raise", rule_id=sentinel)
        await watch.close()
    second = create_app(settings, migrate=False)
    async with second.router.lifespan_context(second), client_of(second) as http:
        watch = Watch(second.state.stream)
        await send(http, admin, datastream_id, 5, 57)  # 5 minutes held since minute 0
        raised = await watch.alert("raise", rule_id=rule_id)
        assert raised.payload["first_seen"] == at(5)
        await watch.close()
        assert len(await alerts(http, admin, rule_id=rule_id)) == 1


async def test_readings_the_rules_group_reads_again_are_not_evaluated_again(
    backend: Backend, admin: dict[str, str]
) -> None:
    """The group's stream position set back (a reader that died before it committed): the
    next reader gets the same changes again and counts none of them twice."""
    settings = ops_settings(backend)
    await fresh_database(settings)
    first = create_app(settings, migrate=False)
    async with first.router.lifespan_context(first), client_of(first) as http:
        datastream_id = await new_datastream(http, admin)
        rule_id = await new_rule(http, admin, **threshold(datastream_id))
        watch = Watch(first.state.stream)
        for minute in range(3):
            await send(http, admin, datastream_id, minute, 60 + minute)
        await watch.alert("repeat", rule_id=rule_id, count=3)
        await watch.close()
        engine = first.state.engine
        async with engine.begin() as connection:
            await connection.execute(
                update(event_consumers)
                .where(event_consumers.c.name == live.GROUP)
                .values(position_xid=outbox.START.xid, position_id=outbox.START.id)
            )
    second = create_app(settings, migrate=False)
    async with second.router.lifespan_context(second), client_of(second) as http:
        watch = Watch(second.state.stream)
        # after every change read again: its repeat says they were all handled
        await send(http, admin, datastream_id, 3, 63)
        await watch.alert("repeat", rule_id=rule_id, count=4)
        await watch.close()
        (alert,) = await alerts(http, admin, rule_id=rule_id)
        assert alert["count"] == 4
        # the group commits after handling; its own alert's change comes to it too
        async with asyncio.timeout(10):
            while True:
                status = await second.state.stream.status()
                (group,) = [c for c in status.consumers if c.name == live.GROUP]
                if group.lag_changes == 0:
                    break
                await asyncio.sleep(0.05)
        (alert,) = await alerts(http, admin, rule_id=rule_id)
        assert alert["count"] == 4  # and reading the rest counted nothing more


async def test_unacknowledged_critical_alert_gets_a_reminder_event_and_acknowledging_stops_it(
    backend: Backend, admin: dict[str, str]
) -> None:
    settings = ops_settings(backend, ops_alert_reminder_seconds=1.0)
    await fresh_database(settings)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app), client_of(app) as http:
        watch = Watch(app.state.stream)
        datastream_id = await new_datastream(http, admin)
        rule_id = await new_rule(http, admin, **threshold(datastream_id, severity="critical"))
        await send(http, admin, datastream_id, 0, 60)
        raised = await watch.alert("raise", rule_id=rule_id)
        reminder = await watch.alert("reminder", rule_id=rule_id)
        assert reminder.id == raised.id and reminder.payload["state"] == "active"
        answer = await http.post(f"/api/ops/alerts/{raised.id}/acknowledge", headers=admin)
        assert answer.status_code == 200
        detail = (await http.get(f"/api/ops/alerts/{raised.id}", headers=admin)).json()
        assert "reminded" in [step["step"] for step in detail["timeline"]]
        await watch.close()
