"""Energy of street lamps from their power readings, and the savings against full power.

Step integration: a reading (W) holds until the next one, at most `max_gap_minutes`, and
its energy counts on the province's day it was taken (`Settings.province_timezone`); the
baseline is the lamp's rated power over the same burning time. The method's numbers are data
(energy.json). No I/O.
"""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any

from cityhelix.city.days import local_date
from cityhelix.city.lighting.faults import Sample

_METHOD = json.loads(Path(__file__).with_name("energy.json").read_text("utf-8"))
MAX_GAP = timedelta(minutes=_METHOD["max_gap_minutes"])
ON_FRACTION = float(_METHOD["on_fraction"])
METHOD = (
    f"each power reading holds until the next, at most {_METHOD['max_gap_minutes']} min; "
    "counted on the province's day (its time zone) it was taken; "
    "baseline = rated power while burning"
)


@dataclass
class Totals:
    """kWh drawn and the full-power baseline, in all and by the province's day (ISO date)."""

    kwh: float = 0.0
    baseline_kwh: float = 0.0
    burning_hours: float = 0.0
    days: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(self, other: Totals) -> None:
        self.kwh += other.kwh
        self.baseline_kwh += other.baseline_kwh
        self.burning_hours += other.burning_hours
        for day, kwh in other.days.items():
            self.days[day] += kwh

    def json(self) -> dict[str, Any]:
        savings = self.baseline_kwh - self.kwh
        return {
            "kwh": round(self.kwh, 6),
            "baseline_kwh": round(self.baseline_kwh, 6),
            "savings_kwh": round(savings, 6),
            "savings_percent": round(100 * savings / self.baseline_kwh, 2)
            if self.baseline_kwh > 0
            else None,
            "burning_hours": round(self.burning_hours, 4),
            "days": [{"date": day, "kwh": round(kwh, 6)} for day, kwh in sorted(self.days.items())],
        }


def lamp_energy(samples: list[Sample], rated_watts: float, zone: tzinfo) -> Totals:
    """One lamp's totals from its power readings, oldest first (days: the province's, in
    `zone`)."""
    totals = Totals()
    for reading, following in itertools.pairwise(samples):
        held = min(following.time - reading.time, MAX_GAP).total_seconds() / 3600
        kwh = reading.value * held / 1000
        totals.kwh += kwh
        totals.days[local_date(reading.time, zone).isoformat()] += kwh
        if reading.value >= ON_FRACTION * rated_watts:
            totals.burning_hours += held
            totals.baseline_kwh += rated_watts * held / 1000
    return totals
