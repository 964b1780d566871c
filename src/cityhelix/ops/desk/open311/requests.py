"""Service requests: a GeoReport v2 POST checked field by field into a routed incident, and
incidents shown as public request records (status open/closed, never personal data)."""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.ops.desk.catalogue import Catalogue, Category
from cityhelix.ops.desk.incidents import NewIncident
from cityhelix.ops.desk.tables import incident_departments, incidents
from cityhelix.ops.errors import BadRequest, NotFound

#: the spec's own bounds: description up to 4,000 characters, at most 1,000 records
MAX_DESCRIPTION = 4000
MAX_RECORDS = 1000
DEFAULT_DAYS = 90
CLOSED = ("resolved", "closed")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")


def public_status(status: str) -> str:
    return "closed" if status in CLOSED else "open"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def service_record(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description,
        "metadata": bool(category.attributes),
        "type": "realtime",
        "keywords": "",
        "group": category.group,
    }


def service_definition(category: Category) -> dict[str, Any]:
    return {
        "service_code": category.code,
        "attributes": [
            {
                "variable": True,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": "",
                "order": a.order,
                "description": a.description,
                "values": [{"key": k, "name": n} for k, n in a.values],
            }
            for a in category.attributes
        ],
    }


def _one(form: Mapping[str, list[str]], name: str, limit: int) -> str | None:
    values = form.get(name)
    if not values or values[-1] == "":
        return None
    if len(values[-1]) > limit:
        raise BadRequest(f"{name}: longer than {limit} characters", name)
    return values[-1]


def _coordinate(text: str, name: str, bound: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name}: expected a number in WGS84 degrees", name) from None
    if not math.isfinite(value) or not -bound <= value <= bound:
        raise BadRequest(f"{name}: expected a number between -{bound} and {bound}", name)
    return value


def _attributes(category: Category, form: Mapping[str, list[str]]) -> dict[str, Any]:
    """`attribute[code]` (and `attribute[code][]` for multi-value lists) per the definition."""
    given: dict[str, list[str]] = {}
    for name, values in form.items():
        match = re.fullmatch(r"attribute\[([^\]]{1,100})\](\[\])?", name)
        if match:
            given.setdefault(match.group(1), []).extend(v for v in values if v != "")
    known = {a.code: a for a in category.attributes}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise BadRequest(
            f"attribute[{unknown[0]}]: not an attribute of service {category.code}",
            f"attribute[{unknown[0]}]",
        )
    chosen: dict[str, Any] = {}
    for code, attribute in known.items():
        values = given.get(code, [])
        field = f"attribute[{code}]"
        if not values:
            if attribute.required:
                raise BadRequest(f"{field}: required by service {category.code}", field)
            continue
        keys = {k for k, _ in attribute.values}
        if attribute.datatype in ("singlevaluelist", "multivaluelist"):
            wrong = [v for v in values if v not in keys]
            if wrong:
                raise BadRequest(f"{field}: {wrong[0]!r} is not one of {sorted(keys)}", field)
            if attribute.datatype == "singlevaluelist" and len(values) > 1:
                raise BadRequest(f"{field}: takes one value", field)
        elif attribute.datatype == "number":
            try:
                float(values[-1])
            except ValueError:
                raise BadRequest(f"{field}: expected a number", field) from None
        if any(len(v) > 1000 for v in values):
            raise BadRequest(f"{field}: longer than 1000 characters", field)
        chosen[code] = values if attribute.datatype == "multivaluelist" else values[-1]
    return chosen


def request_from_form(catalogue: Catalogue, form: Mapping[str, list[str]]) -> NewIncident:
    """The incident a POST's form describes (everything checked before anything is stored)."""
    code = _one(form, "service_code", 64)
    if code is None:
        raise BadRequest("service_code: required", "service_code")
    category = catalogue.categories.get(code)
    if category is None:
        raise BadRequest(
            f"service_code: {code!r} is not a service (see services.json)", "service_code"
        )
    lat, lon = _one(form, "lat", 40), _one(form, "long", 40)
    address = _one(form, "address_string", 500)
    address_id = _one(form, "address_id", 100)
    location = None
    district = None
    if (lat is None) != (lon is None):
        field = "long" if lon is None else "lat"
        raise BadRequest(f"{field}: lat and long are given together", field)
    if lat is not None and lon is not None:
        point = [_coordinate(lon, "long", 180), _coordinate(lat, "lat", 90)]
        location = {"type": "Point", "coordinates": point}
        district = catalogue.district_at(point[0], point[1])
    elif address is None and address_id is None:
        raise BadRequest(
            "lat: a location is required: lat and long, address_string or address_id", "lat"
        )
    description = _one(form, "description", MAX_DESCRIPTION) or ""
    media_url = _one(form, "media_url", 2000)
    if media_url is not None and not re.match(r"^https?://[^\s]+$", media_url):
        raise BadRequest("media_url: expected an http or https URL", "media_url")
    email = _one(form, "email", 320)
    if email is not None and not _EMAIL.match(email):
        raise BadRequest("email: expected an e-mail address", "email")
    contact = {
        name: value
        for name in ("email", "first_name", "last_name", "phone", "device_id", "account_id")
        if (value := _one(form, name, 320)) is not None
    }
    attributes = _attributes(category, form)
    return NewIncident(
        category=category.code,
        priority="normal",
        title=f"{category.name}: {address or 'reported location'}"[:200],
        description=description,
        source="citizen",
        channel="app",
        location=location,
        district=district,
        address=address or address_id,
        open311_token=secrets.token_hex(16),
        attributes=attributes or None,
        media_url=media_url,
        contact=contact or None,
    )


