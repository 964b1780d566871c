"""Actors and collaborations: validated bodies, rows, search and the history of changes.

A body is checked whole before anything is written (the same checks for POST and for the
result of a PATCH), so a refused request changes nothing. Functions here take a
connection; `service` owns the transactions and the audit trail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.helix import fields
from cityhelix.helix.errors import BadRequest, HelixError, Invalid, NotFound
from cityhelix.helix.tables import (
    helix_actors,
    helix_collaborations,
    helix_history,
    helix_participants,
)

ACTOR_KINDS = ("state", "enterprise", "university", "intermediary")
ENTERPRISE_SIZES = ("micro", "small", "medium", "large")
OWNERSHIPS = ("fdi", "domestic")
COLLABORATION_KINDS = ("joint_project", "research_project", "lab", "agreement", "event")
#: the programme's four domains (reference: the province's smart-city programme)
DOMAINS = ("people", "technology", "business", "basic_foundations")
STATUSES = ("planned", "active", "completed", "cancelled")
PARTICIPANT_ROLES = ("lead", "partner", "funder")
OUTPUTS = (
    "publications",
    "patents",
    "products",
    "trained_people",
    "startups_formed",
    "technology_transfers",
)
ACTOR_FIELDS = (
    "name",
    "kind",
    "size",
    "sector",
    "ownership",
    "invest_ref",
    "description",
    "location",
    "links",
    "people",
    "synthetic",
)
COLLABORATION_FIELDS = (
    "title",
    "kind",
    "domain",
    "status",
    "start_date",
    "end_date",
    "budget",
    "currency",
    "funding",
    "outputs",
    "participants",
    "description",
    "synthetic",
)
MAX_PAGE = 500


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadRequest(f"{name}: expected true or false", name)
    return value


def _location(body: Mapping[str, Any]) -> dict[str, Any] | None:
    value = body.get("location")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest("location: expected an object", "location")
    fields.unknown_fields(value, ("address", "district", "latitude", "longitude"), "location.")
    place: dict[str, Any] = {}
    for name in ("address", "district"):
        found = fields.text(value, name, max_length=300)
        if found is not None:
            place[name] = found
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        if value.get(name) is not None:
            try:
                place[name] = fields.number(value, name, minimum=-bound, maximum=bound)
            except BadRequest as error:
                raise type(error)(f"location.{error.message}", f"location.{name}") from None
    if ("latitude" in place) != ("longitude" in place):
        raise Invalid("location: latitude and longitude go together", "location")
    return place


def _links(body: Mapping[str, Any]) -> list[str]:
    value = body.get("links", [])
    if not isinstance(value, list) or len(value) > 50:
        raise BadRequest("links: expected a list of at most 50 URLs", "links")
    for index, link in enumerate(value):
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise BadRequest(f"links[{index}]: expected an http(s) URL", f"links[{index}]")
        if len(link) > 2000:
            raise BadRequest(f"links[{index}]: at most 2000 characters", f"links[{index}]")
    return list(value)


def _people(body: Mapping[str, Any]) -> list[dict[str, str]]:
    people = []
    for index, person in enumerate(fields.object_list(body, "people")):
        where = f"people[{index}]."
        fields.unknown_fields(person, ("name", "role", "email"), where)
        try:
            entry = {
                "name": fields.required_text(person, "name", max_length=200),
                "role": fields.required_text(person, "role", max_length=200),
            }
            email = fields.text(person, "email", max_length=320)
        except BadRequest as error:
            raise BadRequest(where + error.message, where + (error.field or "")) from None
        if email is not None:
            entry["email"] = email
        people.append(entry)
    return people


def actor_values(body: object) -> dict[str, Any]:
    """The columns of an actor from its body, or the error naming the first bad field."""
    body = fields.body_object(body)
    fields.unknown_fields(body, ACTOR_FIELDS)
    kind = fields.choice(body, "kind", ACTOR_KINDS, required=True)
    values: dict[str, Any] = {
        "name": fields.required_text(body, "name"),
        "kind": kind,
        "size": fields.choice(body, "size", ENTERPRISE_SIZES),
        "sector": fields.text(body, "sector", max_length=200),
        "ownership": fields.choice(body, "ownership", OWNERSHIPS),
        "invest_ref": _invest_ref(body),
        "description": fields.text(body, "description", max_length=10_000),
        "location": _location(body),
        "links": _links(body),
        "people": _people(body),
        "synthetic": _flag(body, "synthetic"),
    }
    if kind != "enterprise":
        for name in ("size", "ownership", "invest_ref"):
            if values[name] is not None:
                raise Invalid(f"{name}: only an enterprise has one", name)
    return values


#: an enterprise's link to the investment registry: "project:<id>" or "investor:<id>"
INVEST_REF = re.compile(r"^(project|investor):([1-9][0-9]{0,17})$")


def _invest_ref(body: Mapping[str, Any]) -> str | None:
    value = fields.text(body, "invest_ref", max_length=40)
    if value is not None and not INVEST_REF.match(value):
        raise BadRequest(
            "invest_ref: expected 'project:<id>' or 'investor:<id>' of the investment registry",
            "invest_ref",
        )
    return value


def invest_link(invest_ref: str | None) -> str | None:
    """The investment registry's resource an enterprise is linked to (staff-only there)."""
    found = INVEST_REF.match(invest_ref or "")
    if found is None:
        return None
    return f"/api/invest/{found.group(1)}s/{found.group(2)}"


