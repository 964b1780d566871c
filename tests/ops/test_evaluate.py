"""The evaluator alone (no database, no stream): what one reading does to a rule's state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cityhelix.ops.alerting.evaluate import FIRING, Reading, State, evaluate
from cityhelix.ops.alerting.rules import parse_rule
from tests.ops.readings import threshold

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_reading_with_a_lower_observation_id_than_the_last_is_evaluated() -> None:
    """Two writers' transactions commit out of id order: the lower ids come later and are
    readings all the same (a change delivered again is told by its stream position)."""
    rule = parse_rule(threshold(7), 1)
    state = State()
    counted = 0
    for observation_id, minute in ((121, 0), (140, 1), (100, 2), (120, 3)):
        reading = Reading(observation_id, START + timedelta(minutes=minute), 60.0)
        state, transitions = evaluate(rule, state, reading, min_reraise_seconds=0)
        counted += sum(t.kind in ("raise", "repeat") for t in transitions)
    assert state.status == FIRING
    assert counted == 4


def test_a_number_handed_in_again_once_per_id_is_skipped() -> None:
    """Other pillars' derived readings (a lighting fault the next check finds again) are
    evaluated once per Observation id: not newer than the last one, nothing happens."""
    rule = parse_rule(threshold(7), 1)
    state = State()
    counted = []
    for observation_id in (100, 100, 90, 101):
        reading = Reading(observation_id, START + timedelta(minutes=observation_id), 60.0)
        after, transitions = evaluate(rule, state, reading, min_reraise_seconds=0, once_per_id=True)
        counted.append(sum(t.kind in ("raise", "repeat") for t in transitions))
        assert (after is state) == (observation_id <= state.last_observation_id)
        state = after
    assert counted == [1, 0, 0, 1]
    assert state.last_observation_id == 101
