"""A lighting schedule as data, and the switchings it plans for one lamp and one night.

On at dusk plus an offset, off at dawn plus an offset, both at the lamp's own place;
between them a dimming profile by local time of night; a night named in the exceptions
(a holiday lit all night at full power, an event, a night left dark) takes its own level.
No I/O: the service claims and issues what `due_switchings` returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cityhelix.city.lighting.errors import BadRequest
from cityhelix.city.lighting.sun import night_of

GROUP_KINDS = ("district", "road", "cabinet")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: the most an offset may move a switching (minutes)
MAX_OFFSET = 180
#: a profile's steps and a schedule's exceptions, at most
MAX_ITEMS = 400


@dataclass(frozen=True)
class Step:
    """From local time `start` on (in the night), the lamps burn at `level` %."""

    start: time
    level: int


@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    group_kind: str
    group_value: str
    on_offset_minutes: int
    off_offset_minutes: int
    profile: tuple[Step, ...]
    exceptions: dict[date, int]
    timezone: ZoneInfo


@dataclass(frozen=True)
class Switching:
    """One planned command: at `due_at` (UTC) set the lamp to `level` % (0 is off)."""

    due_at: datetime
    level: int


def _level(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise BadRequest(f"{field}: expected an integer level 0-100", field=field)
    return value


def _offset(body: dict[str, Any], field: str) -> int:
    value = body.get(field, 0)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_OFFSET:
        raise BadRequest(f"{field}: expected whole minutes within ±{MAX_OFFSET}", field=field)
    return value


def schedule_columns(body: object) -> dict[str, Any]:
    """The table columns of a schedule's API body, every field checked (400 naming it)."""
    if not isinstance(body, dict):
        raise BadRequest("expected a JSON object", field="body")
    name = body.get("name")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise BadRequest("name: expected text of 1 to 200 characters", field="name")
    group = body.get("group")
    if not isinstance(group, dict):
        raise BadRequest('group: expected {"kind": "district", "value": "..."}', field="group")
    kind, value = group.get("kind"), group.get("value")
    if kind not in GROUP_KINDS:
        raise BadRequest(
            f"group.kind: expected one of {', '.join(GROUP_KINDS)}", field="group.kind"
        )
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise BadRequest("group.value: expected text of 1 to 200 characters", field="group.value")
    zone = body.get("timezone", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"timezone: unknown time zone {zone!r}", field="timezone") from None
    profile = body.get("profile", [])
    if not isinstance(profile, list) or len(profile) > MAX_ITEMS:
        raise BadRequest(f"profile: expected a list of at most {MAX_ITEMS} steps", field="profile")
    for index, step in enumerate(profile):
        where = f"profile[{index}]"
        if not isinstance(step, dict) or not _HHMM.match(str(step.get("from", ""))):
            raise BadRequest(f"{where}.from: expected a local time HH:MM", field=f"{where}.from")
        _level(step.get("level"), f"{where}.level")
    exceptions = body.get("exceptions", [])
    if not isinstance(exceptions, list) or len(exceptions) > MAX_ITEMS:
        raise BadRequest(
            f"exceptions: expected a list of at most {MAX_ITEMS} nights", field="exceptions"
        )
    for index, night in enumerate(exceptions):
        where = f"exceptions[{index}]"
        try:
            date.fromisoformat(str(night.get("date")) if isinstance(night, dict) else "")
        except ValueError:
            raise BadRequest(f"{where}.date: expected YYYY-MM-DD", field=f"{where}.date") from None
        _level(night.get("level"), f"{where}.level")
    return {
        "name": name.strip(),
        "group_kind": kind,
        "group_value": value,
        "on_offset_minutes": _offset(body, "on_offset_minutes"),
        "off_offset_minutes": _offset(body, "off_offset_minutes"),
        "profile": profile,
        "exceptions": exceptions,
        "timezone": str(zone),
    }


def schedule_of(row: Any) -> Schedule:
    """A stored schedule row as a `Schedule`."""
    return Schedule(
        id=int(row.id),
        name=row.name,
        group_kind=row.group_kind,
        group_value=row.group_value,
        on_offset_minutes=int(row.on_offset_minutes),
        off_offset_minutes=int(row.off_offset_minutes),
        profile=tuple(
            sorted(
                (Step(time.fromisoformat(s["from"]), int(s["level"])) for s in row.profile),
                key=lambda s: (s.start < time(12), s.start),  # evening first, then morning
            )
        ),
        exceptions={date.fromisoformat(e["date"]): int(e["level"]) for e in row.exceptions},
        timezone=ZoneInfo(row.timezone),
    )


def night_plan(schedule: Schedule, lat: float, lon: float, day: date) -> list[Switching]:
    """The switchings of the night that begins on the evening of local date `day`."""
    dusk, dawn = night_of(lat, lon, day, schedule.timezone)
    on_at = dusk + timedelta(minutes=schedule.on_offset_minutes)
    off_at = dawn + timedelta(minutes=schedule.off_offset_minutes)
    if day in schedule.exceptions:
        level = schedule.exceptions[day]
        if level == 0:
            return []  # a night left dark: nothing to switch
        return [Switching(on_at.astimezone(UTC), level), Switching(off_at.astimezone(UTC), 0)]
    level = 100
    planned = []
    for step in schedule.profile:
        on_day = day if step.start >= time(12) else day + timedelta(days=1)
        at = datetime.combine(on_day, step.start, tzinfo=schedule.timezone)
        if at <= on_at:
            level = step.level  # a step before switch-on sets the level it starts at
        elif at < off_at:
            planned.append(Switching(at.astimezone(UTC), step.level))
    return [
        Switching(on_at.astimezone(UTC), level),
        *planned,
        Switching(off_at.astimezone(UTC), 0),
    ]


def due_switchings(
    schedule: Schedule, lat: float, lon: float, now: datetime, catch_up: timedelta
) -> list[Switching]:
    """The switchings due in (now - catch_up, now]: what a run at `now` must have issued."""
    today = now.astimezone(schedule.timezone).date()
    due = []
    for day in (today - timedelta(days=1), today):
        for switching in night_plan(schedule, lat, lon, day):
            if now - catch_up < switching.due_at <= now:
                due.append(switching)
    return due
