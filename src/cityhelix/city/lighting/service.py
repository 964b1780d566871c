"""Street lighting's door: lamps, schedules, Task outcomes, faults and energy, as async calls.

A lamp (or a control cabinet) is a hub Thing with a "switch and dim" TaskingCapability, a
power Datastream (W) and a state Datastream (the level in % the device reports back). The
hub delivers every Task to the device over MQTT (`v1.1/TaskingCapabilities(n)/Tasks`); a
state reading of the Task's level after it was made confirms it, none in time fails it.
Schedules claim each switching in `lighting_issued` (unique per schedule, lamp and time)
before they create its Task, so no restart and no second process issues one twice.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.city.lighting import energy as energy_math
from cityhelix.city.lighting.errors import BadRequest, Forbidden, NotFound
from cityhelix.city.lighting.faults import (
    Fault,
    Sample,
    cabinet_offline,
    criteria,
    lamp_faults,
    lamp_recoveries,
)
from cityhelix.city.lighting.schedule import (
    GROUP_KINDS,
    due_switchings,
    schedule_columns,
    schedule_of,
)
from cityhelix.city.lighting.tables import (
    lighting_fault_rules,
    lighting_issued,
    lighting_schedules,
    lighting_task_outcomes,
)
from cityhelix.events.bus import EventBus
from cityhelix.hub import service as hub
from cityhelix.ops import service as ops
from cityhelix.settings import Settings

#: who issues scheduled Tasks and makes the fault rules (audited under this name)
LIGHTING = Principal("street lighting", Role.OPERATOR)
#: how long a schedule's claim without its Task yet counts as a Task on its way
IN_FLIGHT = timedelta(minutes=1)
#: Thing kinds (`properties.kind`) the lighting service manages
LAMP_KINDS = {"streetlight": "lamp", "lighting_cabinet": "cabinet"}
#: a switching missed by up to this long (a restart, a slow run) is still issued
CATCH_UP = timedelta(minutes=30)
#: a device not told otherwise confirms a Task within this many seconds
DEFAULT_CONFIRMATION_SECONDS = 60
MAX_LAMPS = 10_000
WRITERS = frozenset({Role.ADMIN, Role.OPERATOR})
#: the outcome row of a Task that is not street lighting's (kept only as a read position)
OTHER = "other"
#: the record of the "switch and dim" capability (SWE Common, OGC 17-079r1)
SWITCH_AND_DIM: dict[str, Any] = {
    "type": "DataRecord",
    "field": [
        {
            "name": "on",
            "label": "Switched on",
            "description": "true switches the lamp on, false off",
            "type": "Boolean",
        },
        {
            "name": "level",
            "label": "Dimming level",
            "description": "light output in % of full power (0 is off)",
            "type": "Count",
            "uom": {"code": "%"},
            "optional": True,
            "constraint": {"type": "AllowedValues", "interval": [[0, 100]]},
        },
    ],
}
_W = {"name": "watt", "symbol": "W", "definition": "http://unitsofmeasure.org/ucum.html#W"}
_PERCENT = {"name": "percent", "symbol": "%", "definition": "http://unitsofmeasure.org/ucum.html#%"}
_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@dataclass(frozen=True)
class Lamp:
    """A lamp or cabinet as the lighting service sees it in the hub."""

    thing_id: int
    name: str
    kind: str
    district: str
    road: str
    cabinet: str
    rated_watts: float
    lat: float
    lon: float
    power_datastream_id: int | None
    state_datastream_id: int | None
    capability_id: int | None
    confirmation_seconds: int

    def group(self, kind: str) -> str:
        return {"district": self.district, "road": self.road, "cabinet": self.cabinet}.get(
            kind, str(self.thing_id)
        )


def _writer(principal: Principal) -> None:
    if principal.role not in WRITERS:
        raise Forbidden(f"role {principal.role.value} may not change street lighting")


def _text(body: dict[str, Any], field: str, *, required: bool = True) -> str:
    value = body.get(field, None if required else "")
    if not isinstance(value, str) or (required and not 1 <= len(value.strip()) <= 200):
        raise BadRequest(f"{field}: expected text of 1 to 200 characters", field=field)
    return value.strip()[:200]


def _number(
    body: dict[str, Any], field: str, low: float, high: float, default: float | None = None
) -> float:
    value = body.get(field, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise BadRequest(f"{field}: expected a number from {low:g} to {high:g}", field=field)
    return float(value)


# ---------------------------------------------------------------------------- lamps


async def register_lamp(
    engine: AsyncEngine, principal: Principal, body: object, bus: EventBus | None = None
) -> dict[str, int]:
    """Make a lamp or cabinet in the hub (Thing, Location, power and state Datastreams, the
    "switch and dim" capability and its Actuator) in one deep insert; the ids made."""
    _writer(principal)
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", field="body")
    name = _text(body, "name")
    kind = body.get("kind", "lamp")
    if kind not in ("lamp", "cabinet"):
        raise BadRequest("kind: expected lamp or cabinet", field="kind")
    lon = _number(body, "lon", -180, 180)
    lat = _number(body, "lat", -90, 90)
    rated = _number(body, "rated_watts", 1, 100_000, 100 if kind == "lamp" else 5000)
    confirmation = int(_number(body, "confirmation_seconds", 1, 3600, DEFAULT_CONFIRMATION_SECONDS))
    district = _text(body, "district")
    road = _text(body, "road", required=False)
    cabinet = _text(body, "cabinet", required=False)
    thing_kind = next(k for k, v in LAMP_KINDS.items() if v == kind)
    thing = {
        "name": name,
        "description": "networked LED street lamp"
        if kind == "lamp"
        else "lighting control cabinet",
        "properties": {
            "kind": thing_kind,
            "district": district,
            "road": road,
            "cabinet": cabinet,
            "rated_watts": rated,
        },
        "Locations": [
            {
                "name": name,
                "description": f"{name}, {road or district}",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [lon, lat]},
            }
        ],
        "Datastreams": [
            _stream(f"{name} power", "power", "electric power drawn", _W, "Electric power"),
            _stream(
                f"{name} state",
                "state",
                "light level reported by the device",
                _PERCENT,
                "Light level",
            ),
        ],
        "TaskingCapabilities": [
            {
                "name": "switch and dim",
                "description": "switch on or off and set the light level (0-100 %)",
                "taskingParameters": SWITCH_AND_DIM,
                "properties": {"lighting": "switch and dim", "confirmationSeconds": confirmation},
                "Actuator": {
                    "name": f"{name} driver",
                    "description": "dimmable LED driver with a network controller",
                    "encodingType": "text/html",
                    "metadata": "https://www.dali-alliance.org/dali/",
                },
            }
        ],
    }
    try:
        thing_id = await hub.create_document(
            engine, principal, "Things", thing, "/api/city/lighting/lamps", bus
        )
    except hub.HubError as error:
        raise BadRequest(error.message, field=error.field) from None
    (lamp,) = [lamp for lamp in await lamps(engine) if lamp.thing_id == thing_id]
    assert lamp.power_datastream_id and lamp.state_datastream_id and lamp.capability_id
    return {
        "thing_id": thing_id,
        "capability_id": lamp.capability_id,
        "power_datastream_id": lamp.power_datastream_id,
        "state_datastream_id": lamp.state_datastream_id,
    }


def _stream(
    name: str, role: str, description: str, unit: dict[str, str], prop: str
) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "observationType": _MEASUREMENT,
        "unitOfMeasurement": unit,
        "properties": {"lighting": role},
        "Sensor": {
            "name": "luminaire controller",
            "description": "LED luminaire controller with power metering",
            "encodingType": "text/html",
            "metadata": "https://www.dali-alliance.org/dali/",
        },
        "ObservedProperty": {
            "name": prop,
            "definition": f"https://cityhelix.example/def/lighting/{role}",
            "description": description,
        },
    }


def _lamp_of(document: dict[str, Any]) -> Lamp | None:
    properties = document.get("properties") or {}
    kind = LAMP_KINDS.get(str(properties.get("kind")))
    point = None
    for place in document.get("Locations", []):
        geometry = place.get("location") or {}
        if geometry.get("type") == "Point":
            point = geometry["coordinates"]
            break
    if kind is None or point is None:
        return None
    streams = {
        (d.get("properties") or {}).get("lighting"): int(d["@iot.id"])
        for d in document.get("Datastreams", [])
    }
    capability = next(
        (
            c
            for c in document.get("TaskingCapabilities", [])
            if (c.get("properties") or {}).get("lighting") == "switch and dim"
        ),
        None,
    )
    rated = properties.get("rated_watts")
    return Lamp(
        thing_id=int(document["@iot.id"]),
        name=str(document["name"]),
        kind=kind,
        district=str(properties.get("district", "")),
        road=str(properties.get("road", "")),
        cabinet=str(properties.get("cabinet", "")),
        rated_watts=float(rated) if isinstance(rated, int | float) else 100.0,
        lat=float(point[1]),
        lon=float(point[0]),
        power_datastream_id=streams.get("power"),
        state_datastream_id=streams.get("state"),
        capability_id=int(capability["@iot.id"]) if capability else None,
        confirmation_seconds=int(
            (capability or {})
            .get("properties", {})
            .get("confirmationSeconds", DEFAULT_CONFIRMATION_SECONDS)
        ),
    )


async def lamps(engine: AsyncEngine) -> list[Lamp]:
    """Every lamp and cabinet in the hub, by Thing id."""
    condition = " or ".join(f"properties/kind eq '{kind}'" for kind in LAMP_KINDS)
    document = await hub.read_document(
        engine,
        "Things",
        {
            "$filter": condition,
            "$orderby": "id",
            "$top": str(MAX_LAMPS),
            # bounded expansions: a lamp has one place, its power and state streams and one
            # capability; within the hub's response budget for MAX_LAMPS of them
            "$expand": "Locations($top=1),Datastreams($top=4),TaskingCapabilities($top=2)",
        },
        max_rows=MAX_LAMPS,
    )
    found = [_lamp_of(item) for item in document["value"]]
    return [lamp for lamp in found if lamp is not None]


def lamp_json(lamp: Lamp) -> dict[str, Any]:
    return {
        "thing_id": lamp.thing_id,
        "name": lamp.name,
        "kind": lamp.kind,
        "district": lamp.district,
        "road": lamp.road,
        "cabinet": lamp.cabinet,
        "rated_watts": lamp.rated_watts,
        "location": {"type": "Point", "coordinates": [lamp.lon, lamp.lat]},
        "capability_id": lamp.capability_id,
        "power_datastream_id": lamp.power_datastream_id,
        "state_datastream_id": lamp.state_datastream_id,
    }


# ---------------------------------------------------------------------------- tasks


async def switch(
    engine: AsyncEngine,
    principal: Principal,
    capability_id: int,
    level: int,
    bus: EventBus | None = None,
    request_path: str = "/api/city/lighting/tasks",
) -> int:
    """Create the Task that sets a lamp to `level` % (0 switches it off); the Task's id."""
    try:
        return await hub.create_document(
            engine,
            principal,
            f"TaskingCapabilities({capability_id})/Tasks",
            {"taskingParameters": {"on": level > 0, "level": level}},
            request_path,
            bus,
        )
    except hub.HubError as error:
        raise BadRequest(error.message, field=error.field) from None


