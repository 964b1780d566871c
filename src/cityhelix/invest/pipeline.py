"""The investor pipeline's rules as data: stage order, each stage's deadline, allowed moves.

A lead moves forward (one stage or several: a board lets staff drag it), or to `lost` with
a reason from any stage before `operating`; it never moves back, and `lost` is final.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cityhelix.invest.errors import BadInput, Conflict
from cityhelix.invest.schemas import STAGES

#: days a lead may stay in a stage before it is overdue (None: no deadline). The promotion
#: centre's service standards; the certificate stage follows Law on Investment 2020, Art. 38
#: (15 days to issue an IRC) with room for the investor's own preparation.
STAGE_DAYS: dict[str, int | None] = {
    "lead": 7,
    "first_contact": 14,
    "site_visit": 30,
    "proposal": 30,
    "application": 45,
    "certificate_issued": 90,
    "construction": 540,
    "operating": 180,
    "aftercare": None,
    "lost": None,
}

_LOSABLE = frozenset(STAGES[: STAGES.index("operating")])


def deadline(stage: str, entered_at: datetime) -> datetime | None:
    """When a lead that entered `stage` at `entered_at` becomes overdue."""
    days = STAGE_DAYS[stage]
    return None if days is None else entered_at + timedelta(days=days)


def check_move(current: str, target: str, reason: str | None) -> None:
    """Raise when a lead in `current` may not move to `target`."""
    if current == "lost":
        raise Conflict("stage: a lost lead stays lost; create a new lead", field="stage")
    if target == "lost":
        if current not in _LOSABLE:
            raise Conflict(f"stage: a lead in {current} can no longer be lost", field="stage")
        if not reason:
            raise BadInput("reason: a lost lead needs the reason it was lost", field="reason")
        return
    if STAGES.index(target) <= STAGES.index(current):
        raise Conflict(
            f"stage: a lead moves forward only; it is in {current}, {target} is not after it",
            field="stage",
        )
