"""The consumer group "ops-incidents-from-alerts": an alert raised with an incident template
("ops.Alert.create", OPS.md's contract) opens an incident, once per alert id.

Idempotent: the incident's `alert_id` is unique, so an event read again (after a crash
before commit, or by a second process) opens nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EntityEvent
from cityhelix.events.stream import Change
from cityhelix.ops.desk.catalogue import Catalogue
from cityhelix.ops.desk.incidents import MAX_TEXT, MAX_TITLE, NewIncident, create_incident
from cityhelix.ops.desk.tables import incidents

GROUP = "ops-incidents-from-alerts"
ACTOR = "alerting"
logger = logging.getLogger(__name__)


def incident_from_alert(catalogue: Catalogue, event: EntityEvent) -> NewIncident | None:
    """The incident an alert's template asks for, or None (no template)."""
    payload: Mapping[str, Any] = event.payload
    template = payload.get("incident_template")
    if not isinstance(template, Mapping):
        return None
    category = template.get("category")
    if category not in catalogue.categories:
        # a rule may name a category the province later removed: still an incident
        logger.warning("alert %s: unknown category %r, filed as 'other'", event.id, category)
        category = "other" if "other" in catalogue.categories else next(iter(catalogue.categories))
    priority = template.get("priority")
    if priority not in catalogue.priorities:
        priority = "normal" if "normal" in catalogue.priorities else catalogue.priorities[0]
    title = str(template.get("title") or payload.get("rule_name") or f"Alert {event.id}")
    description = str(template.get("description") or "")
    location = None
    point = payload.get("location")
    if (
        isinstance(point, list | tuple)
        and len(point) == 2
        and all(isinstance(c, int | float) for c in point)
        and -180 <= point[0] <= 180
        and -90 <= point[1] <= 90
    ):
        location = {"type": "Point", "coordinates": [float(point[0]), float(point[1])]}
    district = payload.get("district")
    if district not in catalogue.districts:
        district = None
    return NewIncident(
        category=str(category),
        priority=str(priority),
        title=title[:MAX_TITLE],
        description=description[:MAX_TEXT],
        source="alert",
        channel="sensor",
        location=location,
        district=district,
        alert_id=event.id,
    )


async def open_incidents(engine: AsyncEngine, catalogue: Catalogue, change: Change) -> None:
    """Open the incidents a change's raised alerts ask for (each alert once)."""
    for event in change.events.by_topic.get("ops.Alert.create", ()):
        new = incident_from_alert(catalogue, event)
        if new is None:
            continue
        try:
            async with engine.begin() as connection:
                known = await connection.execute(
                    select(incidents.c.id).where(incidents.c.alert_id == event.id)
                )
                if known.first() is not None:
                    continue
                await create_incident(connection, catalogue, new, ACTOR)
        except IntegrityError:
            # another reader of the group opened it between our check and insert
            logger.info("alert %s: incident opened elsewhere already", event.id)