def _task_level(parameters: object) -> int | None:
    if not isinstance(parameters, dict):
        return None
    on, level = parameters.get("on"), parameters.get("level")
    if on is False:
        return 0
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    return 100 if on is True else None


async def track_tasks(engine: AsyncEngine, task_ids: Collection[int], bus: EventBus | None) -> int:
    """Record the Tasks `task_ids` not recorded yet (their creations, as the durable stream
    hands them out) and pass a cabinet's on to its lamps; how many this call recorded.

    `reconcile_tasks` finds new Tasks past the newest id recorded, at once for a request
    that asks; on PostgreSQL a Task whose transaction commits after a younger Task's was
    recorded has a smaller id and would be skipped for ever. The stream's group sees every
    Task once it commits; recording is idempotent, so a Task both find is kept once.
    """
    tasks = await _tasks_by_id(engine, sorted(set(task_ids)))
    if not tasks:
        return 0
    every = await lamps(engine)
    by_capability = {lamp.capability_id: lamp for lamp in every if lamp.capability_id}
    recorded = await _track(engine, tasks, by_capability)
    await _cascade(engine, recorded, every, bus)
    return len(recorded)


async def _tasks_by_id(engine: AsyncEngine, task_ids: list[int]) -> list[dict[str, Any]]:
    """The Tasks `task_ids` that still exist, oldest first, read _TASKS_PER_READ at a time."""
    found: list[dict[str, Any]] = []
    for first in range(0, len(task_ids), _TASKS_PER_READ):
        wanted = task_ids[first : first + _TASKS_PER_READ]
        document = await hub.read_document(
            engine,
            "Tasks",
            {
                "$filter": " or ".join(f"id eq {int(task_id)}" for task_id in wanted),
                "$orderby": "id",
                "$top": str(len(wanted)),
                "$expand": "TaskingCapability($select=id)",
            },
            max_rows=len(wanted),
        )
        found += document["value"]
    return found


