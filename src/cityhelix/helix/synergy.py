"""The Triple Helix synergy of Leydesdorff: mutual information in bits between whether a
university (u), an enterprise (i) and a state actor (g) take part in each collaboration.

Each collaboration is a point (u, i, g) in {0,1}³; H are Shannon entropies of the observed
frequencies; T_uig = H_u + H_i + H_g - H_ui - H_ug - H_ig + H_uig (negative: synergy, a
reduction of uncertainty) and T_xy = H_x + H_y - H_xy (never negative).
Source: Leydesdorff, "The mutual information of university-industry-government relations"
(Scientometrics 58(2), 2003); reference facts in ../shared/reference/investment.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.helix.tables import helix_actors, helix_collaborations, helix_participants

#: (u, i, g): university, industry (enterprise), government (state)
Point = tuple[int, int, int]
AXES = {"u": 0, "i": 1, "g": 2}
KIND_AXIS = {"university": 0, "enterprise": 1, "state": 2}
MAX_COLLABORATIONS = 100_000


def entropy(counts: Iterable[int]) -> float:
    """Shannon entropy in bits of the distribution the counts give (0 for no counts)."""
    values = [c for c in counts if c > 0]
    total = sum(values)
    if total == 0:
        return 0.0
    return -sum(c / total * math.log2(c / total) for c in values)


def _h(points: Sequence[Point], axes: str) -> float:
    projected = Counter(tuple(point[AXES[axis]] for axis in axes) for point in points)
    return entropy(projected.values())


def mutual_information(points: Sequence[Point]) -> dict[str, Any]:
    """T_uig, T_ui, T_ug, T_ig, the entropies behind them and the co-occurrence table."""
    h = {axes: _h(points, axes) for axes in ("u", "i", "g", "ui", "ug", "ig", "uig")}
    t_uig = h["u"] + h["i"] + h["g"] - h["ui"] - h["ug"] - h["ig"] + h["uig"]
    table = Counter(points)
    return {
        "n": len(points),
        "T_uig": _clean(t_uig),
        "T_ui": _clean(h["u"] + h["i"] - h["ui"]),
        "T_ug": _clean(h["u"] + h["g"] - h["ug"]),
        "T_ig": _clean(h["i"] + h["g"] - h["ig"]),
        "H": {f"H_{axes}": _clean(value) for axes, value in h.items()},
        "table": [
            {"u": u, "i": i, "g": g, "count": table.get((u, i, g), 0)}
            for u in (0, 1)
            for i in (0, 1)
            for g in (0, 1)
        ],
    }


def _clean(value: float) -> float:
    """Rounded to 12 places, so that 0 computed as 1e-16 reads as 0 (and its sign is true)."""
    rounded = round(value, 12)
    return 0.0 if rounded == 0 else rounded


@dataclass(frozen=True)
class Collaboration:
    id: int
    title: str
    start_date: date
    domain: str | None
    #: (actor id, actor name, actor kind, role)
    participants: tuple[tuple[int, str, str, str], ...]

    @property
    def point(self) -> Point:
        kinds = {kind for _, _, kind, _ in self.participants}
        return (
            int("university" in kinds),
            int("enterprise" in kinds),
            int("state" in kinds),
        )


async def collaborations_between(
    connection: AsyncConnection, start: date | None, end: date | None
) -> list[Collaboration]:
    """The collaborations starting in [start, end] (either end open), with participants."""
    table = helix_collaborations
    query = select(table.c.id, table.c.title, table.c.start_date, table.c.domain)
    if start is not None:
        query = query.where(table.c.start_date >= start)
    if end is not None:
        query = query.where(table.c.start_date <= end)
    rows = (await connection.execute(query.order_by(table.c.id).limit(MAX_COLLABORATIONS))).all()
    people: dict[int, list[tuple[int, str, str, str]]] = {row.id: [] for row in rows}
    if rows:
        found = await connection.execute(
            select(
                helix_participants.c.collaboration_id,
                helix_actors.c.id,
                helix_actors.c.name,
                helix_actors.c.kind,
                helix_participants.c.role,
            )
            .join(helix_actors, helix_actors.c.id == helix_participants.c.actor_id)
            .join(table, table.c.id == helix_participants.c.collaboration_id)
            .where(table.c.id.in_(select(query.subquery().c.id)))
            .order_by(helix_actors.c.id)
        )
        for row in found:
            people[row.collaboration_id].append((row.id, row.name, row.kind, row.role))
    return [
        Collaboration(row.id, row.title, row.start_date, row.domain, tuple(people[row.id]))
        for row in rows
    ]


def synergy_report(collaborations: Sequence[Collaboration]) -> dict[str, Any]:
    """The whole period's T values, then per year of start and per domain."""
    report = mutual_information([c.point for c in collaborations])
    years = sorted({c.start_date.year for c in collaborations})
    report["by_year"] = {
        str(year): _summary([c for c in collaborations if c.start_date.year == year])
        for year in years
    }
    domains = sorted({c.domain or "unassigned" for c in collaborations})
    report["by_domain"] = {
        domain: _summary([c for c in collaborations if (c.domain or "unassigned") == domain])
        for domain in domains
    }
    return report


def _summary(collaborations: Sequence[Collaboration]) -> dict[str, Any]:
    full = mutual_information([c.point for c in collaborations])
    return {key: full[key] for key in ("n", "T_uig", "T_ui", "T_ug", "T_ig")}


def network(collaborations: Sequence[Collaboration]) -> dict[str, Any]:
    """Actors as nodes, co-participation as weighted edges (with the collaborations)."""
    nodes: dict[int, dict[str, Any]] = {}
    edges: dict[tuple[int, int], list[int]] = {}
    for collaboration in collaborations:
        for actor_id, name, kind, _ in collaboration.participants:
            node = nodes.setdefault(
                actor_id, {"id": actor_id, "name": name, "kind": kind, "collaborations": 0}
            )
            node["collaborations"] += 1
        ids = sorted({p[0] for p in collaboration.participants})
        for position, first in enumerate(ids):
            for second in ids[position + 1 :]:
                edges.setdefault((first, second), []).append(collaboration.id)
    return {
        "nodes": [nodes[k] for k in sorted(nodes)],
        "edges": [
            {"source": a, "target": b, "weight": len(ids), "collaborations": ids}
            for (a, b), ids in sorted(edges.items())
        ],
    }
