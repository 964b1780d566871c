"""Incidents: create (routed, with SLA deadlines in working hours), read, list with filters,
change status and assignee, comment, tick SOP steps; every change on the timeline, audited,
and announced on the durable stream ("ops.Incident.create" / ".update") in its transaction.

Functions take a connection inside the caller's transaction; the HTTP layer opens it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, insert, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from cityhelix.auth.principal import Principal, Role
from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent
from cityhelix.ops.desk.catalogue import Catalogue
from cityhelix.ops.desk.tables import (
    incident_attachments,
    incident_checklist,
    incident_departments,
    incident_timeline,
    incidents,
)
from cityhelix.ops.errors import BadRequest, Conflict, Forbidden, NotFound

SOURCES = ("alert", "citizen", "operator", "camera")
CHANNELS = ("web", "app", "hotline", "email", "social", "sensor")
STATUSES = ("new", "assigned", "in_progress", "resolved", "closed")
OPEN_STATUSES = ("new", "assigned", "in_progress")
#: status -> the statuses it may move to; resolved/closed -> in_progress is a reopen
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"assigned"}),
    "assigned": frozenset({"in_progress"}),
    "in_progress": frozenset({"resolved"}),
    "resolved": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"in_progress"}),
}
#: roles that work incidents; a department user only its own department's
STAFF = frozenset({Role.ADMIN, Role.OPERATOR, Role.DEPARTMENT})
MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_PAGE = 1000


@dataclass(frozen=True)
class NewIncident:
    """What an incident is opened with, already checked (see `new_incident_from_body`)."""

    category: str
    priority: str
    title: str
    description: str
    source: str
    channel: str
    location: dict[str, Any] | None = None
    district: str | None = None
    address: str | None = None
    reported_at: datetime | None = None
    alert_id: int | None = None
    open311_token: str | None = None
    attributes: dict[str, Any] | None = None
    media_url: str | None = None
    contact: dict[str, Any] | None = None


def require_staff(principal: Principal) -> None:
    if principal.role not in STAFF:
        raise Forbidden(f"role {principal.role.value!r} may not work incidents")


def _text(body: Mapping[str, Any], name: str, limit: int, *, required: bool) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise BadRequest(f"{name}: required", name)
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise BadRequest(f"{name}: expected a non-empty string", name)
    if len(value) > limit:
        raise BadRequest(f"{name}: longer than {limit} characters", name)
    return value


def _choice(body: Mapping[str, Any], name: str, allowed: Sequence[str], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise BadRequest(f"{name}: expected one of {', '.join(allowed)}", name)
    return str(value)


def _position(value: Any, field: str) -> tuple[float, float]:
    if (
        not isinstance(value, list)
        or len(value) < 2
        or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in value[:2])
    ):
        raise BadRequest(f"{field}: expected [longitude, latitude]", field)
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadRequest(f"{field}: longitude in [-180, 180] and latitude in [-90, 90]", field)
    return lon, lat


def checked_location(value: Any) -> tuple[dict[str, Any], tuple[float, float]]:
    """A GeoJSON Point or Polygon and the point that stands for it (400 naming `location`)."""
    if not isinstance(value, dict) or value.get("type") not in ("Point", "Polygon"):
        raise BadRequest("location: expected a GeoJSON Point or Polygon", "location")
    coordinates = value.get("coordinates")
    if value["type"] == "Point":
        point = _position(coordinates, "location")
        return {"type": "Point", "coordinates": list(point)}, point
    if (
        not isinstance(coordinates, list)
        or not coordinates
        or not isinstance(coordinates[0], list)
        or not 4 <= len(coordinates[0]) <= 10_000
    ):
        raise BadRequest("location: a Polygon's ring needs 4 to 10,000 positions", "location")
    rings = [[list(_position(p, "location")) for p in ring] for ring in coordinates[:1]]
    if rings[0][0] != rings[0][-1]:
        raise BadRequest("location: a Polygon's ring must end where it starts", "location")
    lon = sum(p[0] for p in rings[0][:-1]) / (len(rings[0]) - 1)
    lat = sum(p[1] for p in rings[0][:-1]) / (len(rings[0]) - 1)
    return {"type": "Polygon", "coordinates": rings}, (lon, lat)


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{field}: expected an ISO 8601 time with a zone", field)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{field}: expected an ISO 8601 time with a zone", field) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{field}: give the time zone (e.g. Z)", field)
    return moment.astimezone(UTC)


def new_incident_from_body(catalogue: Catalogue, body: Any) -> NewIncident:
    """The incident a JSON body of `POST /api/ops/incidents` describes; 400 naming the field."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object")
    unknown = set(body) - {
        "category",
        "priority",
        "title",
        "description",
        "location",
        "district",
        "address",
        "source",
        "channel",
        "reported_at",
    }
    if unknown:
        name = sorted(unknown)[0]
        raise BadRequest(f"{name}: not a property of an incident", name)
    category = _choice(body, "category", tuple(catalogue.categories), "")
    reported_at = None
    if body.get("reported_at") is not None:
        reported_at = _time(body["reported_at"], "reported_at")
        now = datetime.now(UTC)
        if reported_at > now + timedelta(minutes=5) or reported_at < now - timedelta(days=366):
            raise BadRequest("reported_at: within the last year, not in the future", "reported_at")
    location = None
    if body.get("location") is not None:
        location, _ = checked_location(body["location"])
    district = body.get("district")
    if district is not None and district not in catalogue.districts:
        raise BadRequest(f"district: expected one of {', '.join(catalogue.districts)}", "district")
    return NewIncident(
        category=category,
        priority=_choice(body, "priority", catalogue.priorities, "normal"),
        title=_text(body, "title", MAX_TITLE, required=True) or "",
        description=_text(body, "description", MAX_TEXT, required=False) or "",
        source=_choice(body, "source", SOURCES, "operator"),
        channel=_choice(body, "channel", CHANNELS, "web"),
        location=location,
        district=district,
        address=_text(body, "address", 500, required=False),
        reported_at=reported_at,
    )


