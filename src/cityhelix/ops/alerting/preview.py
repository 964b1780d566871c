"""Preview: a rule replayed over stored readings through the same evaluator as live
evaluation, in memory, with no side effect: when it would have fired and cleared.

A composite is replayed as live evaluation runs it: its rules are replayed first, and at
each moment one of them raises or clears, the composite is evaluated on which of its rules
are firing then (nested composites likewise). An anomaly rule starts from the window the
Datastream's history gives it at the start of the span, as a new rule does when created.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cityhelix.hub import service as hub
from cityhelix.ops.alerting.evaluate import (
    Reading,
    State,
    Transition,
    evaluate,
    evaluate_composite,
)
from cityhelix.ops.alerting.history import numeric, state_before
from cityhelix.ops.alerting.rules import Rule
from cityhelix.ops.alerting.scope import HubView
from cityhelix.ops.errors import BadRequest

#: readings replayed per Datastream at most (the hub's typed-read bound)
MAX_READINGS = 10_000
#: how deep composites of composites may nest in a preview
MAX_DEPTH = 10

__all__ = ["MAX_READINGS", "Episode", "numeric", "preview", "replay"]


@dataclass
class Episode:
    """One alert a replay raised: on a Datastream, or on none for a composite."""

    datastream_id: int | None
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


def replay(
    rule: Rule,
    datastream_id: int,
    readings: list[Reading],
    *,
    min_reraise_seconds: float,
    state: State | None = None,
) -> list[Episode]:
    """The alerts `readings` raise, in order (the transitions folded into episodes)."""
    state = state or State()
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


def _fold(episodes: list[Episode], datastream_id: int | None, transition: Transition) -> None:
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


@dataclass
class _Replay:
    """One preview's inputs and what it has replayed so far (a rule shared by two
    composites is replayed once)."""

    view: HubView
    rules: Mapping[int, Rule]
    start: datetime
    end: datetime
    min_reraise_seconds: float
    readings: int = 0
    done: dict[int, list[Episode]] = field(default_factory=dict)

    async def episodes(self, rule: Rule, depth: int = 0) -> list[Episode]:
        if rule.id and rule.id in self.done:
            return self.done[rule.id]
        if rule.kind == "composite":
            found = await self._composite(rule, depth)
        else:
            found = await self._reading_rule(rule)
        if rule.id:
            self.done[rule.id] = found
        return found

    async def _reading_rule(self, rule: Rule) -> list[Episode]:
        found: list[Episode] = []
        for datastream_id in await self.view.datastreams_of(rule):
            stored = await hub.readings_between(
                self.view.engine, datastream_id, self.start, self.end, limit=MAX_READINGS
            )
            readings = [
                Reading(r.id, r.phenomenon_time, value)
                for r in stored
                if (value := numeric(r.result)) is not None
            ]
            self.readings += len(readings)
            state = await state_before(self.view.engine, rule, datastream_id, self.start)
            found.extend(
                replay(
                    rule,
                    datastream_id,
                    readings,
                    min_reraise_seconds=self.min_reraise_seconds,
                    state=state,
                )
            )
        return found

    async def _composite(self, rule: Rule, depth: int) -> list[Episode]:
        if depth >= MAX_DEPTH:
            raise BadRequest(f"rule_ids: composites nest deeper than {MAX_DEPTH}", "rule_ids")
        # (time, rule, its alert, raised or cleared): each child's alerts open and close
        moments: list[tuple[datetime, int, int, bool]] = []
        for child_id in rule.rule_ids:
            child = self.rules.get(child_id)
            if child is None:
                continue  # deleted since: live evaluation sees it never firing
            for number, episode in enumerate(await self.episodes(child, depth + 1)):
                moments.append((episode.fired_at, child_id, number, True))
                if episode.cleared_at is not None:
                    moments.append((episode.cleared_at, child_id, number, False))
        moments.sort()
        open_alerts: dict[int, set[int]] = {child_id: set() for child_id in rule.rule_ids}
        state = State()
        found: list[Episode] = []
        # one evaluation per raise and clear, as live evaluation makes them
        for time, child_id, number, raised in moments:
            if raised:
                open_alerts[child_id].add(number)
            else:
                open_alerts[child_id].discard(number)
            firing = {child_id: bool(numbers) for child_id, numbers in open_alerts.items()}
            state, transitions = evaluate_composite(
                rule, state, firing, time, min_reraise_seconds=self.min_reraise_seconds
            )
            for transition in transitions:
                _fold(found, None, transition)
        return found


async def preview(
    view: HubView,
    rule: Rule,
    start: datetime,
    end: datetime,
    *,
    min_reraise_seconds: float,
    rules: Mapping[int, Rule] | None = None,
) -> dict[str, Any]:
    """When `rule` would have fired and cleared on the readings of [start, end); `rules`:
    the stored rules by id, which a composite refers to."""
    replaying = _Replay(view, rules or {}, start, end, min_reraise_seconds)
    episodes = list(await replaying.episodes(rule))
    episodes.sort(key=lambda e: (e.fired_at, e.datastream_id or 0))
    return {
        "from": _time(start),
        "to": _time(end),
        "readings": replaying.readings,
        "alerts": [episode.as_json() for episode in episodes],
    }