#: Tasks named in one SensorThings filter (`id eq 1 or id eq 2 ...`: each `or` is a level
#: of the parser's nesting, which it bounds at 50)
_TASKS_PER_READ = 20


async def _new_tasks(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The Tasks made since the newest one recorded (HTTP, MQTT, schedules), oldest first;
    one committed late with an older id is left to `track_tasks`."""
    async with engine.connect() as connection:
        last = (
            await connection.execute(select(func.max(lighting_task_outcomes.c.task_id)))
        ).scalar_one()
    document = await hub.read_document(
        engine,
        "Tasks",
        {
            "$filter": f"id gt {int(last or 0)}",
            "$orderby": "id",
            "$top": "1000",
            "$expand": "TaskingCapability($select=id)",
        },
        max_rows=1000,
    )
    tasks: list[dict[str, Any]] = document["value"]
    return tasks


async def _track(
    engine: AsyncEngine, tasks: list[dict[str, Any]], by_capability: dict[int, Lamp]
) -> list[dict[str, Any]]:
    """Record the lighting Tasks among `tasks` as pending, due after their lamp's time; the
    rows this call recorded (another process recording one first makes this call fail)."""
    rows = []
    for task in tasks:
        capability_id = int(task["TaskingCapability"]["@iot.id"])
        lamp = by_capability.get(capability_id)
        level = _task_level(task.get("taskingParameters"))
        created = datetime.fromisoformat(task["creationTime"].replace("Z", "+00:00"))
        if lamp is None or level is None:
            # another service's Task: recorded as "other" so that it is not read again
            rows.append(
                {
                    "task_id": int(task["@iot.id"]),
                    "thing_id": 0,
                    "capability_id": capability_id,
                    "level": 0,
                    "status": OTHER,
                    "created_at": created,
                    "due_at": created,
                }
            )
            continue
        rows.append(
            {
                "task_id": int(task["@iot.id"]),
                "thing_id": lamp.thing_id,
                "capability_id": capability_id,
                "level": level,
                "status": "pending",
                "created_at": created,
                "due_at": created + timedelta(seconds=lamp.confirmation_seconds),
            }
        )
    if not rows:
        return []
    async with engine.begin() as connection:
        known = set(
            (
                await connection.execute(
                    select(lighting_task_outcomes.c.task_id).where(
                        lighting_task_outcomes.c.task_id.in_([r["task_id"] for r in rows])
                    )
                )
            ).scalars()
        )
        fresh = [r for r in rows if r["task_id"] not in known]
        if fresh:
            # another reconciliation (the background round, or a request's) may track the
            # same Task at the same moment: the row is kept once, and it reports it
            new_rows = _insert_of(connection.dialect.name)(lighting_task_outcomes)
            statement = new_rows.on_conflict_do_nothing(index_elements=["task_id"]).returning(
                lighting_task_outcomes.c.task_id
            )
            tracked = set((await connection.execute(statement, fresh)).scalars())
            fresh = [r for r in fresh if r["task_id"] in tracked]
    return fresh


def _insert_of(dialect: str) -> Callable[[Table], postgresql.Insert | sqlite.Insert]:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def cabinet_lamps(cabinet: Lamp, every: list[Lamp]) -> list[Lamp]:
    """The lamps a control cabinet feeds: those of its group (its `cabinet` property, else
    its name) that can take a Task."""
    key = cabinet.cabinet or cabinet.name
    return [
        lamp
        for lamp in every
        if lamp.kind == "lamp" and lamp.capability_id is not None and lamp.cabinet == key
    ]


async def _cascade(
    engine: AsyncEngine, recorded: list[dict[str, Any]], every: list[Lamp], bus: EventBus | None
) -> int:
    """Each cabinet Task among the rows this process just recorded, passed on to the lamps
    of its group as Tasks of their own (each confirmed or failed by its lamp); how many.
    Only the process that recorded the cabinet's Task passes it on, so it is done once (a
    crash between the two loses the rest of that cascade, it never doubles it). A Task a
    schedule issued is not passed on: the schedule switches each lamp of its group itself."""
    by_thing = {lamp.thing_id: lamp for lamp in every}
    cabinet_rows = [
        row
        for row in recorded
        if row["status"] == "pending"
        and (found := by_thing.get(int(row["thing_id"]))) is not None
        and found.kind == "cabinet"
    ]
    if not cabinet_rows:
        return 0
    async with engine.connect() as connection:
        # a schedule's Task, or one a schedule has just claimed and not linked yet (in
        # flight; a claim left unlinked by a crash stops counting after IN_FLIGHT)
        issued = (
            await connection.execute(
                select(lighting_issued.c.task_id, lighting_issued.c.thing_id).where(
                    lighting_issued.c.task_id.in_([r["task_id"] for r in cabinet_rows])
                    | (
                        lighting_issued.c.task_id.is_(None)
                        & lighting_issued.c.thing_id.in_([r["thing_id"] for r in cabinet_rows])
                        & (lighting_issued.c.issued_at >= datetime.now(UTC) - IN_FLIGHT)
                    )
                )
            )
        ).all()
    scheduled = {r.task_id for r in issued if r.task_id is not None}
    in_flight = {int(r.thing_id) for r in issued if r.task_id is None}
    made = 0
    for row in cabinet_rows:
        cabinet = by_thing[int(row["thing_id"])]
        if row["task_id"] in scheduled or cabinet.thing_id in in_flight:
            continue
        for lamp in cabinet_lamps(cabinet, every):
            assert lamp.capability_id is not None
            await switch(
                engine,
                LIGHTING,
                lamp.capability_id,
                int(row["level"]),
                bus,
                f"/api/city/lighting/tasks/{row['task_id']}",
            )
            made += 1
    return made


async def reconcile_tasks(
    engine: AsyncEngine,
    settings: Settings,
    now: datetime | None = None,
    bus: EventBus | None = None,
) -> dict[str, int]:
    """Confirm the pending Tasks whose device reported their level, fail those past their
    time (raising a "task_unconfirmed" alert), pass a cabinet's new Task on to its lamps
    (through `bus` to their devices); how many of each."""
    now = now or datetime.now(UTC)
    counts = {"confirmed": 0, "failed": 0, "cascaded": 0}
    fresh = await _new_tasks(engine)
    async with engine.connect() as connection:
        waiting = (
            await connection.execute(
                select(func.count()).where(lighting_task_outcomes.c.status == "pending")
            )
        ).scalar_one()
    if not fresh and not waiting:
        return counts  # the common case: nothing to follow, no lamp to read
    every = await lamps(engine)
    by_capability = {lamp.capability_id: lamp for lamp in every if lamp.capability_id}
    by_thing = {lamp.thing_id: lamp for lamp in every}
    recorded = await _track(engine, fresh, by_capability)
    counts["cascaded"] = await _cascade(engine, recorded, every, bus)
    async with engine.connect() as connection:
        pending = (
            await connection.execute(
                select(lighting_task_outcomes)
                .where(lighting_task_outcomes.c.status == "pending")
                .order_by(lighting_task_outcomes.c.task_id)
                .limit(1000)
            )
        ).all()
    for row in pending:
        lamp = by_thing.get(row.thing_id)
        confirmation = None
        if lamp is not None and lamp.state_datastream_id is not None:
            readings = await hub.readings_between(
                engine, lamp.state_datastream_id, row.created_at, now + timedelta(seconds=1)
            )
            confirmation = next((r for r in readings if _as_number(r.result) == row.level), None)
        if confirmation is not None:
            status, values = (
                "confirmed",
                {"confirmed_at": confirmation.phenomenon_time, "observation_id": confirmation.id},
            )
        elif now >= row.due_at:
            status, values = "failed", {}
        else:
            continue
        async with engine.begin() as connection:
            changed = await connection.execute(
                update(lighting_task_outcomes)
                .where(
                    lighting_task_outcomes.c.task_id == row.task_id,
                    lighting_task_outcomes.c.status == "pending",
                )
                .values(status=status, **values)
            )
        if changed.rowcount != 1:
            continue  # another process settled it first
        counts[status] += 1
        if status == "failed" and lamp is not None and lamp.state_datastream_id is not None:
            fault = Fault("task_unconfirmed", lamp.thing_id, lamp.state_datastream_id, 0, now, 1.0)
            await _raise(engine, settings, fault, observation_id=row.task_id)
    return counts


def _as_number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _outcome_json(row: Any) -> dict[str, Any]:
    return {
        "task_id": row.task_id,
        "thing_id": row.thing_id,
        "capability_id": row.capability_id,
        "level": row.level,
        "status": row.status,
        "created_at": _iso(row.created_at),
        "due_at": _iso(row.due_at),
        "confirmed_at": _iso(row.confirmed_at),
        "observation_id": row.observation_id,
    }


async def task_outcome(
    engine: AsyncEngine,
    settings: Settings,
    task_id: int,
    now: datetime | None = None,
    bus: EventBus | None = None,
) -> dict[str, Any]:
    """A lighting Task's outcome now: pending, confirmed (with the reading) or failed."""
    await reconcile_tasks(engine, settings, now, bus)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(lighting_task_outcomes).where(
                    lighting_task_outcomes.c.task_id == task_id,
                    lighting_task_outcomes.c.status != OTHER,
                )
            )
        ).one_or_none()
    if row is None:
        raise NotFound(f"task_id: no lighting Task {task_id}", field="task_id")
    return _outcome_json(row)


