"""The one evaluator: a rule, its state for one Datastream and one reading in; the new state
and the alert transitions out. Pure (no I/O, no clock): live evaluation and preview both
call it, so on the same readings they give the same alerts.

Times are the readings' phenomenon times (a stale check's "now"), so a replay of history
decides exactly as the live run did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime

from cityhelix.ops.alerting.rules import SEVERITIES, Rule, compare

CLEAR, PENDING, FIRING = "clear", "pending", "firing"
#: kinds whose clear state keeps nothing of a reading that does not trigger them (the
#: value is judged alone): such a reading is answered without a new state
QUIET_KINDS = ("threshold", "range")


@dataclass(frozen=True)
class State:
    """What a rule remembers of one Datastream between readings (stored in ops_rule_states)."""

    status: str = CLEAR
    pending_since: datetime | None = None
    last_value: float | None = None
    last_time: datetime | None = None
    #: the newest Observation id evaluated (`evaluate(..., once_per_id=True)`)
    last_observation_id: int = 0
    cleared_at: datetime | None = None
    #: the open alert's severity while firing
    severity: str | None = None
    window: tuple[float, ...] = ()


@dataclass(frozen=True)
class Reading:
    """One numeric reading (observation_id 0: a stale check at `time`, value = age minutes)."""

    observation_id: int
    time: datetime
    value: float


@dataclass(frozen=True)
class Transition:
    """What happens to the (rule, Datastream) alert: raise, repeat, escalate or clear."""

    kind: str
    time: datetime
    value: float
    severity: str


def _measure(rule: Rule, state: State, reading: Reading) -> float | None:
    """The number the rule's levels apply to: the value, its rate per minute, |z| or age."""
    if rule.kind == "rate":
        if state.last_value is None or state.last_time is None:
            return None
        minutes = (reading.time - state.last_time).total_seconds() / 60
        return None if minutes <= 0 else (reading.value - state.last_value) / minutes
    if rule.kind == "anomaly":
        if len(state.window) < max(rule.min_samples, 2):
            return None
        mean = sum(state.window) / len(state.window)
        spread = math.sqrt(sum((v - mean) ** 2 for v in state.window) / (len(state.window) - 1))
        if spread == 0:
            return 0.0 if reading.value == mean else math.inf
        return abs(reading.value - mean) / spread
    return reading.value


def _levels(rule: Rule, measure: float) -> tuple[bool, bool]:
    """(the trigger condition holds, the clear condition holds) for `measure`."""
    if rule.kind == "range":
        assert rule.low is not None and rule.high is not None
        low = rule.low if rule.clear_low is None else rule.clear_low
        high = rule.high if rule.clear_high is None else rule.clear_high
        return measure < rule.low or measure > rule.high, low <= measure <= high
    if rule.kind == "stale":
        assert rule.minutes is not None
        return measure > rule.minutes, measure <= rule.minutes
    return (
        compare(rule.operator, measure, rule.value),
        not compare(rule.operator, measure, rule.clear_level),
    )


def _severity(rule: Rule, measure: float) -> str:
    if (
        rule.escalation_value is not None
        and rule.escalation_severity is not None
        and compare(rule.operator, measure, rule.escalation_value)
    ):
        return rule.escalation_severity
    return rule.severity


def _scheduled(rule: Rule, time: datetime) -> bool:
    if rule.schedule is None:
        return True
    return rule.schedule.active(time.weekday(), time.hour * 60 + time.minute)