@dataclass(frozen=True)
class Participant:
    actor_id: int
    role: str


def collaboration_values(body: object) -> tuple[dict[str, Any], list[Participant]]:
    """The columns and the participants of a collaboration from its body."""
    body = fields.body_object(body)
    fields.unknown_fields(body, COLLABORATION_FIELDS)
    values: dict[str, Any] = {
        "title": fields.required_text(body, "title", max_length=500),
        "kind": fields.choice(body, "kind", COLLABORATION_KINDS, required=True),
        "domain": fields.choice(body, "domain", DOMAINS),
        "status": fields.choice(body, "status", STATUSES) or "active",
        "start_date": fields.day(body, "start_date", required=True),
        "end_date": fields.day(body, "end_date"),
        "budget": fields.number(body, "budget"),
        "currency": _currency(body),
        "funding": _funding(body),
        "outputs": _outputs(body),
        "description": fields.text(body, "description", max_length=10_000),
        "synthetic": _flag(body, "synthetic"),
    }
    if values["end_date"] is not None and values["end_date"] < values["start_date"]:
        raise Invalid("end_date: before start_date", "end_date")
    return values, _participants(body)


def _currency(body: Mapping[str, Any]) -> str | None:
    value = fields.text(body, "currency", max_length=3)
    if value is not None and (len(value) != 3 or not value.isalpha() or not value.isupper()):
        raise BadRequest("currency: expected an ISO 4217 code such as VND", "currency")
    return value