async def task_outcomes(
    engine: AsyncEngine,
    settings: Settings,
    status: str | None = None,
    limit: int = 1000,
    bus: EventBus | None = None,
) -> list[dict[str, Any]]:
    """The newest lighting Tasks' outcomes (of one status when given), newest first."""
    if status is not None and status not in ("pending", "confirmed", "failed"):
        raise BadRequest("status: expected pending, confirmed or failed", field="status")
    await reconcile_tasks(engine, settings, bus=bus)
    query = select(lighting_task_outcomes).order_by(lighting_task_outcomes.c.task_id.desc())
    query = (
        query.where(lighting_task_outcomes.c.status == status)
        if status
        else query.where(lighting_task_outcomes.c.status != OTHER)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query.limit(limit))).all()
    return [_outcome_json(row) for row in rows]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


# ---------------------------------------------------------------------------- schedules


def _schedule_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "group": {"kind": row.group_kind, "value": row.group_value},
        "on_offset_minutes": row.on_offset_minutes,
        "off_offset_minutes": row.off_offset_minutes,
        "profile": row.profile,
        "exceptions": row.exceptions,
        "timezone": row.timezone,
        "created_at": _iso(row.created_at),
        "last_run_at": _iso(row.last_run_at),
    }


async def create_schedule(
    engine: AsyncEngine, principal: Principal, body: object
) -> dict[str, Any]:
    """Store a schedule (400 naming the field when it is not one); it as the API shows it."""
    _writer(principal)
    columns = schedule_columns(body)
    async with engine.begin() as connection:
        schedule_id = (
            await connection.execute(
                insert(lighting_schedules)
                .values(**columns, created_at=datetime.now(UTC))
                .returning(lighting_schedules.c.id)
            )
        ).scalar_one()
    return await schedule_detail(engine, int(schedule_id))


