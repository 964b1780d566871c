"""Faults of lamps and cabinets found in their readings; the criteria are data (faults.json).

Lamp failure (no power drawn while its reported state is on), day-burner (power drawn while
the Sun is up at the lamp's place), flicker (the drawn power going on and off repeatedly)
and cabinet offline (no reading for too long); and the ends of those faults (the lamp draws
power again when on, stops drawing in daylight, steadies, the cabinet reports again). No I/O:
the service reads the readings, calls these and raises and clears the alerts through the
operations centre.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from cityhelix.city.lighting.sun import sun_elevation

CRITERIA_FILE = Path(__file__).with_name("faults.json")


@cache
def criteria() -> dict[str, dict[str, Any]]:
    """Each fault's criteria, by fault name (lamp_failure, day_burner, ...)."""
    faults: dict[str, dict[str, Any]] = json.loads(CRITERIA_FILE.read_text("utf-8"))["faults"]
    return faults


@dataclass(frozen=True)
class Sample:
    """One reading: its Observation id, time and value (W for power, % for state)."""

    observation_id: int
    time: datetime
    value: float


@dataclass(frozen=True)
class Fault:
    fault: str
    thing_id: int
    datastream_id: int
    observation_id: int
    time: datetime
    value: float


def _level_at(states: list[Sample], when: datetime) -> float | None:
    """The reported level in force at `when` (the newest state reading at or before it)."""
    level = None
    for state in states:
        if state.time > when:
            break
        level = state.value
    return level


def lamp_faults(
    thing_id: int,
    power_datastream_id: int,
    rated_watts: float,
    lat: float,
    lon: float,
    power: list[Sample],
    states: list[Sample],
) -> list[Fault]:
    """The lamp failures, day-burns and flickers in `power` (oldest first), the first of
    each kind only: one alert per lamp and fault is what the operations centre wants."""
    found: dict[str, Fault] = {}
    rules = criteria()
    failure_watts = rules["lamp_failure"]["min_power_fraction"] * rated_watts
    burning_watts = rules["day_burner"]["min_power_fraction"] * rated_watts
    daylight = float(rules["day_burner"]["min_sun_elevation_degrees"])

    def note(kind: str, sample: Sample) -> None:
        found.setdefault(
            kind,
            Fault(
                kind,
                thing_id,
                power_datastream_id,
                sample.observation_id,
                sample.time,
                sample.value,
            ),
        )

    for sample in power:
        level = _level_at(states, sample.time)
        if level is not None and level > 0 and sample.value < failure_watts * level / 100:
            note("lamp_failure", sample)
        if sample.value >= burning_watts and sun_elevation(lat, lon, sample.time) > daylight:
            note("day_burner", sample)
    flicker = rules["flicker"]
    on_watts = flicker["min_power_fraction"] * rated_watts
    window = timedelta(minutes=flicker["window_minutes"])
    switches: list[Sample] = []
    for before, after in itertools.pairwise(power):
        if (before.value >= on_watts) != (after.value >= on_watts):
            switches.append(after)
            recent = [s for s in switches if after.time - s.time <= window]
            if len(recent) >= flicker["min_switches"]:
                note("flicker", after)
                break
    return sorted(found.values(), key=lambda f: (f.time, f.fault))


def lamp_recoveries(
    thing_id: int,
    power_datastream_id: int,
    rated_watts: float,
    lat: float,
    lon: float,
    power: list[Sample],
    states: list[Sample],
) -> list[Fault]:
    """For each fault kind, the first reading of `power` (oldest first) that shows the lamp
    well after its last faulty reading of that kind (or from the start when it has none):
    drawing power again while on (lamp failure), dark in daylight (day-burner), steady for
    a whole flicker window (flicker). Each is the reading that ends an open alert."""
    rules = criteria()
    failure_watts = rules["lamp_failure"]["min_power_fraction"] * rated_watts
    burning_watts = rules["day_burner"]["min_power_fraction"] * rated_watts
    daylight = float(rules["day_burner"]["min_sun_elevation_degrees"])
    well: dict[str, Sample | None] = {"lamp_failure": None, "day_burner": None}
    for sample in power:
        level = _level_at(states, sample.time)
        if level is not None and level > 0:
            if sample.value < failure_watts * level / 100:
                well["lamp_failure"] = None  # failing again: a later reading must end it
            elif well["lamp_failure"] is None:
                well["lamp_failure"] = sample
        if sun_elevation(lat, lon, sample.time) > daylight:
            if sample.value >= burning_watts:
                well["day_burner"] = None
            elif well["day_burner"] is None:
                well["day_burner"] = sample
    flicker = rules["flicker"]
    on_watts = flicker["min_power_fraction"] * rated_watts
    window = timedelta(minutes=flicker["window_minutes"])
    steady: Sample | None = None
    if power:
        since = power[0].time  # the last switch (or the first reading)
        for before, after in itertools.pairwise(power):
            if (before.value >= on_watts) != (after.value >= on_watts):
                since, steady = after.time, None
            elif steady is None and after.time - since >= window:
                steady = after
    found = {**well, "flicker": steady}
    return sorted(
        (
            Fault(kind, thing_id, power_datastream_id, s.observation_id, s.time, 0.0)
            for kind, s in found.items()
            if s is not None
        ),
        key=lambda f: (f.time, f.fault),
    )


def cabinet_offline(
    thing_id: int, datastream_id: int, last: Sample | None, now: datetime
) -> Fault | None:
    """A cabinet whose newest reading is older than the criteria allow (or that has none)."""
    silence = timedelta(minutes=criteria()["cabinet_offline"]["max_silence_minutes"])
    if last is not None and now - last.time <= silence:
        return None
    return Fault(
        "cabinet_offline",
        thing_id,
        datastream_id,
        last.observation_id if last is not None else 0,
        now,
        1.0,
    )
