"""Preview: a rule replayed over stored readings through the same evaluator as live
evaluation, in memory, with no side effect: when it would have fired and cleared."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cityhelix.hub import service as hub
from cityhelix.ops.alerting.evaluate import Reading, State, Transition, evaluate
from cityhelix.ops.alerting.rules import Rule
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.errors import BadRequest

#: readings replayed per Datastream at most (the hub's typed-read bound)
MAX_READINGS = 10_000


@dataclass
class Episode:
    datastream_id: int
    fired_at: datetime
    severity: str
    value: float
    count: int = 1
    cleared_at: datetime | None = None
    escalations: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "datastream_id": self.datastream_id,
            "fired_at": _time(self.fired_at),
            "cleared_at": _time(self.cleared_at),
            "severity": self.severity,
            "count": self.count,
            "value": self.value,
        }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def numeric(result: object) -> float | None:
    if isinstance(result, bool) or not isinstance(result, int | float):
        return None
    return float(result)


def replay(
    rule: Rule, datastream_id: int, readings: list[Reading], *, min_reraise_seconds: float
) -> list[Episode]:
    """The alerts `readings` raise, in order (the transitions folded into episodes)."""
    state = State()
    episodes: list[Episode] = []
    for reading in _with_stale_checks(rule, readings):
        state, transitions = evaluate(rule, state, reading, min_reraise_seconds=min_reraise_seconds)
        for transition in transitions:
            _fold(episodes, datastream_id, transition)
    return episodes


def _with_stale_checks(rule: Rule, readings: list[Reading]) -> list[Reading]:
    """For a stale rule: the checks a scheduler would have made (ages, not values)."""
    if rule.kind != "stale":
        return readings
    assert rule.minutes is not None
    limit = timedelta(minutes=rule.minutes)
    checks: list[Reading] = []
    for before, after in itertools.pairwise(readings):
        due = before.time + limit + timedelta(seconds=1)
        if due < after.time:
            checks.append(Reading(0, due, (due - before.time).total_seconds() / 60))
        checks.append(Reading(0, after.time, 0.0))
    return checks


def _fold(episodes: list[Episode], datastream_id: int, transition: Transition) -> None:
    if transition.kind == "raise":
        episodes.append(
            Episode(datastream_id, transition.time, transition.severity, transition.value)
        )
        return
    if not episodes:
        return
    current = episodes[-1]
    if transition.kind == "clear":
        current.cleared_at = transition.time
        return
    current.count += 1
    current.value = transition.value
    if transition.kind == "escalate":
        current.severity = transition.severity


async def preview(
    view: HubView, rule: Rule, start: datetime, end: datetime, *, min_reraise_seconds: float
) -> dict[str, Any]:
    """When `rule` would have fired and cleared on the readings of [start, end)."""
    if rule.kind == "composite":
        raise BadRequest("kind: a composite rule is previewed through its rules", field="kind")
    episodes: list[Episode] = []
    replayed = 0
    for datastream_id in await view.datastreams_of(rule):
        stored = await hub.readings_between(
            view.engine, datastream_id, start, end, limit=MAX_READINGS
        )
        readings = [
            Reading(r.id, r.phenomenon_time, value)
            for r in stored
            if (value := numeric(r.result)) is not None
        ]
        replayed += len(readings)
        episodes.extend(
            replay(rule, datastream_id, readings, min_reraise_seconds=min_reraise_seconds)
        )
    episodes.sort(key=lambda e: (e.fired_at, e.datastream_id))
    return {
        "from": _time(start),
        "to": _time(end),
        "readings": replayed,
        "alerts": [episode.as_json() for episode in episodes],
    }