def _funding(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    funding = []
    for index, entry in enumerate(fields.object_list(body, "funding")):
        where = f"funding[{index}]."
        fields.unknown_fields(entry, ("source", "amount", "actor_id"), where)
        try:
            item: dict[str, Any] = {
                "source": fields.required_text(entry, "source", max_length=300),
                "amount": fields.number(entry, "amount", required=True),
            }
            if entry.get("actor_id") is not None:
                item["actor_id"] = fields.identifier(entry, "actor_id")
        except HelixError as error:
            raise type(error)(where + error.message, where + (error.field or "")) from None
        funding.append(item)
    return funding


def _outputs(body: Mapping[str, Any]) -> dict[str, int]:
    value = body.get("outputs", {})
    if not isinstance(value, dict):
        raise BadRequest("outputs: expected an object", "outputs")
    fields.unknown_fields(value, OUTPUTS, "outputs.")
    try:
        return {name: fields.count(value, name) for name in OUTPUTS}
    except HelixError as error:
        raise type(error)("outputs." + error.message, "outputs." + (error.field or "")) from None


def _participants(body: Mapping[str, Any]) -> list[Participant]:
    given = fields.object_list(body, "participants")
    if not given:
        raise BadRequest("participants: at least one participant", "participants")
    participants: list[Participant] = []
    for index, entry in enumerate(given):
        where = f"participants[{index}]."
        fields.unknown_fields(entry, ("actor_id", "role"), where)
        try:
            actor_id = fields.identifier(entry, "actor_id")
            role = fields.choice(entry, "role", PARTICIPANT_ROLES, required=True)
        except HelixError as error:
            raise type(error)(where + error.message, where + (error.field or "")) from None
        if any(p.actor_id == actor_id for p in participants):
            raise Invalid(f"{where}actor_id: actor {actor_id} is listed twice", where + "actor_id")
        participants.append(Participant(actor_id, str(role)))
    return participants


# --- rows ---------------------------------------------------------------------------


def actor_json(row: Any, *, personal: bool) -> dict[str, Any]:
    """An actor as the API shows it; its people only to those who may see personal data."""
    document = {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "size": row.size,
        "sector": row.sector,
        "ownership": row.ownership,
        "invest_ref": row.invest_ref,
        "invest_link": invest_link(row.invest_ref),
        "description": row.description,
        "location": row.location,
        "links": row.links,
        "synthetic": row.synthetic,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }
    if personal:
        document["people"] = row.people
    return document


def _body_of_actor(row: Any) -> dict[str, Any]:
    """An actor's current state as a body, for PATCH to merge into and history to compare."""
    return {name: getattr(row, name) for name in ACTOR_FIELDS}


async def actor_row(connection: AsyncConnection, actor_id: int) -> Any:
    row = (
        await connection.execute(select(helix_actors).where(helix_actors.c.id == actor_id))
    ).first()
    if row is None:
        raise NotFound(f"actor {actor_id}: not found", "actor_id")
    return row


async def insert_actor(connection: AsyncConnection, values: dict[str, Any], who: str) -> int:
    now = datetime.now(UTC)
    actor_id: int = (
        await connection.execute(
            insert(helix_actors)
            .values(**values, created_at=now, updated_at=now)
            .returning(helix_actors.c.id)
        )
    ).scalar_one()
    await _record_history(connection, "actor", actor_id, who, {}, _jsonable(values))
    return actor_id


async def patch_actor(connection: AsyncConnection, actor_id: int, patch: object, who: str) -> None:
    row = await actor_row(connection, actor_id)
    patch = fields.body_object(patch)
    fields.unknown_fields(patch, ACTOR_FIELDS)
    before = _body_of_actor(row)
    merged = {k: v for k, v in {**before, **patch}.items() if v is not None}
    values = actor_values(merged)
    await connection.execute(
        update(helix_actors)
        .where(helix_actors.c.id == actor_id)
        .values(**values, updated_at=datetime.now(UTC))
    )
    await _record_history(connection, "actor", actor_id, who, _jsonable(before), _jsonable(values))


async def search_actors(
    connection: AsyncConnection,
    *,
    q: str | None,
    kind: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Any]]:
    query = select(helix_actors)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(
                func.lower(helix_actors.c.name).like(pattern),
                func.lower(func.coalesce(helix_actors.c.sector, "")).like(pattern),
                func.lower(func.coalesce(helix_actors.c.description, "")).like(pattern),
            )
        )
    if kind:
        query = query.where(helix_actors.c.kind == kind)
    return await _page(connection, query, helix_actors.c.id, limit, offset)


async def _page(
    connection: AsyncConnection, query: Select[Any], order: Any, limit: int, offset: int
) -> tuple[int, list[Any]]:
    total = (
        await connection.execute(select(func.count()).select_from(query.subquery()))
    ).scalar_one()
    rows = (await connection.execute(query.order_by(order).limit(limit).offset(offset))).all()
    return int(total), list(rows)


async def check_actors_exist(
    connection: AsyncConnection, participants: Sequence[Participant]
) -> None:
    wanted = [p.actor_id for p in participants]
    found = set(
        (
            await connection.execute(select(helix_actors.c.id).where(helix_actors.c.id.in_(wanted)))
        ).scalars()
    )
    for index, participant in enumerate(participants):
        if participant.actor_id not in found:
            raise Invalid(
                f"participants[{index}].actor_id: no actor {participant.actor_id}",
                f"participants[{index}].actor_id",
            )


async def insert_collaboration(
    connection: AsyncConnection,
    values: dict[str, Any],
    participants: Sequence[Participant],
    who: str,
) -> int:
    await check_actors_exist(connection, participants)
    now = datetime.now(UTC)
    collaboration_id: int = (
        await connection.execute(
            insert(helix_collaborations)
            .values(**values, created_at=now, updated_at=now)
            .returning(helix_collaborations.c.id)
        )
    ).scalar_one()
    await _write_participants(connection, collaboration_id, participants)
    after = {**_jsonable(values), "participants": _participants_json(participants)}
    await _record_history(connection, "collaboration", collaboration_id, who, {}, after)
    return collaboration_id


async def _write_participants(
    connection: AsyncConnection, collaboration_id: int, participants: Sequence[Participant]
) -> None:
    await connection.execute(
        delete(helix_participants).where(helix_participants.c.collaboration_id == collaboration_id)
    )
    await connection.execute(
        insert(helix_participants),
        [
            {"collaboration_id": collaboration_id, "actor_id": p.actor_id, "role": p.role}
            for p in participants
        ],
    )


def _participants_json(participants: Sequence[Participant]) -> list[dict[str, Any]]:
    return [{"actor_id": p.actor_id, "role": p.role} for p in participants]


