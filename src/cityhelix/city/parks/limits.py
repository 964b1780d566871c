"""Applicable limits of a monitoring station from the regulations' data files: QCVN 40:2011
for wastewater (C of column A or B times Kq and Kf) and QCVN 19/20:2009 for stacks (C times
Kp and Kv), chosen by the station's properties."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityhelix.city.const import KIND_PARK_STACK
from cityhelix.city.errors import Unprocessable
from cityhelix.city.hourly import number
from cityhelix.city.recognition import tokens_of
from cityhelix.hub.service import DatastreamFacts, ThingSummary

WASTEWATER_FILE = Path(__file__).with_name("qcvn40_2011.json")
EMISSION_FILE = Path(__file__).with_name("qcvn19_20_2009.json")


@functools.cache
def wastewater() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(WASTEWATER_FILE.read_text(encoding="utf-8"))
    return raw


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

    def exceeded(self, value: float) -> bool:
        return value > self.high or (self.low is not None and value < self.low)

    def as_json(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "unit": self.unit,
            "low": self.low,
            "high": self.high,
            "c": self.c,
            "factors": self.factors,
            "regulation": self.regulation,
        }


def _band(table: list[dict[str, Any]], key: str, value: float, factor: str) -> float:
    for row in table:
        if row[key] is None or value <= float(row[key]):
            return float(row[factor])
    return float(table[-1][factor])


def kq(receiving: object) -> float:
    """QCVN 40:2011 2.3: Kq of the receiving water ({"type": "river", "flow_m3s": ...},
    {"type": "lake", "volume_m3": ...}, {"type": "coastal_protected" | "coastal_other"})."""
    table = wastewater()["kq"]
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
    return _band(wastewater()["kf"], "max_m3_per_day", discharge_m3_per_day, "kf")


def _parameter(facts: DatastreamFacts, table: dict[str, Any]) -> str | None:
    tokens = tokens_of(facts)
    for name, row in table.items():
        if any(t in row["names"] for t in tokens):
            return name
    return None


def _column(properties: dict[str, Any], key: str) -> str:
    column = properties.get(key, "B")
    if column not in ("A", "B"):
        raise Unprocessable(f"properties.{key}: expected A or B, got {column!r}", field=key)
    return str(column)


def station_limits(thing: ThingSummary, facts: list[DatastreamFacts]) -> dict[int, Limit]:
    """The limit of each of the station's Datastreams that a regulation covers, by id."""
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
    table = wastewater()
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
