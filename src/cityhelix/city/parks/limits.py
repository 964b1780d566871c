"""Applicable limits of a monitoring station from the regulations' data files, chosen by the
station's properties and the reading's time: for wastewater QCVN 40:2011 (C of column A or B
times Kq and Kf) before 1 Sep 2025 and, under the 2025 Circular's transition, until the end of
2031 for stations whose permit does not name QCVN 40:2025 (the column's value, A, B or C);
for stacks QCVN 19/20:2009 (C times Kp and Kv)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

from cityhelix.city.const import KIND_PARK_STACK
from cityhelix.city.errors import Unprocessable
from cityhelix.city.hourly import number
from cityhelix.city.recognition import tokens_of
from cityhelix.hub.service import DatastreamFacts, ThingSummary

WASTEWATER_FILES = {
    "2011": Path(__file__).with_name("qcvn40_2011.json"),
    "2025": Path(__file__).with_name("qcvn40_2025.json"),
}
EMISSION_FILE = Path(__file__).with_name("qcvn19_20_2009.json")
#: the station property naming the edition of its permit ("2025", or "2011": the default)
PERMIT_EDITION = "qcvn40_permit_edition"


@functools.cache
def wastewater(edition: str = "2011") -> dict[str, Any]:
    """The data of QCVN 40's `edition` ("2011" or "2025")."""
    raw: dict[str, Any] = json.loads(WASTEWATER_FILES[edition].read_text(encoding="utf-8"))
    return raw


def edition_at(properties: dict[str, Any], at: datetime, zone: tzinfo = UTC) -> str:
    """The edition of QCVN 40 that judges a reading of `at`: 2011 before the 2025 edition is
    in force; after, 2025 for a station whose permit names it (`qcvn40_permit_edition`
    "2025": a facility permitted since), else 2011 until the transition of Circular
    06/2025/TT-BTNMT Article 3 ends (31 Dec 2031), then 2025. The dates are the province's
    (`zone`): a regulation takes effect at local midnight."""
    new = wastewater("2025")
    day = at.astimezone(zone).date()
    if day < date.fromisoformat(new["in_force_from"]):
        return "2011"
    # a station that does not say is taken for a facility operating before the 2025 edition
    # (as every station the platform knew then): the transition keeps it on 2011, whose
    # values are read from the text, while 2025's Table 1 is unverified in the data
    kept = properties.get(PERMIT_EDITION, "2011")
    if kept == "2025":
        return "2025"
    if kept != "2011":
        raise Unprocessable(
            f"properties.{PERMIT_EDITION}: expected '2011' or '2025', got {kept!r}",
            field=PERMIT_EDITION,
        )
    return "2011" if day <= date.fromisoformat(new["transition"]["until"]) else "2025"


@functools.cache
def emission() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(EMISSION_FILE.read_text(encoding="utf-8"))
    return raw


@dataclass(frozen=True)
class Limit:
    """A parameter's applicable limit: within [low, high] complies (low None: no lower)."""

    parameter: str
    unit: str
    low: float | None
    high: float
    #: C of the column and the factors applied (1 where not applied)
    c: float
    factors: dict[str, float]
    regulation: str
    #: whether the value was confirmed from the regulation's text (None: not assessed)
    verified: bool | None = None
    why: str | None = None

    def exceeded(self, value: float) -> bool:
        return value > self.high or (self.low is not None and value < self.low)

    def ratio(self, value: float) -> float:
        """How many times the limit `value` is: above 1 is an exceedance (for a range, the
        nearer bound's ratio: high over value below the range)."""
        high = value / self.high if self.high > 0 else (1e9 if value > 0 else 0.0)
        if self.low is None:
            return high
        low = self.low / value if value > 0 else 1e9
        return max(high, low)

    def as_json(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "c": self.c,
            "factors": self.factors,
            "regulation": self.regulation,
            "verified": self.verified,
            "why": self.why,
        }


def edition_key(thing: ThingSummary, at: datetime, zone: tzinfo = UTC) -> str:
    """Which table judges the station's reading of `at` ("stack" for a stack's)."""
    if thing.properties.get("kind") == KIND_PARK_STACK:
        return "stack"
    return edition_at(thing.properties, at, zone)


def _band(table: list[dict[str, Any]], key: str, value: float, factor: str) -> float:
    for row in table:
        if row[key] is None or value <= float(row[key]):
            return float(row[factor])
    return float(table[-1][factor])


