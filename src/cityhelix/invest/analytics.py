"""FDI figures over the registry, each one SQL aggregate (GROUP BY) on `invest_projects`.

The numbers the pages chart and the downloads carry come from here, so they are the same
as anyone's SQL over the registry: registered capital is the current (adjusted) capital of
each project, counted in the year its certificate was first issued.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.invest.policy import PolicyDocument, SectorListRule
from cityhelix.invest.tables import parks, projects


def _filtered(query: Any, statuses: list[str] | None) -> Any:
    return query.where(projects.c.status.in_(statuses)) if statuses else query


def _counted(*keys: ColumnElement[Any]) -> Any:
    return select(
        *keys,
        func.count().label("projects"),
        func.coalesce(func.sum(projects.c.capital_usd), 0.0).label("capital_usd"),
    )


async def _rows(connection: AsyncConnection, query: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in await connection.execute(query)]


def _priority_sectors(policy: PolicyDocument) -> list[str]:
    return [
        sector.vsic
        for rule in policy.rules
        if isinstance(rule, SectorListRule) and rule.severity == "priority"
        for sector in rule.sectors
    ]


async def figures(
    connection: AsyncConnection,
    policy: PolicyDocument,
    statuses: list[str] | None = None,
    top: int = 10,
) -> dict[str, Any]:
    """Every figure of the analytics page, as lists of plain rows."""
    year = extract("year", projects.c.issued_on).label("year")
    by_year = await _rows(
        connection, _filtered(_counted(year).group_by(year).order_by(year), statuses)
    )
    cumulative, running = [], 0.0
    for row in by_year:
        row["year"] = int(row["year"])
        running += row["capital_usd"]
        cumulative.append({"year": row["year"], "capital_usd": running})
    by_country = await _rows(
        connection,
        _filtered(
            _counted(projects.c.country)
            .group_by(projects.c.country)
            .order_by(func.sum(projects.c.capital_usd).desc(), projects.c.country),
            statuses,
        ),
    )
    division = func.substr(projects.c.sector_vsic, 1, 2).label("vsic_division")
    by_sector = await _rows(
        connection,
        _filtered(_counted(division).group_by(division).order_by(division), statuses),
    )
    by_park = await _rows(
        connection,
        _filtered(
            _counted(projects.c.park_id, parks.c.name.label("park_name"))
            .add_columns(
                func.sum(projects.c.land_ha).label("land_ha"),
                func.sum(projects.c.employees).label("employees"),
            )
            .select_from(projects.join(parks, parks.c.id == projects.c.park_id))
            .group_by(projects.c.park_id, parks.c.name)
            .order_by(parks.c.name),
            statuses,
        ),
    )
    for row in by_park:
        # per hectare and per worker over the projects that state them
        row["capital_per_ha"] = row["capital_usd"] / row["land_ha"] if row["land_ha"] else None
        row["capital_per_worker"] = (
            row["capital_usd"] / row["employees"] if row["employees"] else None
        )
    by_admin_unit = await _rows(
        connection,
        _filtered(
            _counted(projects.c.admin_unit_after)
            .group_by(projects.c.admin_unit_after)
            .order_by(projects.c.admin_unit_after),
            statuses,
        ),
    )
    top_investors = await _rows(
        connection,
        _filtered(
            _counted(projects.c.investor, projects.c.country)
            .where(projects.c.investor.is_not(None))
            .group_by(projects.c.investor, projects.c.country)
            .order_by(func.sum(projects.c.capital_usd).desc(), projects.c.investor)
            .limit(top),
            statuses,
        ),
    )
    prefixes = _priority_sectors(policy)
    in_priority = (
        or_(*[projects.c.sector_vsic.startswith(p, autoescape=True) for p in prefixes])
        if prefixes
        else projects.c.id.is_(None)
    )
    priority = await _rows(
        connection,
        _filtered(
            select(
                year,
                func.count().label("projects"),
                func.count().filter(in_priority).label("priority_projects"),
            )
            .group_by(year)
            .order_by(year),
            statuses,
        ),
    )
    for row in priority:
        row["year"] = int(row["year"])
        row["share"] = row["priority_projects"] / row["projects"] if row["projects"] else None
    totals = (
        await connection.execute(
            _filtered(
                select(
                    func.count().label("projects"),
                    func.coalesce(func.sum(projects.c.capital_usd), 0.0).label("capital_usd"),
                    func.count(func.distinct(projects.c.country)).label("countries"),
                ),
                statuses,
            )
        )
    ).one()
    return {
        "totals": dict(totals._mapping),
        "by_year": by_year,
        "cumulative": cumulative,
        "by_country": by_country,
        "by_sector": by_sector,
        "by_park": by_park,
        "by_admin_unit": by_admin_unit,
        "top_investors": top_investors,
        "priority_share": priority,
    }
