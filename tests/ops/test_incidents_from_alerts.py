"""The consumer group "ops-incidents-from-alerts": an "ops.Alert.create" event with an
incident template, appended to the outbox as alerting does, opens one routed incident."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent
from tests.ops.desk_factories import wait_for_events


def alert(alert_id: int, template: dict[str, Any] | None, **fields: Any) -> EntityEvent:
    payload = {
        "rule_id": 3,
        "rule_name": "Water level rising",
        "datastream_id": 12,
        "thing_id": 4,
        "state": "active",
        "severity": "critical",
        "count": 1,
        "first_seen": "2026-12-06T00:10:00Z",
        "last_seen": "2026-12-06T00:10:00Z",
        "value": 2.4,
        "location": [106.7690, 10.9068],
        "district": "di_an",
        "incident_template": template,
        **fields,
    }
    return EntityEvent("create", "Alert", alert_id, payload, "ops")


FLOOD = {
    "category": "flooding",
    "priority": "urgent",
    "title": "Water level over 2 m at Di An gauge",
    "description": "Raised by rule 3",
}


async def _append(engine: AsyncEngine, *events: EntityEvent) -> None:
    async with engine.begin() as connection:
        await outbox.append(connection, list(events))


async def test_alert_with_template_opens_one_routed_incident_however_often_it_is_read(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, running_app: object
) -> None:
    await _append(engine, alert(501, FLOOD), alert(502, None))
    await _append(engine, alert(501, FLOOD))  # the same alert again: no second incident
    await _append(engine, alert(503, {**FLOOD, "category": "no_such"}, district=None))
    opened = await wait_for_events(
        running_app, "test-from-alerts", lambda e: e.topic == "ops.Incident.create", 2
    )
    listed = (await client.get("/api/ops/incidents", headers=admin)).json()["value"]
    assert sorted(i["alert_id"] for i in listed) == [501, 503]
    flood = next(i for i in listed if i["alert_id"] == 501)
    assert flood["source"] == "alert" and flood["channel"] == "sensor"
    assert flood["department_codes"] == ["water"] and flood["district"] == "di_an"
    assert flood["priority"] == "urgent" and flood["title"] == FLOOD["title"]
    assert flood["location"] == {"type": "Point", "coordinates": [106.769, 10.9068]}
    assert flood["created_by"] == "alerting"
    other = next(i for i in listed if i["alert_id"] == 503)
    assert other["category"] == "other" and other["department_codes"] == ["operations"]
    assert [e.id for e in opened] == [flood["id"], other["id"]]