def kq(receiving: object) -> float:
    """QCVN 40:2011 2.3: Kq of the receiving water ({"type": "river", "flow_m3s": ...},
    {"type": "lake", "volume_m3": ...}, {"type": "coastal_protected" | "coastal_other"})."""
    table = wastewater("2011")["kq"]
    if not isinstance(receiving, dict):
        return 1.0
    kind = receiving.get("type")
    if kind == "river" and (flow := number(receiving.get("flow_m3s"))) is not None:
        return _band(table["river"], "max_flow_m3s", flow, "kq")
    if kind == "lake" and (volume := number(receiving.get("volume_m3"))) is not None:
        return _band(table["lake"], "max_volume_m3", volume, "kq")
    if kind in ("coastal_protected", "coastal_other"):
        return float(table[kind])
    return 1.0


def kf(discharge_m3_per_day: float | None) -> float:
    """QCVN 40:2011 2.4: Kf of the discharge flow (1 when unknown)."""
    if discharge_m3_per_day is None:
        return 1.0
    return _band(wastewater("2011")["kf"], "max_m3_per_day", discharge_m3_per_day, "kf")


def _parameter(facts: DatastreamFacts, table: dict[str, Any]) -> str | None:
    tokens = tokens_of(facts)
    for name, row in table.items():
        if any(t in row["names"] for t in tokens):
            return name
    return None


def _column(
    properties: dict[str, Any], key: str, allowed: tuple[str, ...] = ("A", "B"), default: str = "B"
) -> str:
    column = properties.get(key, default)
    if column not in allowed:
        raise Unprocessable(
            f"properties.{key}: expected {' or '.join(allowed)}, got {column!r}", field=key
        )
    return str(column)


def station_limits(
    thing: ThingSummary,
    facts: list[DatastreamFacts],
    at: datetime | None = None,
    zone: tzinfo = UTC,
) -> dict[int, Limit]:
    """The limit of each of the station's Datastreams that a regulation covers, by id, for a
    reading of `at` (now when None; its date in the province's `zone`)."""
    properties = thing.properties
    found: dict[int, Limit] = {}
    if properties.get("kind") == KIND_PARK_STACK:
        table = emission()
        column = _column(properties, "qcvn19_column")
        flow = number(properties.get("stack_flow_m3_per_h"))
        kp = 1.0 if flow is None else _band(table["kp"], "max_m3_per_h", flow, "kp")
        kv = float(table["kv"].get(str(properties.get("area_type", "3")), 1.0))
        for stream in facts:
            if (name := _parameter(stream, table["qcvn19"])) is not None:
                c = float(table["qcvn19"][name][column])
                found[stream.id] = Limit(
                    name,
                    table["unit"],
                    None,
                    c * kp * kv,
                    c,
                    {"Kp": kp, "Kv": kv},
                    "QCVN 19:2009/BTNMT",
                )
            elif (name := _parameter(stream, table["qcvn20"])) is not None:
                c = float(table["qcvn20"][name]["max"])
                found[stream.id] = Limit(name, table["unit"], None, c, c, {}, "QCVN 20:2009/BTNMT")
        return found
    if edition_at(properties, at or datetime.now(UTC), zone) == "2025":
        return _limits_2025(properties, facts)
    table = wastewater("2011")
    column = _column(properties, "qcvn40_column")
    factors = {
        "Kq": kq(properties.get("receiving_water")),
        "Kf": kf(number(properties.get("discharge_m3_per_day"))),
    }
    for stream in facts:
        name = _parameter(stream, table["parameters"])
        if name is None:
            continue
        row = table["parameters"][name]
        applied = factors if row["factors"] else {"Kq": 1.0, "Kf": 1.0}
        scale = applied["Kq"] * applied["Kf"]
        value = row[column]
        if isinstance(value, list):
            low, high = float(value[0]), float(value[1])
            found[stream.id] = Limit(
                name, row["unit"], low, high, high, applied, table["regulation"]
            )
        else:
            c = float(value)
            found[stream.id] = Limit(
                name, row["unit"], None, round(c * scale, 6), c, applied, table["regulation"]
            )
    return found


def _limits_2025(properties: dict[str, Any], facts: list[DatastreamFacts]) -> dict[int, Limit]:
    """QCVN 40:2025: the value of the permit's column (`qcvn40_2025_column`, else the 2011
    one's), no Kq or Kf; each limit says whether its value was confirmed from the text."""
    table = wastewater("2025")
    column = _column(
        properties,
        "qcvn40_2025_column",
        ("A", "B", "C"),
        default=_column(properties, "qcvn40_column"),
    )
    found: dict[int, Limit] = {}
    for stream in facts:
        name = _parameter(stream, table["parameters"])
        if name is None:
            continue
        row = table["parameters"][name]
        value = row[column]
        low, high = (
            (float(value[0]), float(value[1])) if isinstance(value, list) else (None, float(value))
        )
        found[stream.id] = Limit(
            name,
            row["unit"],
            low,
            high,
            high,
            {},
            table["regulation"],
            bool(row.get("verified", False)),
            row.get("why"),
        )
    return found
