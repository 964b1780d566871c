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