async def schedule_detail(engine: AsyncEngine, schedule_id: int) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(lighting_schedules).where(lighting_schedules.c.id == schedule_id)
            )
        ).one_or_none()
        if row is None:
            raise NotFound(f"schedule_id: no schedule {schedule_id}", field="schedule_id")
        issued = (
            await connection.execute(
                select(lighting_issued)
                .where(lighting_issued.c.schedule_id == schedule_id)
                .order_by(lighting_issued.c.due_at, lighting_issued.c.thing_id)
                .limit(1000)
            )
        ).all()
    return _schedule_json(row) | {
        "issued": [
            {
                "thing_id": i.thing_id,
                "due_at": _iso(i.due_at),
                "level": i.level,
                "task_id": i.task_id,
                "issued_at": _iso(i.issued_at),
            }
            for i in issued
        ]
    }


async def list_schedules(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(lighting_schedules).order_by(lighting_schedules.c.id))
        ).all()
    return [_schedule_json(row) for row in rows]


async def run_schedules(
    engine: AsyncEngine, bus: EventBus | None = None, now: datetime | None = None
) -> int:
    """Issue every switching due now (within the catch-up window) that no run issued yet;
    how many Tasks this run made. A switching is claimed (unique row) before its Task is
    made: a crash in between loses that one switching, it never doubles it."""
    now = now or datetime.now(UTC)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(lighting_schedules))).all()
    if not rows:
        return 0
    every = await lamps(engine)
    made = 0
    for row in rows:
        schedule = schedule_of(row)
        members = [
            lamp
            for lamp in every
            if lamp.capability_id is not None
            and lamp.group(schedule.group_kind) == schedule.group_value
        ]
        for lamp in members:
            for switching in due_switchings(schedule, lamp.lat, lamp.lon, now, CATCH_UP):
                try:
                    async with engine.begin() as connection:
                        claim = (
                            await connection.execute(
                                insert(lighting_issued)
                                .values(
                                    schedule_id=schedule.id,
                                    thing_id=lamp.thing_id,
                                    due_at=switching.due_at,
                                    level=switching.level,
                                    issued_at=now,
                                )
                                .returning(lighting_issued.c.id)
                            )
                        ).scalar_one()
                except IntegrityError:
                    continue  # issued before (this process or another)
                assert lamp.capability_id is not None
                task_id = await switch(
                    engine,
                    LIGHTING,
                    lamp.capability_id,
                    switching.level,
                    bus,
                    f"/api/city/lighting/schedules/{schedule.id}",
                )
                async with engine.begin() as connection:
                    await connection.execute(
                        update(lighting_issued)
                        .where(lighting_issued.c.id == claim)
                        .values(task_id=task_id)
                    )
                made += 1
        async with engine.begin() as connection:
            await connection.execute(
                update(lighting_schedules)
                .where(lighting_schedules.c.id == schedule.id)
                .values(last_run_at=now)
            )
    return made


