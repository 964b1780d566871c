"""The desk's catalogue as data: departments, categories (SLA, SOP steps, Open311 service
definition), districts, the working calendar and the escalation chain.

Read from a JSON file (the shipped `data/catalogue.json`, or `CITYHELIX_OPS_CATALOGUE`), so a
province changes its departments and deadlines without changing code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

SHIPPED = Path(__file__).with_name("data") / "catalogue.json"
#: how far ahead a deadline may lie (a calendar without working time would loop forever)
_HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days and hours in the province's local time, and its public holidays."""

    offset: timezone
    working_days: frozenset[int]  # Monday = 0
    periods: tuple[tuple[time, time], ...]
    holidays: frozenset[date]

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        if day.weekday() not in self.working_days or day in self.holidays:
            return []
        return [
            (datetime.combine(day, a, self.offset), datetime.combine(day, b, self.offset))
            for a, b in self.periods
        ]

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start` (UTC)."""
        left = timedelta(hours=hours)
        day = start.astimezone(self.offset).date()
        for _ in range(_HORIZON_DAYS):
            for begin, end in self._intervals(day):
                begin = max(begin, start)
                if begin >= end:
                    continue
                if end - begin >= left:
                    return (begin + left).astimezone(UTC)
                left -= end - begin
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working time in the next three years")

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours between two moments (0 when `end` is not after `start`)."""
        total = timedelta()
        day = start.astimezone(self.offset).date()
        last = end.astimezone(self.offset).date()
        while day <= last:
            for begin, finish in self._intervals(day):
                begin, finish = max(begin, start), min(finish, end)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total.total_seconds() / 3600


@dataclass(frozen=True)
class Attribute:
    """An Open311 service attribute (GeoReport v2 service definition)."""

    code: str
    datatype: str  # string, number, datetime, text, singlevaluelist, multivaluelist
    required: bool
    description: str
    order: int
    values: tuple[tuple[str, str], ...]  # (key, name)


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    description: str
    group: str
    #: priority -> (respond-by, resolve-by) in working hours
    sla: dict[str, tuple[float, float]]
    sop: tuple[str, ...]
    attributes: tuple[Attribute, ...]


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    categories: frozenset[str]
    #: district codes covered; empty: the whole province
    districts: frozenset[str]

    def covers(self, category: str, district: str | None) -> bool:
        if category not in self.categories:
            return False
        return not self.districts or (district is not None and district in self.districts)


@dataclass(frozen=True)
class District:
    code: str
    name: str
    lon: float
    lat: float
    radius_km: float


@dataclass(frozen=True)
class EscalationLevel:
    """Who an overdue incident goes to, once it is `after_hours` working hours overdue."""

    level: str
    after_hours: float


@dataclass(frozen=True)
class Catalogue:
    source: str
    calendar: WorkingCalendar
    departments: dict[str, Department]
    categories: dict[str, Category]
    districts: dict[str, District]
    priorities: tuple[str, ...]
    escalation: tuple[EscalationLevel, ...]
    #: who gets what no department owns (a category nobody covers in that district)
    fallback_department: str

    def route(self, category: str, district: str | None) -> list[str]:
        """The departments that own `category` where `district` is (all of them), or the
        fallback department when none does."""
        codes = sorted(d.code for d in self.departments.values() if d.covers(category, district))
        return codes or [self.fallback_department]

    def district_at(self, lon: float, lat: float) -> str | None:
        """The district whose area holds the point (the nearest centre among those)."""
        best: tuple[float, str] | None = None
        for district in self.districts.values():
            distance = _distance_km(lon, lat, district.lon, district.lat)
            if distance <= district.radius_km and (best is None or distance < best[0]):
                best = (distance, district.code)
        return best[1] if best else None


def _distance_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), ample for district areas of a few kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _clock(text: str) -> time:
    return time.fromisoformat(text)


def parse_catalogue(raw: dict[str, Any]) -> Catalogue:
    """A catalogue from its JSON document; ValueError naming what is wrong."""
    cal = raw["calendar"]
    calendar = WorkingCalendar(
        offset=timezone(timedelta(hours=float(cal["utc_offset_hours"]))),
        working_days=frozenset(int(d) for d in cal["working_days"]),
        periods=tuple((_clock(a), _clock(b)) for a, b in cal["working_periods"]),
        holidays=frozenset(date.fromisoformat(d) for d in cal["holidays"]),
    )
    priorities = tuple(raw["priorities"])
    categories: dict[str, Category] = {}
    for c in raw["categories"]:
        sla = {p: (float(v[0]), float(v[1])) for p, v in c["sla"].items()}
        if set(sla) != set(priorities):
            raise ValueError(f"category {c['code']!r}: its SLA must name every priority")
        categories[c["code"]] = Category(
            code=c["code"],
            name=c["name"],
            description=c.get("description", ""),
            group=c.get("group", ""),
            sla=sla,
            sop=tuple(c.get("sop", ())),
            attributes=tuple(
                Attribute(
                    code=a["code"],
                    datatype=a["datatype"],
                    required=bool(a.get("required", False)),
                    description=a.get("description", ""),
                    order=int(a.get("order", i + 1)),
                    values=tuple((v["key"], v["name"]) for v in a.get("values", ())),
                )
                for i, a in enumerate(c.get("attributes", ()))
            ),
        )
    districts = {
        d["code"]: District(d["code"], d["name"], d["lon"], d["lat"], d["radius_km"])
        for d in raw["districts"]
    }
    departments: dict[str, Department] = {}
    for d in raw["departments"]:
        unknown = (set(d["categories"]) - set(categories)) | (set(d["districts"]) - set(districts))
        if unknown:
            raise ValueError(f"department {d['code']!r}: unknown codes {sorted(unknown)}")
        departments[d["code"]] = Department(
            d["code"], d["name"], frozenset(d["categories"]), frozenset(d["districts"])
        )
    if raw["fallback_department"] not in departments:
        raise ValueError(f"fallback_department {raw['fallback_department']!r} is not a department")
    return Catalogue(
        source=raw.get("source", ""),
        calendar=calendar,
        departments=departments,
        categories=categories,
        districts=districts,
        priorities=priorities,
        escalation=tuple(
            EscalationLevel(e["level"], float(e["after_hours"])) for e in raw["escalation"]
        ),
        fallback_department=raw["fallback_department"],
    )


@lru_cache(maxsize=4)
def load_catalogue(path: str = "") -> Catalogue:
    """The catalogue at `path` ("" for the shipped one), read once per process."""
    return parse_catalogue(orjson.loads((Path(path) if path else SHIPPED).read_bytes()))