def request_record(row: Any, catalogue: Catalogue, departments: Sequence[str]) -> dict[str, Any]:
    """The public record of an incident: no contact, no assignee, no internal notes."""
    category = catalogue.categories.get(row.category)
    point = (row.location or {}).get("coordinates") if row.location else None
    is_point = bool(row.location) and row.location.get("type") == "Point"
    return {
        "service_request_id": row.id,
        "status": public_status(row.status),
        "status_notes": row.status_notes,
        "service_name": category.name if category else row.category,
        "service_code": row.category,
        "description": row.description,
        "agency_responsible": ", ".join(
            catalogue.departments[d].name for d in departments if d in catalogue.departments
        ),
        "service_notice": None,
        "requested_datetime": _iso(row.created_at),
        "updated_datetime": _iso(row.updated_at),
        "expected_datetime": _iso(row.resolve_by),
        "address": row.address,
        "address_id": None,
        "zipcode": None,
        "lat": point[1] if is_point and point else row.lat,
        "long": point[0] if is_point and point else row.lon,
        "media_url": row.media_url,
    }


def _date(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name}: expected a W3C date-time with a zone", name) from None
    if moment.tzinfo is None:
        raise BadRequest(f"{name}: give the time zone (Z or +hh:mm)", name)
    return moment.astimezone(UTC)


async def _departments_of(connection: AsyncConnection, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for r in await connection.execute(
            select(incident_departments)
            .where(incident_departments.c.incident_id.in_(ids))
            .order_by(incident_departments.c.department)
        ):
            found[r.incident_id].append(r.department)
    return found


#: only what came in through Open311 is published there
_PUBLIC = incidents.c.open311_token.is_not(None)


async def find_requests(
    connection: AsyncConnection, catalogue: Catalogue, query: Mapping[str, str]
) -> list[dict[str, Any]]:
    """GET requests: by id list (other filters ignored, as the spec says), or by service
    code, status and date range (default: the last 90 days), newest first, at most 1000."""
    statement = select(incidents).where(_PUBLIC)
    ids_text = query.get("service_request_id")
    if ids_text:
        try:
            ids = [int(i) for i in ids_text.split(",") if i.strip()][:MAX_RECORDS]
        except ValueError:
            raise BadRequest(
                "service_request_id: expected ids separated by commas", "service_request_id"
            ) from None
        statement = statement.where(incidents.c.id.in_(ids))
    else:
        end = _date(query["end_date"], "end_date") if query.get("end_date") else None
        start = _date(query["start_date"], "start_date") if query.get("start_date") else None
        if start is None and end is None:
            start = datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)
        elif start is None and end is not None:
            start = end - timedelta(days=DEFAULT_DAYS)
        if start is not None and end is not None and end < start:
            raise BadRequest("end_date: before start_date", "end_date")
        if start is not None:
            statement = statement.where(incidents.c.created_at >= start)
        if end is not None:
            statement = statement.where(incidents.c.created_at <= end)
        if query.get("service_code"):
            codes = [c for c in query["service_code"].split(",") if c]
            statement = statement.where(incidents.c.category.in_(codes))
        if query.get("status"):
            wanted = set(query["status"].split(","))
            if not wanted <= {"open", "closed"}:
                raise BadRequest("status: expected open, closed or open,closed", "status")
            if wanted == {"open"}:
                statement = statement.where(incidents.c.status.not_in(CLOSED))
            elif wanted == {"closed"}:
                statement = statement.where(incidents.c.status.in_(CLOSED))
    rows = list(
        await connection.execute(
            statement.order_by(incidents.c.created_at.desc(), incidents.c.id.desc()).limit(
                MAX_RECORDS
            )
        )
    )
    departments = await _departments_of(connection, [r.id for r in rows])
    return [request_record(r, catalogue, departments[r.id]) for r in rows]


async def one_request(
    connection: AsyncConnection, catalogue: Catalogue, request_id: str
) -> dict[str, Any]:
    if not request_id.isdigit() or len(request_id) > 18:
        raise NotFound(f"service_request_id: no request {request_id!r}", "service_request_id")
    row = (
        await connection.execute(
            select(incidents).where(_PUBLIC, incidents.c.id == int(request_id))
        )
    ).first()
    if row is None:
        raise NotFound(f"service_request_id: no request {request_id!r}", "service_request_id")
    departments = await _departments_of(connection, [row.id])
    return request_record(row, catalogue, departments[row.id])


async def request_of_token(connection: AsyncConnection, token: str) -> dict[str, Any]:
    row = (
        await connection.execute(
            select(incidents.c.id).where(incidents.c.open311_token == token[:64])
        )
    ).first()
    if row is None:
        raise NotFound(f"token: no request with token {token[:64]!r}", "token")
    return {"service_request_id": row.id, "token": token}