# ---------------------------------------------------------------------------- faults


async def _fault_rule(engine: AsyncEngine, fault: str) -> int:
    """The operations centre's rule that carries `fault`'s alerts, made on first use.

    It is disabled for live evaluation (it has no reading to compare): the lighting service
    evaluates it itself with 1 (fault: above 0.5 raises) or 0 (the fault ended: clears)
    through `ops.evaluate_reading`.
    """
    async with engine.connect() as connection:
        known = (
            await connection.execute(
                select(lighting_fault_rules.c.rule_id).where(lighting_fault_rules.c.fault == fault)
            )
        ).scalar_one_or_none()
    if known is not None:
        return int(known)
    about = criteria()[fault]
    rule_id = await ops.create_rule(
        engine,
        {
            "name": f"Street lighting: {about['label']}",
            "kind": "threshold",
            "operator": "gt",
            "value": 0.5,
            "severity": about["severity"],
            "cap_category": "Infra",
            "enabled": False,
            "district": "street lighting",
        },
        LIGHTING,
    )
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(lighting_fault_rules).values(fault=fault, rule_id=rule_id)
            )
    except IntegrityError:  # made at the same moment elsewhere: use that one
        return await _fault_rule(engine, fault)
    return rule_id


async def _raise(
    engine: AsyncEngine, settings: Settings, fault: Fault, *, observation_id: int | None = None
) -> int:
    """Raise `fault` as an alert of the operations centre; the number of alert changes."""
    rule_id = await _fault_rule(engine, fault.fault)
    return await ops.evaluate_reading(
        engine,
        settings,
        rule_id,
        datastream_id=fault.datastream_id,
        thing_id=fault.thing_id,
        observation_id=observation_id if observation_id is not None else fault.observation_id,
        time=fault.time,
        value=1.0,
    )


