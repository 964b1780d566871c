"""VN_AQI as Decision 1459/QĐ-TCMT computes it, pure (no I/O): sub-indices by linear
interpolation between Table 2's breakpoints, NowCast for hourly PM, 24-hour means for daily
PM, O3 daily as the higher of its 1-hour and 8-hour sub-indices, the completeness rules.

Every number comes from `vn_aqi.json` (with its source); this module holds only the method.
Hourly series are given latest hour first (c1 = the hour asked for); `None` is a missing hour.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE_FILE = Path(__file__).with_name("vn_aqi.json")
POLLUTANTS = ("PM2.5", "PM10", "NO2", "SO2", "CO", "O3")
O3_8H = "O3_8h"

Hours = Sequence[float | None]


@dataclass(frozen=True)
class Category:
    """One row of the Decision's Table 1 (range, colour) with Table 3's health advice."""

    key: str
    low: int
    high: int
    name_en: str
    name_vi: str
    colour_name: str
    rgb: tuple[int, int, int]
    advice_en: str
    advice_vi: str
    advice_sensitive_en: str
    advice_sensitive_vi: str

    @property
    def colour(self) -> str:
        """The colour as CSS hex (#RRGGBB)."""
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


@dataclass(frozen=True)
class AqiTable:
    """The Decision's numbers, as read from the data file."""

    source: str
    levels: tuple[float, ...]
    breakpoints: dict[str, tuple[float, ...]]
    categories: tuple[Category, ...]
    nowcast_hours: int
    nowcast_recent: int
    nowcast_min_recent: int
    nowcast_min_weight: float
    daily_hours: int
    daily_min_hours: int
    o3_8h_hours: int
    o3_8h_min_hours: int
    recognition: dict[str, tuple[str, ...]]
    definitions: dict[str, str]


@functools.cache
def table() -> AqiTable:
    """The Decision's tables from `vn_aqi.json`, checked once (a broken file stops the start)."""
    raw: dict[str, Any] = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    levels = tuple(float(v) for v in raw["index_levels"])
    breakpoints = {k: tuple(float(v) for v in row) for k, row in raw["breakpoints"].items()}
    for name, row in breakpoints.items():
        if list(row) != sorted(row) or len(row) > len(levels) or len(set(row)) != len(row):
            raise ValueError(f"{TABLE_FILE.name}: breakpoints.{name} must rise, one per level")
    if set(POLLUTANTS) | {O3_8H} != set(breakpoints):
        raise ValueError(f"{TABLE_FILE.name}: breakpoints must be {POLLUTANTS} and {O3_8H}")
    categories = tuple(
        Category(
            c["key"],
            int(c["low"]),
            int(c["high"]),
            c["name_en"],
            c["name_vi"],
            c["colour"],
            (int(c["rgb"][0]), int(c["rgb"][1]), int(c["rgb"][2])),
            c["advice_en"],
            c["advice_vi"],
            c["advice_sensitive_en"],
            c["advice_sensitive_vi"],
        )
        for c in raw["categories"]
    )
    nowcast, daily = raw["nowcast"], raw["daily"]
    return AqiTable(
        source=raw["source"],
        levels=levels,
        breakpoints=breakpoints,
        categories=categories,
        nowcast_hours=int(nowcast["hours"]),
        nowcast_recent=int(nowcast["recent_hours"]),
        nowcast_min_recent=int(nowcast["min_recent"]),
        nowcast_min_weight=float(nowcast["min_weight"]),
        daily_hours=int(daily["hours"]),
        daily_min_hours=int(daily["min_hours"]),
        o3_8h_hours=int(daily["o3_8h_hours"]),
        o3_8h_min_hours=int(daily["o3_8h_min_hours"]),
        recognition={k: tuple(v) for k, v in raw["recognition"].items() if k in POLLUTANTS},
        definitions={
            uri.rstrip("/"): pollutant
            for pollutant, uris in raw["recognition_definitions"].items()
            if pollutant in POLLUTANTS
            for uri in uris
        },
    )


def sub_index(row: str, concentration: float) -> float | None:
    """The sub-index of `concentration` (µg/m³) on breakpoint row `row` (a pollutant or
    "O3_8h"): linear between the bracketing breakpoints. Above the row's end: the top level,
    except O3's 8-hour row, which is not used there (None)."""
    aqi = table()
    points = aqi.breakpoints[row]
    if concentration < 0 or not math.isfinite(concentration):
        raise ValueError(f"{row}: a concentration must be a finite number >= 0")
    if concentration > points[-1]:
        return None if row == O3_8H else aqi.levels[len(points) - 1]
    for i in range(len(points) - 1):
        low, high = points[i], points[i + 1]
        if concentration <= high:
            i_low, i_high = aqi.levels[i], aqi.levels[i + 1]
            return (i_high - i_low) / (high - low) * (concentration - low) + i_low
    return aqi.levels[0]  # concentration == points[0] == 0 with a one-point row


def round_index(value: float) -> int:
    """An index rounded to an integer, halves up (59.5 -> 60), as published indices are."""
    return math.floor(value + 0.5)


def category_of(aqi: int) -> Category:
    """The Table 1 row of an integer AQI."""
    for category in table().categories:
        if category.low <= aqi <= category.high:
            return category
    return table().categories[-1]


def nowcast(hours: Hours) -> float | None:
    """The Decision's NowCast of the last 12 hourly means (latest first), or None when fewer
    than 2 of the latest 3 hours exist.

    w* = Cmin/Cmax; w = w* above 1/2, else 1/2. For w > 1/2 the weighted mean
    Σ w^(i-1)·c_i / Σ w^(i-1); for w = 1/2 the Decision's Σ (1/2)^i·c_i. Missing hours are
    left out of the sums.
    """
    aqi = table()
    window = list(hours[: aqi.nowcast_hours])
    recent = [c for c in window[: aqi.nowcast_recent] if c is not None]
    if len(recent) < aqi.nowcast_min_recent:
        return None
    present = [(i, c) for i, c in enumerate(window, start=1) if c is not None]
    values = [c for _, c in present]
    highest = max(values)
    ratio = 1.0 if highest == 0 else min(values) / highest
    if ratio > aqi.nowcast_min_weight:
        weight = ratio
        return sum(weight ** (i - 1) * c for i, c in present) / sum(
            weight ** (i - 1) for i, _ in present
        )
    half = aqi.nowcast_min_weight
    return sum(half**i * c for i, c in present)


def _mean(values: Hours, needed: int) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if len(present) >= needed and present else None


@dataclass(frozen=True)
class AqiResult:
    """An index with everything it came from: None when the data do not allow one."""

    aqi: int | None
    dominant: str | None
    sub_indices: dict[str, float]
    inputs: dict[str, float | None]
    #: why there is no index (None when there is one)
    missing: str | None = None

    @property
    def category(self) -> Category | None:
        return None if self.aqi is None else category_of(self.aqi)


def _result(sub_indices: dict[str, float], inputs: dict[str, float | None]) -> AqiResult:
    if "PM2.5" not in sub_indices and "PM10" not in sub_indices:
        return AqiResult(
            None, None, sub_indices, inputs, "no PM2.5 or PM10 value: the Decision needs one"
        )
    dominant = max(sub_indices, key=lambda name: (sub_indices[name], -POLLUTANTS.index(name)))
    return AqiResult(round_index(sub_indices[dominant]), dominant, sub_indices, inputs)


def hourly_aqi(series: Mapping[str, Hours]) -> AqiResult:
    """The hourly index from each pollutant's hourly means, latest (the hour asked) first:
    PM by NowCast over 12 hours, the others by that hour's 1-hour mean."""
    sub_indices: dict[str, float] = {}
    inputs: dict[str, float | None] = {}
    for pollutant in POLLUTANTS:
        hours = series.get(pollutant)
        if not hours:
            continue
        value = nowcast(hours) if pollutant in ("PM2.5", "PM10") else hours[0]
        inputs[pollutant] = value
        if value is not None:
            index = sub_index(pollutant, value)
            if index is not None:
                sub_indices[pollutant] = index
    return _result(sub_indices, inputs)


def daily_aqi(day: Mapping[str, Hours], o3_before: Hours = ()) -> AqiResult:
    """The daily index from the day's 24 hourly means per pollutant (hour 0 first):
    PM by the 24-hour mean (at least 18 hours), SO2/NO2/CO by the highest hourly mean, O3
    by the higher of its highest 1-hour and highest 8-hour running mean's sub-indices.
    `o3_before` holds the 7 hours before the day (oldest first) for the first 8-hour means."""
    aqi = table()
    sub_indices: dict[str, float] = {}
    inputs: dict[str, float | None] = {}
    for pollutant in POLLUTANTS:
        hours = day.get(pollutant)
        if not hours:
            continue
        present = [v for v in hours if v is not None]
        if pollutant in ("PM2.5", "PM10"):
            value = _mean(hours, aqi.daily_min_hours)
            inputs[pollutant] = value
            if value is not None:
                index = sub_index(pollutant, value)
                if index is not None:
                    sub_indices[pollutant] = index
            continue
        value = max(present) if present else None
        inputs[pollutant] = value
        if value is None:
            continue
        index = sub_index(pollutant, value)
        if pollutant == "O3":
            eight = _highest_8h(list(o3_before)[-(aqi.o3_8h_hours - 1) :] + list(hours))
            inputs["O3_8h"] = eight
            if eight is not None:
                index_8h = sub_index(O3_8H, eight)
                if index_8h is not None and (index is None or index_8h > index):
                    index = index_8h
        if index is not None:
            sub_indices[pollutant] = index
    return _result(sub_indices, inputs)


def _highest_8h(hours: Hours) -> float | None:
    """The highest 8-hour running mean over `hours` (oldest first), each needing 6 of 8."""
    aqi = table()
    means = [
        _mean(hours[end - aqi.o3_8h_hours : end], aqi.o3_8h_min_hours)
        for end in range(aqi.o3_8h_hours, len(hours) + 1)
    ]
    found = [m for m in means if m is not None]
    return max(found) if found else None


def recognise(name: str, definition: str) -> str | None:
    """The pollutant an ObservedProperty measures, by its name or its definition's last
    segment (the tokens of `vn_aqi.json`), or None."""
    whole = table().definitions.get(definition.strip().rstrip("/"))
    if whole is not None:
        return whole
    candidates = [name, definition.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]]
    for text in candidates:
        token = "".join(ch for ch in text.lower() if ch.isalnum())
        forms = {token, token.rstrip("x") if token.endswith("xx") else token}
        for suffix in ("massconcentration", "concentration"):
            if token.endswith(suffix):
                forms.add(token.removesuffix(suffix))
        for pollutant, tokens in table().recognition.items():
            if forms & set(tokens):
                return pollutant
    return None
