"""What a rule knows of a Datastream's past before it sees a new reading: an anomaly rule's
window filled from the hub's stored history, so it judges the first new reading instead of
waiting for `window` more. Live evaluation (when the rule is made) and preview (at the
start of the replayed span) both start from this, so they agree.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.hub import service as hub
from cityhelix.ops.alerting.evaluate import State
from cityhelix.ops.alerting.rules import Rule


def numeric(result: object) -> float | None:
    """A reading's result as a number the rules compare, or None (text, booleans, ...)."""
    if isinstance(result, bool) or not isinstance(result, int | float):
        return None
    return float(result)


def needs_history(rule: Rule) -> bool:
    return rule.kind == "anomaly"


async def state_before(
    engine: AsyncEngine, rule: Rule, datastream_id: int, moment: datetime
) -> State:
    """The state `rule` starts with on `datastream_id` at `moment`: an anomaly rule's window
    holds the latest `window` numeric readings before it (an empty State for other kinds)."""
    if not needs_history(rule):
        return State()
    stored = await hub.readings_before(engine, datastream_id, moment, limit=rule.window)
    taken = [(r, value) for r in stored if (value := numeric(r.result)) is not None]
    if not taken:
        return State()
    last, last_value = taken[-1]
    return State(
        last_value=last_value,
        last_time=last.phenomenon_time,
        window=tuple(value for _, value in taken),
    )