def _samples(readings: list[hub.Reading]) -> list[Sample]:
    return [
        Sample(r.id, r.phenomenon_time, float(r.result))
        for r in readings
        if _as_number(r.result) is not None
    ]


async def detect_faults(
    engine: AsyncEngine,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    raise_alerts: bool = True,
) -> list[dict[str, Any]]:
    """The faults in the readings of start <= time < end (cabinets: silent at `end`), each
    raised as an alert through the operations centre when `raise_alerts` (and the open
    fault alerts whose fault has ended in those readings cleared; `scan_faults` says which)."""
    return (await scan_faults(engine, settings, start, end, raise_alerts=raise_alerts))["faults"]


async def scan_faults(
    engine: AsyncEngine,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    raise_alerts: bool = True,
) -> dict[str, list[dict[str, Any]]]:
    """{"faults": the faults found in start <= time < end, "ended": the open fault alerts
    ended by a reading of the same window}: with `raise_alerts`, each fault is raised and
    each ended one cleared through the operations centre (evaluated in reading order, so
    a fault that came back after its end stays raised)."""
    if end <= start:
        raise BadRequest("to: must be after from", field="to")
    found: list[Fault] = []
    ended: list[Fault] = []
    for lamp in await lamps(engine):
        if lamp.power_datastream_id is None:
            continue
        power = _samples(await hub.readings_between(engine, lamp.power_datastream_id, start, end))
        if lamp.kind == "cabinet":
            latest = await hub.latest_readings(engine, [lamp.power_datastream_id])
            last = latest.get(lamp.power_datastream_id)
            newest = (
                Sample(last.id, last.phenomenon_time, 0.0)
                if last is not None and last.phenomenon_time < end
                else (power[-1] if power else None)
            )
            offline = cabinet_offline(lamp.thing_id, lamp.power_datastream_id, newest, end)
            if offline is not None:
                found.append(offline)
            elif newest is not None:  # it reports: an open "offline" alert ends here
                ended.append(
                    Fault(
                        "cabinet_offline",
                        lamp.thing_id,
                        lamp.power_datastream_id,
                        newest.observation_id,
                        newest.time,
                        0.0,
                    )
                )
            continue
        states: list[Sample] = []
        if lamp.state_datastream_id is not None:
            states = _samples(
                await hub.readings_between(
                    engine, lamp.state_datastream_id, start - timedelta(days=1), end
                )
            )
        place = (lamp.thing_id, lamp.power_datastream_id, lamp.rated_watts, lamp.lat, lamp.lon)
        found.extend(lamp_faults(*place, power, states))
        ended.extend(lamp_recoveries(*place, power, states))
    open_alerts = await _open_fault_alerts(engine) if ended else set()
    ended = [e for e in ended if (e.fault, e.datastream_id) in open_alerts]
    changes: dict[tuple[str, int, int], int] = {}
    if raise_alerts:
        # in reading order per (fault, lamp): a raise and the end that follows it
        steps = [(f, False) for f in found] + [(e, True) for e in ended]
        for event, is_end in sorted(steps, key=lambda step: step[0].observation_id):
            key = (event.fault, event.datastream_id, event.observation_id)
            step = _clear if is_end else _raise
            changes[key] = await step(engine, settings, event)

    def as_json(fault: Fault) -> dict[str, Any]:
        return {
            "fault": fault.fault,
            "label": criteria()[fault.fault]["label"],
            "thing_id": fault.thing_id,
            "datastream_id": fault.datastream_id,
            "observation_id": fault.observation_id or None,
            "time": _iso(fault.time),
            "value": fault.value,
            "alert_changes": changes.get(
                (fault.fault, fault.datastream_id, fault.observation_id), 0
            ),
        }

    return {"faults": [as_json(f) for f in found], "ended": [as_json(e) for e in ended]}


