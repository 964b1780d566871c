"""Site matching over the stored parks and plots, and the ranking engine for given values."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.db.engine import read_connection
from cityhelix.invest import matching, ranking
from cityhelix.invest.errors import BadInput
from cityhelix.invest.leads import lead_row
from cityhelix.invest.schemas import (
    RankIn,
)
from cityhelix.invest.store import plain, require_staff
from cityhelix.invest.tables import (
    parks,
    plots,
    projects,
)


async def lead_needs(engine: AsyncEngine, principal: Principal, lead_id: int) -> matching.SiteNeeds:
    require_staff(principal, "matching a lead")
    async with read_connection(engine) as connection:
        needs = (await lead_row(connection, lead_id)).needs
    return matching.SiteNeeds(
        land_ha=needs.get("land_ha"),
        power_mw=needs.get("power_mw"),
        wastewater_m3_day=needs.get("wastewater_m3_day"),
        sector_vsic=needs.get("sector_vsic"),
        ready_by=date.fromisoformat(needs["ready_by"]) if needs.get("ready_by") else None,
    )


async def match_sites(
    engine: AsyncEngine,
    needs: matching.SiteNeeds,
    *,
    weights: Mapping[str, float] | None = None,
    method: str = "topsis",
    pairwise: list[list[float]] | None = None,
) -> dict[str, Any]:
    """Parks and free plots for `needs`: hard constraints, then the ranking."""
    criteria = matching.criteria_from(weights)
    if method == "ahp" and pairwise is not None and len(pairwise) != len(criteria):
        raise BadInput(
            f"pairwise: expected {len(criteria)} rows, one per criterion in the order "
            f"{', '.join(c.code for c in criteria)}",
            field="pairwise",
        )
    async with read_connection(engine) as connection:
        park_rows = [
            dict(r._mapping) for r in await connection.execute(select(parks).order_by(parks.c.id))
        ]
        plot_rows = [
            dict(r._mapping)
            for r in await connection.execute(select(plots).where(plots.c.status == "free"))
        ]
        cluster: dict[int, int] = {}
        if needs.sector_vsic:
            division = needs.sector_vsic[:2]
            counted = await connection.execute(
                select(projects.c.park_id, func.count())
                .where(
                    projects.c.park_id.is_not(None),
                    projects.c.status == "active",
                    projects.c.sector_vsic.startswith(division, autoescape=True),
                )
                .group_by(projects.c.park_id)
            )
            cluster = {int(park_id): int(count) for park_id, count in counted}
    answer = matching.match(park_rows, plot_rows, cluster, needs, criteria, method, pairwise)
    if not answer["criteria"]:
        answer["criteria"] = [
            {"code": c.code, "weight": c.weight, "direction": c.direction} for c in criteria
        ]
    answer["needs"] = {k: plain(v) for k, v in vars(needs).items()}
    return answer


def rank(body: RankIn) -> dict[str, Any]:
    """`POST /api/invest/sites/rank`: the ranking engine on the values given."""
    ids = [c.id for c in body.candidates]
    if len(set(ids)) != len(ids):
        raise BadInput("candidates[].id: each candidate needs its own id", field="candidates")
    criteria = [ranking.CriterionSpec(c.code, c.weight, c.direction) for c in body.criteria]
    candidates = [ranking.Candidate(c.id, c.values) for c in body.candidates]
    if body.method == "ahp":
        if body.pairwise is None:
            raise BadInput("pairwise: AHP needs a pairwise comparison matrix", field="pairwise")
        return ranking.ahp(criteria, body.pairwise, candidates)
    if body.pairwise is not None:
        raise BadInput("pairwise: only the ahp method takes a pairwise matrix", field="pairwise")
    return ranking.topsis(criteria, candidates)