async def announce(
    connection: AsyncConnection, action: str, incident_id: int, now: datetime
) -> None:
    """The incident's event, in its transaction (payload as OPS.md's contract says)."""
    row = (await connection.execute(select(incidents).where(incidents.c.id == incident_id))).one()
    codes = await _departments(connection, incident_id)
    payload = {
        "id": row.id,
        "category": row.category,
        "priority": row.priority,
        "status": row.status,
        "department_codes": codes,
        "district": row.district,
        "location": row.location,
        "title": row.title,
        "overdue": is_overdue(row, now),
        "respond_by": _iso(row.respond_by),
        "resolve_by": _iso(row.resolve_by),
    }
    await outbox.append(connection, [EntityEvent(action, "Incident", row.id, payload, "ops")])


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def is_overdue(row: Any, now: datetime) -> bool:
    """Open past its resolve-by, or not acknowledged past its respond-by."""
    if row.status not in OPEN_STATUSES:
        return False
    return bool(row.resolve_by < now or (row.acknowledged_at is None and row.respond_by < now))


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """`is_overdue` in SQL."""
    return and_(
        incidents.c.status.in_(OPEN_STATUSES),
        or_(
            incidents.c.resolve_by < now,
            and_(incidents.c.acknowledged_at.is_(None), incidents.c.respond_by < now),
        ),
    )