def evaluate(
    rule: Rule,
    state: State,
    reading: Reading,
    *,
    min_reraise_seconds: float,
    once_per_id: bool = False,
) -> tuple[State, list[Transition]]:
    """The state after `reading` and what happened to the alert (a repeat is a no-op).

    A reading that changes nothing the rule remembers gives back `state` itself, so the
    caller can tell "nothing to write" by identity (the common case, cheaply).

    Live evaluation tells a reading delivered again by its change's stream position
    (`live.RuleEvaluation.handle`): Observation ids do not come in commit order (two
    writers' transactions overlap). `once_per_id` is for numbers other pillars derive and
    may hand in again (a lighting fault found by the next check too): a reading whose id is
    not newer than the last one evaluated is then skipped."""
    if once_per_id and 0 < reading.observation_id <= state.last_observation_id:
        return state, []
    if rule.kind == "stale":
        return _stale(rule, state, reading, min_reraise_seconds=min_reraise_seconds)
    if rule.kind in QUIET_KINDS and state.status == CLEAR:
        triggered, _ = _levels(rule, reading.value)
        if not (triggered and _scheduled(rule, reading.time)):
            return state, []  # a quiet reading: these kinds remember nothing of it
    measure = _measure(rule, state, reading)
    window = state.window
    if rule.kind == "anomaly":
        window = (*window, reading.value)[-rule.window :]
    after = replace(
        state,
        last_value=reading.value,
        last_time=reading.time,
        last_observation_id=max(reading.observation_id, state.last_observation_id),
        window=window,
    )
    if measure is None:
        return after, []
    triggered, clears = _levels(rule, measure)
    triggered = triggered and _scheduled(rule, reading.time)
    severity = _severity(rule, measure)
    return step(
        rule,
        after,
        reading.time,
        reading.value,
        triggered=triggered,
        clears=clears,
        severity=severity,
        min_reraise_seconds=min_reraise_seconds,
    )


def _stale(
    rule: Rule, state: State, reading: Reading, *, min_reraise_seconds: float
) -> tuple[State, list[Transition]]:
    """A stale rule: a check (observation 0) measures the silence in minutes, a reading
    ends it (age 0 at its own time). One silence is one alert: a later check of a
    Datastream still silent is no new occurrence (no repeat, nothing to write)."""
    age = 0.0 if reading.observation_id else reading.value
    triggered, clears = _levels(rule, age)
    triggered = triggered and _scheduled(rule, reading.time)
    if state.status == FIRING and triggered:
        return state, []
    if state.status == CLEAR and not triggered:
        return state, []
    after = state
    if reading.observation_id:
        after = replace(state, last_observation_id=reading.observation_id)
    return step(
        rule,
        after,
        reading.time,
        age,
        triggered=triggered,
        clears=clears,
        severity=rule.severity,
        min_reraise_seconds=min_reraise_seconds,
    )


def combined(rule: Rule, firing: dict[int, bool]) -> bool:
    """A composite's condition over its rules' firing (any Datastream of each)."""
    values = [firing.get(rule_id, False) for rule_id in rule.rule_ids]
    return all(values) if rule.combine == "and" else any(values)


def evaluate_composite(
    rule: Rule, state: State, firing: dict[int, bool], time: datetime, *, min_reraise_seconds: float
) -> tuple[State, list[Transition]]:
    """A composite after one of its rules changed: fires while the combination holds."""
    holds = combined(rule, firing) and _scheduled(rule, time)
    if state.status == FIRING and holds:
        return state, []  # a child's repeat is not the composite's
    return step(
        rule,
        state,
        time,
        1.0 if holds else 0.0,
        triggered=holds,
        clears=not holds,
        severity=rule.severity,
        min_reraise_seconds=min_reraise_seconds,
    )


def step(
    rule: Rule,
    state: State,
    time: datetime,
    value: float,
    *,
    triggered: bool,
    clears: bool,
    severity: str,
    min_reraise_seconds: float,
) -> tuple[State, list[Transition]]:
    """The pending/firing/clear machine: duration, hysteresis, escalation, flapping."""
    if state.status == FIRING:
        if clears:
            cleared = replace(
                state, status=CLEAR, pending_since=None, cleared_at=time, severity=None
            )
            return cleared, [Transition("clear", time, value, state.severity or rule.severity)]
        if not triggered:
            return state, []  # between the levels: hysteresis keeps it firing
        current = state.severity or rule.severity
        if SEVERITIES.index(severity) > SEVERITIES.index(current):
            return replace(state, severity=severity), [
                Transition("escalate", time, value, severity)
            ]
        return state, [Transition("repeat", time, value, current)]
    if not triggered:
        return replace(state, status=CLEAR, pending_since=None), []
    since = state.pending_since if state.status == PENDING and state.pending_since else time
    held = (time - since).total_seconds() >= rule.for_seconds
    reraise = rule.min_reraise_seconds
    reraise = min_reraise_seconds if reraise is None else reraise
    flapping = state.cleared_at is not None and (time - state.cleared_at).total_seconds() < reraise
    if not held or flapping:
        return replace(state, status=PENDING, pending_since=since), []
    firing = replace(state, status=FIRING, pending_since=None, severity=severity)
    return firing, [Transition("raise", time, value, severity)]