async def _open_fault_alerts(engine: AsyncEngine) -> set[tuple[str, int]]:
    """(fault, power Datastream) of every open lighting fault alert."""
    async with engine.connect() as connection:
        rules = {
            int(row.rule_id): str(row.fault)
            for row in (await connection.execute(select(lighting_fault_rules))).all()
        }
    return {
        (rules[int(a["rule_id"])], int(a["datastream_id"]))
        for a in await ops.alerts_of_rules(engine, list(rules))
        if a["state"] in ("active", "acknowledged") and a["datastream_id"] is not None
    }


async def _clear(engine: AsyncEngine, settings: Settings, ended: Fault) -> int:
    """End `ended.fault`'s alert on the lamp through the operations centre: its rule
    evaluated with a value at which it clears (0; below a legacy rule's clear value)."""
    rule_id = await _fault_rule(engine, ended.fault)
    rule = await ops.read_rule(engine, rule_id)
    level = rule.get("clear_value")
    level = float(rule.get("value", 1) if level is None else level)
    operator = rule.get("operator", "gt")
    still_fires = level < 0.0 if operator == "gt" else level <= 0.0
    return await ops.evaluate_reading(
        engine,
        settings,
        rule_id,
        datastream_id=ended.datastream_id,
        thing_id=ended.thing_id,
        observation_id=ended.observation_id,
        time=ended.time,
        value=level - 1 if still_fires else 0.0,
    )


async def fault_alerts(engine: AsyncEngine) -> list[dict[str, Any]]:
    """The operations centre's alerts raised for lighting faults, newest first, each with
    the fault it is for."""
    async with engine.connect() as connection:
        rules = {
            int(row.rule_id): row.fault
            for row in (await connection.execute(select(lighting_fault_rules))).all()
        }
    alerts = await ops.alerts_of_rules(engine, list(rules))
    return [alert | {"fault": rules.get(int(alert["rule_id"]))} for alert in alerts]


# ---------------------------------------------------------------------------- energy


async def energy(
    engine: AsyncEngine, start: datetime, end: datetime, group: str, zone: tzinfo
) -> dict[str, Any]:
    """kWh per lamp, per group and per day (the province's, in `zone`) from the power readings
    of start <= t < end,
    against a full-power baseline (each lamp at its rated power while it burned)."""
    if group not in (*GROUP_KINDS, "lamp"):
        raise BadRequest(
            f"group: expected one of {', '.join((*GROUP_KINDS, 'lamp'))}", field="group"
        )
    if end <= start:
        raise BadRequest("to: must be after from", field="to")
    if end - start > timedelta(days=366):
        raise BadRequest("to: at most 366 days after from", field="to")
    groups: dict[str, energy_math.Totals] = defaultdict(energy_math.Totals)
    lamps_in: dict[str, int] = defaultdict(int)
    per_lamp = []
    total = energy_math.Totals()
    for lamp in await lamps(engine):
        if lamp.kind != "lamp" or lamp.power_datastream_id is None:
            continue
        samples = await _all_samples(engine, lamp.power_datastream_id, start, end)
        totals = energy_math.lamp_energy(samples, lamp.rated_watts, zone)
        key = lamp.group(group) if group != "lamp" else str(lamp.thing_id)
        groups[key].add(totals)
        lamps_in[key] += 1
        total.add(totals)
        per_lamp.append(
            {"thing_id": lamp.thing_id, "name": lamp.name, "group": key} | totals.json()
        )
    return {
        "from": _iso(start),
        "to": _iso(end),
        "group": group,
        "method": energy_math.METHOD,
        "groups": [
            {"group": key, "lamps": lamps_in[key]} | groups[key].json() for key in sorted(groups)
        ],
        "lamps": per_lamp,
        "total": total.json(),
    }


async def _all_samples(
    engine: AsyncEngine, datastream_id: int, start: datetime, end: datetime
) -> list[Sample]:
    """Every power reading of start <= t < end, read in pages of the hub's typed read."""
    samples: list[Sample] = []
    since = start
    while True:
        readings = await hub.readings_between(engine, datastream_id, since, end)
        fresh = [
            r
            for r in readings
            if not samples or r.id not in {s.observation_id for s in samples[-50:]}
        ]
        samples.extend(_samples(fresh))
        if len(readings) < hub.MAX_TYPED_READ:
            return samples
        since = readings[-1].phenomenon_time


def day_of(value: datetime) -> date:
    return value.astimezone(UTC).date()
