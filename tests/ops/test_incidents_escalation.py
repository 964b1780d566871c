"""Escalation of overdue incidents along the chain, each level once, on the timeline: run by
the app's own background pass (every 0.2 s in tests) and by concurrent passes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.ops.desk.catalogue import load_catalogue
from cityhelix.ops.desk.escalation import due_level, escalate_overdue
from tests.ops.desk_factories import incident, wait_for_events


async def test_overdue_incident_climbs_the_chain_once_per_level(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: object, engine: AsyncEngine
) -> None:
    late = await incident(client, admin, reported_at="2026-11-02T01:00:00Z")
    fresh = await incident(client, admin)
    escalations = await wait_for_events(
        running_app,
        "test-escalation",
        lambda e: e.topic == "ops.Incident.update" and e.id == late["id"],
        3,
    )
    assert all(e.payload["overdue"] for e in escalations)
    # more passes at once, besides the app's own, take no level twice
    catalogue = load_catalogue()
    await asyncio.gather(*(escalate_overdue(engine, catalogue) for _ in range(3)))
    document = (await client.get(f"/api/ops/incidents/{late['id']}", headers=admin)).json()
    assert document["escalation_level"] == 3
    steps = [e["detail"] for e in document["timeline"] if e["kind"] == "escalation"]
    assert steps == [
        {"level": 1, "to": "department_head"},
        {"level": 2, "to": "operations_centre"},
        {"level": 3, "to": "province"},
    ]
    assert all(e["actor"] == "escalation" for e in document["timeline"][1:])
    untouched = (await client.get(f"/api/ops/incidents/{fresh['id']}", headers=admin)).json()
    assert untouched["escalation_level"] == 0


def test_levels_are_earned_by_working_hours_past_the_missed_deadline() -> None:
    catalogue = load_catalogue()
    # resolve-by Friday 2026-12-04 16:00 local (09:00 UTC), acknowledged in time
    row = SimpleNamespace(
        acknowledged_at=datetime(2026, 12, 4, 2, tzinfo=UTC),
        respond_by=datetime(2026, 12, 4, 3, tzinfo=UTC),
        resolve_by=datetime(2026, 12, 4, 9, tzinfo=UTC),
    )
    assert due_level(catalogue, row, datetime(2026, 12, 4, 8, tzinfo=UTC)) == 0
    assert due_level(catalogue, row, datetime(2026, 12, 4, 9, 30, tzinfo=UTC)) == 1
    # the weekend does not count: Monday 10:30 local is 1 + 3 = 4 working hours late
    assert due_level(catalogue, row, datetime(2026, 12, 7, 3, 29, tzinfo=UTC)) == 1
    assert due_level(catalogue, row, datetime(2026, 12, 7, 3, 30, tzinfo=UTC)) == 2
    assert due_level(catalogue, row, datetime(2026, 12, 9, 3, tzinfo=UTC)) == 3
    # not acknowledged: counted from the respond-by it missed (10:00 local), 1.5 h in the
    # morning and 3 h after lunch by 16:00 local
    row.acknowledged_at = None
    assert due_level(catalogue, row, datetime(2026, 12, 4, 7, tzinfo=UTC)) == 1
    assert due_level(catalogue, row, datetime(2026, 12, 4, 9, tzinfo=UTC)) == 2