async def _timeline(
    connection: AsyncConnection,
    incident_id: int,
    actor: str,
    kind: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    await connection.execute(
        insert(incident_timeline).values(
            incident_id=incident_id, at=now, actor=actor, kind=kind, detail=detail
        )
    )


async def create_incident(
    connection: AsyncConnection, catalogue: Catalogue, new: NewIncident, actor: str
) -> int:
    """Open an incident routed to its departments, with deadlines from its category's SLA."""
    now = datetime.now(UTC)
    opened = new.reported_at or now
    point = checked_location(new.location)[1] if new.location else None
    district = new.district
    if district is None and point is not None:
        district = catalogue.district_at(*point)
    respond_hours, resolve_hours = catalogue.categories[new.category].sla[new.priority]
    calendar = catalogue.calendar
    result = await connection.execute(
        insert(incidents)
        .returning(incidents.c.id)
        .values(
            category=new.category,
            priority=new.priority,
            title=new.title,
            description=new.description,
            location=new.location,
            lon=point[0] if point else None,
            lat=point[1] if point else None,
            district=district,
            address=new.address,
            source=new.source,
            channel=new.channel,
            status="new",
            created_by=actor,
            created_at=opened,
            updated_at=now,
            respond_by=calendar.add_working_hours(opened, respond_hours),
            resolve_by=calendar.add_working_hours(opened, resolve_hours),
            escalation_level=0,
            alert_id=new.alert_id,
            open311_token=new.open311_token,
            attributes=new.attributes,
            media_url=new.media_url,
            contact=new.contact,
        )
    )
    incident_id = int(result.scalar_one())
    codes = catalogue.route(new.category, district)
    await connection.execute(
        insert(incident_departments), [{"incident_id": incident_id, "department": c} for c in codes]
    )
    await _timeline(
        connection,
        incident_id,
        actor,
        "created",
        {"status": "new", "departments": codes, "source": new.source, "channel": new.channel},
        now,
    )
    await announce(connection, "create", incident_id, now)
    return incident_id


async def _departments(connection: AsyncConnection, incident_id: int) -> list[str]:
    rows = await connection.execute(
        select(incident_departments.c.department)
        .where(incident_departments.c.incident_id == incident_id)
        .order_by(incident_departments.c.department)
    )
    return [r.department for r in rows]


async def _row_for(connection: AsyncConnection, incident_id: int, principal: Principal) -> Any:
    """The incident's row if `principal` may see it: 404 when there is none, 403 when it
    belongs to other departments only."""
    require_staff(principal)
    row = (await connection.execute(select(incidents).where(incidents.c.id == incident_id))).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    if principal.role is Role.DEPARTMENT:
        codes = await _departments(connection, incident_id)
        if principal.department not in codes:
            raise Forbidden(f"incident {incident_id} is not routed to your department")
    return row


def incident_json(
    row: Any, codes: list[str], catalogue: Catalogue, done: Mapping[int, Any], now: datetime
) -> dict[str, Any]:
    steps = catalogue.categories[row.category].sop if row.category in catalogue.categories else ()
    return {
        "id": row.id,
        "category": row.category,
        "priority": row.priority,
        "title": row.title,
        "description": row.description,
        "location": row.location,
        "district": row.district,
        "address": row.address,
        "source": row.source,
        "channel": row.channel,
        "status": row.status,
        "status_notes": row.status_notes,
        "assignee": row.assignee,
        "department_codes": codes,
        "created_by": row.created_by,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "acknowledged_at": _iso(row.acknowledged_at),
        "resolved_at": _iso(row.resolved_at),
        "closed_at": _iso(row.closed_at),
        "respond_by": _iso(row.respond_by),
        "resolve_by": _iso(row.resolve_by),
        "overdue": is_overdue(row, now),
        "escalation_level": row.escalation_level,
        "alert_id": row.alert_id,
        "attributes": row.attributes,
        "media_url": row.media_url,
        "checklist": [
            {
                "step": index,
                "text": text,
                "done": index in done,
                "done_at": _iso(done[index].done_at) if index in done else None,
                "done_by": done[index].done_by if index in done else None,
            }
            for index, text in enumerate(steps)
        ],
    }


async def read_incident(
    connection: AsyncConnection, catalogue: Catalogue, incident_id: int, principal: Principal
) -> dict[str, Any]:
    """One incident with its checklist, timeline and attachments (as `principal` may see)."""
    row = await _row_for(connection, incident_id, principal)
    done = {
        r.step: r
        for r in await connection.execute(
            select(incident_checklist).where(incident_checklist.c.incident_id == incident_id)
        )
    }
    document = incident_json(
        row, await _departments(connection, incident_id), catalogue, done, datetime.now(UTC)
    )
    document["contact"] = row.contact
    document["timeline"] = [
        {"at": _iso(r.at), "actor": r.actor, "kind": r.kind, "detail": r.detail}
        for r in await connection.execute(
            select(incident_timeline)
            .where(incident_timeline.c.incident_id == incident_id)
            .order_by(incident_timeline.c.id)
        )
    ]
    document["attachments"] = [
        {
            "id": r.id,
            "filename": r.filename,
            "media_type": r.media_type,
            "size": r.size,
            "sha256": r.sha256,
            "created_at": _iso(r.created_at),
            "created_by": r.created_by,
        }
        for r in await connection.execute(
            select(incident_attachments)
            .where(incident_attachments.c.incident_id == incident_id)
            .order_by(incident_attachments.c.id)
        )
    ]
    return document


@dataclass(frozen=True)
class IncidentFilter:
    department: str | None = None
    category: str | None = None
    priority: str | None = None
    status: str | None = None
    overdue: bool | None = None
    top: int = 100
    skip: int = 0


async def list_incidents(
    connection: AsyncConnection, catalogue: Catalogue, principal: Principal, where: IncidentFilter
) -> list[dict[str, Any]]:
    """Incidents `principal` may see that match `where`, newest first."""
    require_staff(principal)
    now = datetime.now(UTC)
    query = select(incidents)
    departments = [where.department] if where.department else []
    if principal.role is Role.DEPARTMENT:
        if where.department and where.department != principal.department:
            raise Forbidden("department: a department user sees only its own department")
        departments = [principal.department or ""]
    if departments:
        query = query.where(
            exists().where(
                incident_departments.c.incident_id == incidents.c.id,
                incident_departments.c.department == departments[0],
            )
        )
    if where.category:
        query = query.where(incidents.c.category == where.category)
    if where.priority:
        query = query.where(incidents.c.priority == where.priority)
    if where.status:
        query = query.where(incidents.c.status == where.status)
    if where.overdue is not None:
        condition = overdue_condition(now)
        query = query.where(condition if where.overdue else not_(condition))
    query = query.order_by(incidents.c.id.desc()).limit(where.top).offset(where.skip)
    rows = list(await connection.execute(query))
    ids = [r.id for r in rows]
    codes: dict[int, list[str]] = {i: [] for i in ids}
    done: dict[int, dict[int, Any]] = {i: {} for i in ids}
    if ids:
        for r in await connection.execute(
            select(incident_departments)
            .where(incident_departments.c.incident_id.in_(ids))
            .order_by(incident_departments.c.department)
        ):
            codes[r.incident_id].append(r.department)
        for r in await connection.execute(
            select(incident_checklist).where(incident_checklist.c.incident_id.in_(ids))
        ):
            done[r.incident_id][r.step] = r
    return [incident_json(r, codes[r.id], catalogue, done[r.id], now) for r in rows]


_PATCHABLE = ("status", "assignee", "priority", "title", "description", "status_notes")


async def update_incident(
    connection: AsyncConnection,
    catalogue: Catalogue,
    incident_id: int,
    principal: Principal,
    body: Any,
) -> None:
    """Apply a PATCH: status (along TRANSITIONS, 409 naming from and to), assignee, priority
    (deadlines recomputed from the opening time), title, description, status_notes."""
    if not isinstance(body, dict) or not body:
        raise BadRequest("expected a JSON object with one or more of " + ", ".join(_PATCHABLE))
    unknown = set(body) - set(_PATCHABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise BadRequest(f"{name}: cannot be changed (only {', '.join(_PATCHABLE)})", name)
    row = await _row_for(connection, incident_id, principal)
    now = datetime.now(UTC)
    values: dict[str, Any] = {}
    changes: list[tuple[str, dict[str, Any]]] = []
    if "title" in body:
        values["title"] = _text(body, "title", MAX_TITLE, required=True)
        changes.append(("edit", {"field": "title"}))
    if "description" in body:
        values["description"] = _text(body, "description", MAX_TEXT, required=False) or ""
        changes.append(("edit", {"field": "description"}))
    if "status_notes" in body:
        values["status_notes"] = _text(body, "status_notes", MAX_TEXT, required=False)
        changes.append(("edit", {"field": "status_notes"}))
    if "priority" in body:
        priority = _choice(body, "priority", catalogue.priorities, row.priority)
        if priority != row.priority:
            respond, resolve = catalogue.categories[row.category].sla[priority]
            values.update(
                priority=priority,
                respond_by=catalogue.calendar.add_working_hours(row.created_at, respond),
                resolve_by=catalogue.calendar.add_working_hours(row.created_at, resolve),
            )
            changes.append(("priority", {"from": row.priority, "to": priority}))
    status = row.status
    if "assignee" in body:
        assignee = _text(body, "assignee", 200, required=False)
        if assignee != row.assignee:
            values["assignee"] = assignee
            changes.append(("assignee", {"from": row.assignee, "to": assignee}))
            # giving a new incident to someone is what assigning it means
            if assignee and row.status == "new" and "status" not in body:
                status = "assigned"
    if "status" in body:
        status = _choice(body, "status", STATUSES, row.status)
        if status != row.status and status not in TRANSITIONS[row.status]:
            raise Conflict(
                f"status: cannot go from {row.status!r} to {status!r} (allowed: "
                f"{', '.join(sorted(TRANSITIONS[row.status])) or 'none'})",
                "status",
            )
    if status != row.status:
        values["status"] = status
        if row.acknowledged_at is None:
            values["acknowledged_at"] = now
        if status == "resolved":
            values["resolved_at"] = now
        elif status == "closed":
            values["closed_at"] = now
        elif row.status in ("resolved", "closed"):
            values.update(resolved_at=None, closed_at=None)
        reopen = row.status in ("resolved", "closed") and status not in ("resolved", "closed")
        kind = "reopen" if reopen else "status"
        changes.append((kind, {"from": row.status, "to": status}))
    if not values:
        return
    values["updated_at"] = now
    await connection.execute(update(incidents).where(incidents.c.id == incident_id).values(values))
    for kind, detail in changes:
        await _timeline(connection, incident_id, principal.name, kind, detail, now)
    await announce(connection, "update", incident_id, now)


async def add_comment(
    connection: AsyncConnection, incident_id: int, principal: Principal, body: Any
) -> None:
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object with 'text'")
    text = _text(body, "text", MAX_TEXT, required=True)
    await _row_for(connection, incident_id, principal)
    now = datetime.now(UTC)
    await _timeline(connection, incident_id, principal.name, "comment", {"text": text}, now)
    await connection.execute(
        update(incidents).where(incidents.c.id == incident_id).values(updated_at=now)
    )


async def tick_step(
    connection: AsyncConnection,
    catalogue: Catalogue,
    incident_id: int,
    step: int,
    principal: Principal,
) -> None:
    """Mark SOP step `step` (0-based) of the incident's category done; 409 if it is already."""
    row = await _row_for(connection, incident_id, principal)
    steps = catalogue.categories[row.category].sop
    if not 0 <= step < len(steps):
        raise NotFound(f"step: category {row.category!r} has steps 0 to {len(steps) - 1}", "step")
    already = (
        await connection.execute(
            select(incident_checklist.c.step).where(
                incident_checklist.c.incident_id == incident_id, incident_checklist.c.step == step
            )
        )
    ).first()
    if already is not None:
        raise Conflict(f"step: {step} is done already", "step")
    now = datetime.now(UTC)
    await connection.execute(
        insert(incident_checklist).values(
            incident_id=incident_id, step=step, done_at=now, done_by=principal.name
        )
    )
    await _timeline(
        connection,
        incident_id,
        principal.name,
        "checklist",
        {"step": step, "text": steps[step]},
        now,
    )
    await connection.execute(
        update(incidents).where(incidents.c.id == incident_id).values(updated_at=now)
    )


async def add_attachment_row(
    connection: AsyncConnection,
    incident_id: int,
    principal: Principal,
    *,
    filename: str,
    media_type: str,
    size: int,
    sha256: str,
    storage_key: str,
) -> int:
    now = datetime.now(UTC)
    result = await connection.execute(
        insert(incident_attachments)
        .returning(incident_attachments.c.id)
        .values(
            incident_id=incident_id,
            filename=filename,
            media_type=media_type,
            size=size,
            sha256=sha256,
            storage_key=storage_key,
            created_at=now,
            created_by=principal.name,
        )
    )
    attachment_id = int(result.scalar_one())
    await _timeline(
        connection,
        incident_id,
        principal.name,
        "attachment",
        {"id": attachment_id, "filename": filename, "media_type": media_type, "size": size},
        now,
    )
    await connection.execute(
        update(incidents).where(incidents.c.id == incident_id).values(updated_at=now)
    )
    return attachment_id


async def check_access(connection: AsyncConnection, incident_id: int, principal: Principal) -> None:
    """404/403 as for reading the incident."""
    await _row_for(connection, incident_id, principal)


async def attachment_row(connection: AsyncConnection, incident_id: int, attachment_id: int) -> Any:
    row = (
        await connection.execute(
            select(incident_attachments).where(
                incident_attachments.c.id == attachment_id,
                incident_attachments.c.incident_id == incident_id,
            )
        )
    ).first()
    if row is None:
        raise NotFound(f"no attachment {attachment_id} on incident {incident_id}")
    return row