async def collaboration_row(connection: AsyncConnection, collaboration_id: int) -> Any:
    row = (
        await connection.execute(
            select(helix_collaborations).where(helix_collaborations.c.id == collaboration_id)
        )
    ).first()
    if row is None:
        raise NotFound(f"collaboration {collaboration_id}: not found", "collaboration_id")
    return row


async def participants_of(
    connection: AsyncConnection, collaboration_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each collaboration's participants with their actors' names and kinds."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in collaboration_ids}
    if not collaboration_ids:
        return found
    rows = await connection.execute(
        select(
            helix_participants.c.collaboration_id,
            helix_participants.c.actor_id,
            helix_participants.c.role,
            helix_actors.c.name,
            helix_actors.c.kind,
        )
        .join(helix_actors, helix_actors.c.id == helix_participants.c.actor_id)
        .where(helix_participants.c.collaboration_id.in_(list(collaboration_ids)))
        .order_by(helix_participants.c.collaboration_id, helix_participants.c.actor_id)
    )
    for row in rows:
        found[row.collaboration_id].append(
            {"actor_id": row.actor_id, "role": row.role, "name": row.name, "kind": row.kind}
        )
    return found


def collaboration_json(row: Any, participants: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "kind": row.kind,
        "domain": row.domain,
        "status": row.status,
        "start_date": row.start_date.isoformat(),
        "end_date": row.end_date.isoformat() if row.end_date else None,
        "budget": row.budget,
        "currency": row.currency,
        "funding": row.funding,
        "outputs": row.outputs,
        "participants": participants,
        "description": row.description,
        "synthetic": row.synthetic,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def patch_collaboration(
    connection: AsyncConnection, collaboration_id: int, patch: object, who: str
) -> None:
    row = await collaboration_row(connection, collaboration_id)
    patch = fields.body_object(patch)
    fields.unknown_fields(patch, COLLABORATION_FIELDS)
    current = (await participants_of(connection, [collaboration_id]))[collaboration_id]
    before: dict[str, Any] = {
        name: getattr(row, name) for name in COLLABORATION_FIELDS if name != "participants"
    }
    before["participants"] = [{"actor_id": p["actor_id"], "role": p["role"]} for p in current]
    before = _jsonable(before)
    merged = {k: v for k, v in {**before, **patch}.items() if v is not None}
    values, participants = collaboration_values(merged)
    await check_actors_exist(connection, participants)
    await connection.execute(
        update(helix_collaborations)
        .where(helix_collaborations.c.id == collaboration_id)
        .values(**values, updated_at=datetime.now(UTC))
    )
    await _write_participants(connection, collaboration_id, participants)
    after = {**_jsonable(values), "participants": _participants_json(participants)}
    await _record_history(connection, "collaboration", collaboration_id, who, before, after)


async def search_collaborations(
    connection: AsyncConnection,
    *,
    q: str | None,
    kind: str | None,
    status: str | None,
    domain: str | None,
    actor_id: int | None,
    start_from: date | None,
    start_to: date | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Any]]:
    table = helix_collaborations
    query = select(table)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(
            or_(
                func.lower(table.c.title).like(pattern),
                func.lower(func.coalesce(table.c.description, "")).like(pattern),
            )
        )
    for column, wanted in (
        (table.c.kind, kind),
        (table.c.status, status),
        (table.c.domain, domain),
    ):
        if wanted:
            query = query.where(column == wanted)
    if actor_id is not None:
        query = query.where(
            table.c.id.in_(
                select(helix_participants.c.collaboration_id).where(
                    helix_participants.c.actor_id == actor_id
                )
            )
        )
    if start_from is not None:
        query = query.where(table.c.start_date >= start_from)
    if start_to is not None:
        query = query.where(table.c.start_date <= start_to)
    return await _page(connection, query, table.c.id, limit, offset)


# --- history ------------------------------------------------------------------------


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in values.items()}


async def _record_history(
    connection: AsyncConnection,
    entity_type: str,
    entity_id: int,
    who: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> None:
    """One history row with only the fields that changed (all of them on creation)."""
    changed = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    }
    await connection.execute(
        insert(helix_history).values(
            entity_type=entity_type,
            entity_id=entity_id,
            at=datetime.now(UTC),
            user_name=who,
            change=changed,
        )
    )


async def history_of(
    connection: AsyncConnection, entity_type: str, entity_id: int
) -> list[dict[str, Any]]:
    rows = await connection.execute(
        select(helix_history)
        .where(helix_history.c.entity_type == entity_type, helix_history.c.entity_id == entity_id)
        .order_by(helix_history.c.id)
    )
    return [
        {"at": row.at.isoformat(), "user": row.user_name, "changes": row.change} for row in rows
    ]
