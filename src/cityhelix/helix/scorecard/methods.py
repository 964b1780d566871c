"""How each computed indicator is computed, by the method name `indicators.json` gives.

Each method reads the platform's own data (the hub through `hub.service`, this pillar's
registry through its tables) for one period and returns the value with its provenance:
the query it ran, the inputs it counted, and what was missing. Hub counts are a snapshot
at computation time (the hub keeps no history of Things); helix counts are by period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.db.engine import read_connection
from cityhelix.helix import synergy
from cityhelix.helix.tables import (
    helix_actors,
    helix_applications,
    helix_collaborations,
    helix_participants,
)
from cityhelix.hub import service as hub
from cityhelix.invest import service as invest
from cityhelix.ops import service as ops
from cityhelix.settings import Settings


@dataclass(frozen=True)
class Period:
    """A scorecard period: a calendar year, "2026"."""

    name: str
    start: date
    end: date

    @classmethod
    def year(cls, year: int) -> Period:
        return cls(str(year), date(year, 1, 1), date(year, 12, 31))


@dataclass
class Computation:
    value: float | None
    #: the query or formula, as text a reviewer can rerun
    query: str
    #: what was counted: [{"type": "Thing", "id": 3}, ...] or parameters
    inputs: list[dict[str, Any]]
    parameters: dict[str, Any] = field(default_factory=dict)
    #: data-quality notes: missing sources, stale or incomplete inputs
    missing: list[str] = field(default_factory=list)


Method = Callable[[AsyncEngine, Settings, Period], Awaitable[Computation]]


def _sql(statement: Select[Any]) -> str:
    return str(statement.compile(compile_kwargs={}))


async def hub_air_quality_stations_per_km2(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    stations = await hub.things_of_kind(engine, "air_quality")
    area = settings.province_area_km2
    computation = Computation(
        value=len(stations) / area,
        query="count(hub Things where properties.kind = 'air_quality') / province_area_km2",
        inputs=[{"type": "Thing", "id": t.id, "name": t.name} for t in stations],
        parameters={"province_area_km2": area, "snapshot": True},
    )
    if not stations:
        computation.missing.append("no Thing of kind air_quality in the data hub")
    return computation


async def hub_streetlights_remote_share(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    lights = await hub.things_of_kind(engine, "streetlight")
    managed = [t for t in lights if t.properties.get("remote_managed") is True]
    unknown = [t for t in lights if "remote_managed" not in t.properties]
    computation = Computation(
        value=round(100 * len(managed) / len(lights), 6) if lights else None,
        query=(
            "100 * count(Things of kind 'streetlight' with properties.remote_managed = true)"
            " / count(Things of kind 'streetlight')"
        ),
        inputs=[
            {"type": "Thing", "id": t.id, "remote_managed": t.properties.get("remote_managed")}
            for t in lights
        ],
        parameters={"snapshot": True},
    )
    if not lights:
        computation.missing.append("no Thing of kind streetlight in the data hub")
    if unknown:
        computation.missing.append(
            f"{len(unknown)} streetlight(s) without properties.remote_managed, counted as not"
            " managed"
        )
    return computation


def _with_kind(kind: str) -> Any:
    return exists(
        select(helix_participants.c.actor_id)
        .join(helix_actors, helix_actors.c.id == helix_participants.c.actor_id)
        .where(
            helix_participants.c.collaboration_id == helix_collaborations.c.id,
            helix_actors.c.kind == kind,
        )
    )


def _in_period(period: Period) -> Any:
    return and_(
        helix_collaborations.c.start_date >= period.start,
        helix_collaborations.c.start_date <= period.end,
    )


async def helix_university_enterprise_collaborations(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    statement = (
        select(helix_collaborations.c.id)
        .where(_in_period(period), _with_kind("university"), _with_kind("enterprise"))
        .order_by(helix_collaborations.c.id)
    )
    async with read_connection(engine) as connection:
        ids = list((await connection.execute(statement)).scalars())
    return Computation(
        value=float(len(ids)),
        query=_sql(statement),
        inputs=[{"type": "HelixCollaboration", "id": i} for i in ids],
        parameters={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )


def _output_sum(name: str) -> Method:
    async def compute(engine: AsyncEngine, settings: Settings, period: Period) -> Computation:
        statement = (
            select(helix_collaborations.c.id, helix_collaborations.c.outputs)
            .where(_in_period(period))
            .order_by(helix_collaborations.c.id)
        )
        async with read_connection(engine) as connection:
            rows = (await connection.execute(statement)).all()
        computation = Computation(
            value=float(sum(int(row.outputs.get(name, 0)) for row in rows)),
            query=_sql(statement) + f"  -- then the sum of outputs.{name}",
            inputs=[
                {"type": "HelixCollaboration", "id": row.id, name: row.outputs.get(name, 0)}
                for row in rows
            ],
            parameters={"from": period.start.isoformat(), "to": period.end.isoformat()},
        )
        if not rows:
            computation.missing.append("no collaboration registered in the period")
        return computation

    compute.__name__ = f"helix_output_{name}"
    return compute


async def helix_synergy_t_uig(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    async with read_connection(engine) as connection:
        collaborations = await synergy.collaborations_between(connection, period.start, period.end)
    result = synergy.mutual_information([c.point for c in collaborations])
    computation = Computation(
        value=result["T_uig"] if collaborations else None,
        query="T_uig = H_u + H_i + H_g - H_ui - H_ug - H_ig + H_uig over collaborations "
        "starting in the period (GET /api/helix/synergy)",
        inputs=[
            {
                "type": "HelixCollaboration",
                "id": c.id,
                "u": c.point[0],
                "i": c.point[1],
                "g": c.point[2],
            }
            for c in collaborations
        ],
        parameters={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )
    if not collaborations:
        computation.missing.append("no collaboration registered in the period")
    return computation


async def helix_funding_awarded(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    statement = (
        select(helix_applications.c.id, helix_applications.c.awarded)
        .where(
            helix_applications.c.decision == "accepted",
            helix_applications.c.decided_at >= datetime.combine(period.start, time(), UTC),
            helix_applications.c.decided_at
            < datetime.combine(period.end + timedelta(days=1), time(), UTC),
        )
        .order_by(helix_applications.c.id)
    )
    async with read_connection(engine) as connection:
        rows = (await connection.execute(statement)).all()
    return Computation(
        value=float(sum(row.awarded for row in rows)),
        query=_sql(statement) + "  -- then the sum of awarded",
        inputs=[{"type": "HelixApplication", "id": row.id, "awarded": row.awarded} for row in rows],
        parameters={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )


async def ops_inquiry_response_days(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    """ISO 37122's non-emergency inquiry response time: the mean days from a citizen's
    inquiry to its first acknowledgement, over the inquiries made in the period."""
    start = datetime.combine(period.start, time(), UTC)
    end = datetime.combine(period.end + timedelta(days=1), time(), UTC)
    inquiries = await ops.citizen_inquiries(engine, start, end)
    answered = [i for i in inquiries if i.acknowledged_at is not None]
    days = [
        (i.acknowledged_at - i.created_at).total_seconds() / 86_400
        for i in answered
        if i.acknowledged_at is not None
    ]
    computation = Computation(
        value=round(sum(days) / len(days), 6) if days else None,
        query="avg(acknowledged_at - created_at) in days over ops incidents with source ="
        " 'citizen' created in the period and acknowledged"
        " (cityhelix.ops.service.citizen_inquiries)",
        inputs=[
            {
                "type": "Incident",
                "id": i.id,
                "channel": i.channel,
                "created_at": i.created_at.isoformat(),
                "acknowledged_at": None
                if i.acknowledged_at is None
                else i.acknowledged_at.isoformat(),
            }
            for i in inquiries
        ],
        parameters={"from": period.start.isoformat(), "to": period.end.isoformat()},
    )
    if not inquiries:
        computation.missing.append("no citizen inquiry in the operations centre for the period")
    waiting = len(inquiries) - len(answered)
    if waiting:
        computation.missing.append(
            f"{waiting} inquiry(ies) not acknowledged yet, left out of the mean"
        )
    return computation


#: who the scorecard reads the investment registry as (its reads are staff-only)
SCORECARD_READER = Principal("scorecard", Role.ANALYST)
#: the registry's projects listed as inputs, at most (the value comes from its own SQL)
MAX_PROJECTS = 10_000


async def _fdi_year(
    engine: AsyncEngine, period: Period
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]:
    """The registry's analytics (its own SQL aggregates), this year's rows of them, and the
    projects whose certificate was first issued in the period (the inputs)."""
    figures = await invest.fdi_analytics(engine, SCORECARD_READER, None, 1)
    year = int(period.name)
    by_year = next((r for r in figures["by_year"] if r["year"] == year), None)
    priority = next((r for r in figures["priority_share"] if r["year"] == year), None)
    projects = await invest.list_projects(engine, SCORECARD_READER, limit=MAX_PROJECTS)
    inputs = [
        {
            "type": "InvestProject",
            "id": p["id"],
            "issued_on": p.get("issued_on"),
            "sector_vsic": p.get("sector_vsic"),
            "capital_usd": p.get("capital_usd"),
        }
        for p in projects
        if str(p.get("issued_on") or "").startswith(period.name)
    ]
    return figures, by_year, priority, inputs


async def invest_fdi_priority_share(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    figures, _, priority, inputs = await _fdi_year(engine, period)
    computation = Computation(
        value=None if priority is None or priority["share"] is None else 100 * priority["share"],
        query="100 * count(invest_projects first issued in the year in a priority sector of the"
        " screening policy in force) / count(invest_projects first issued in the year)"
        " (cityhelix.invest.service.fdi_analytics: priority_share)",
        inputs=inputs,
        parameters={
            "policy_version": figures.get("policy_version"),
            "projects": None if priority is None else priority["projects"],
            "priority_projects": None if priority is None else priority["priority_projects"],
        },
    )
    if priority is None:
        computation.missing.append("no FDI project in the investment registry for the period")
    return computation


async def invest_fdi_capital(
    engine: AsyncEngine, settings: Settings, period: Period
) -> Computation:
    _, by_year, _, inputs = await _fdi_year(engine, period)
    computation = Computation(
        value=0.0 if by_year is None else float(by_year["capital_usd"]),
        query="sum(invest_projects.capital_usd) of projects first issued in the year"
        " (cityhelix.invest.service.fdi_analytics: by_year)",
        inputs=inputs,
        parameters={"projects": 0 if by_year is None else by_year["projects"]},
    )
    if by_year is None:
        computation.missing.append("no FDI project in the investment registry for the period")
    return computation


METHODS: dict[str, Method] = {
    "invest_fdi_priority_share": invest_fdi_priority_share,
    "invest_fdi_capital": invest_fdi_capital,
    "ops_inquiry_response_days": ops_inquiry_response_days,
    "hub_air_quality_stations_per_km2": hub_air_quality_stations_per_km2,
    "hub_streetlights_remote_share": hub_streetlights_remote_share,
    "helix_university_enterprise_collaborations": helix_university_enterprise_collaborations,
    "helix_output_patents": _output_sum("patents"),
    "helix_output_startups_formed": _output_sum("startups_formed"),
    "helix_output_trained_people": _output_sum("trained_people"),
    "helix_synergy_t_uig": helix_synergy_t_uig,
    "helix_funding_awarded": helix_funding_awarded,
}
