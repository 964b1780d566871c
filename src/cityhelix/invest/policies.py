"""Screening policies as stored versions (v1 shipped as data), screening of proposals and
of registered projects (each stored result keeps its version), the portfolio view.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.db.engine import read_connection
from cityhelix.invest.errors import Conflict, NotFound
from cityhelix.invest.policy import PolicyDocument, shipped_policy
from cityhelix.invest.schemas import (
    PolicyIn,
    ScreenIn,
)
from cityhelix.invest.screening import Proposal, screen
from cityhelix.invest.store import audit, plain, require_staff, utc_now, writing
from cityhelix.invest.tables import (
    parks,
    policies,
    projects,
    screenings,
)


def _policy_out(
    version: int, status: str, document: PolicyDocument, **extra: Any
) -> dict[str, Any]:
    return {
        "version": version,
        "status": status,
        **{k: plain(v) for k, v in extra.items()},
        "document": document.model_dump(mode="json"),
    }


async def list_policies(engine: AsyncEngine) -> list[dict[str, Any]]:
    """Every version, the shipped version 1 first; which one is in force is marked."""
    async with read_connection(engine) as connection:
        rows = list(await connection.execute(select(policies).order_by(policies.c.version)))
    current = max((r.version for r in rows if r.status == "adopted"), default=1)
    answer = [
        _policy_out(
            1,
            "adopted",
            shipped_policy(),
            note="shipped with CityHelix",
            created_by="CityHelix",
            in_force=current == 1,
        )
    ]
    for r in rows:
        answer.append(
            _policy_out(
                r.version,
                r.status,
                PolicyDocument.model_validate(r.document),
                note=r.note,
                created_at=r.created_at,
                created_by=r.created_by,
                adopted_at=r.adopted_at,
                in_force=r.version == current,
            )
        )
    return answer


async def policy_in_force(connection: AsyncConnection) -> tuple[int, PolicyDocument]:
    row = (
        await connection.execute(
            select(policies.c.version, policies.c.document)
            .where(policies.c.status == "adopted")
            .order_by(policies.c.version.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return 1, shipped_policy()
    return row.version, PolicyDocument.model_validate(row.document)


async def _policy(connection: AsyncConnection, version: int | None) -> tuple[int, PolicyDocument]:
    if version is None:
        return await policy_in_force(connection)
    if version == 1:
        return 1, shipped_policy()
    row = (
        await connection.execute(select(policies.c.document).where(policies.c.version == version))
    ).first()
    if row is None:
        raise NotFound(f"policy_version: no policy version {version}", field="policy_version")
    return version, PolicyDocument.model_validate(row.document)


async def get_policy(engine: AsyncEngine, version: int | None) -> dict[str, Any]:
    """One version (None: the one in force)."""
    for policy in await list_policies(engine):
        if (version is None and policy["in_force"]) or policy["version"] == version:
            return policy
    raise NotFound(f"version: no policy version {version}", field="version")


async def create_policy(
    engine: AsyncEngine, principal: Principal, body: PolicyIn, path: str
) -> dict[str, Any]:
    """Store a new version (the next number), as a draft or adopted at once."""
    require_staff(principal, "writing a screening policy")
    now = utc_now()
    async with writing(engine) as connection:
        newest = (await connection.execute(select(func.max(policies.c.version)))).scalar_one()
        version = max(int(newest or 1), 1) + 1
        await connection.execute(
            insert(policies).values(
                version=version,
                status="adopted" if body.adopt else "draft",
                note=body.note,
                document=body.document.model_dump(mode="json"),
                created_at=now,
                created_by=principal.name,
                adopted_at=now if body.adopt else None,
            )
        )
        await audit(connection, principal, "POST", path, "InvestPolicy", version)
    return await get_policy(engine, version)


async def adopt_policy(
    engine: AsyncEngine, principal: Principal, version: int, path: str
) -> dict[str, Any]:
    """Put a draft in force; results stored under older versions keep theirs."""
    require_staff(principal, "adopting a screening policy")
    async with writing(engine) as connection:
        row = (
            await connection.execute(select(policies.c.status).where(policies.c.version == version))
        ).first()
        if row is None:
            raise NotFound(f"version: no stored policy version {version}", field="version")
        if row.status == "adopted":
            raise Conflict(f"version: policy {version} is adopted already", field="version")
        await connection.execute(
            update(policies)
            .where(policies.c.version == version)
            .values(status="adopted", adopted_at=utc_now())
        )
        await audit(connection, principal, "POST", path, "InvestPolicy", version)
    return await get_policy(engine, version)


async def _proposal(
    connection: AsyncConnection, values: Mapping[str, Any], pollution_known: bool
) -> Proposal:
    numbers = {
        k: float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and k != "park_id"
    }
    park_id = values.get("park_id")
    park = None
    if park_id is not None:
        row = (
            await connection.execute(
                select(parks.c.wastewater_spare_m3_day, parks.c.power_spare_mw).where(
                    parks.c.id == park_id
                )
            )
        ).first()
        if row is None:
            raise NotFound(f"park_id: no park with id {park_id}", field="park_id")
        park = dict(row._mapping)
    return Proposal(
        values=numbers,
        sector_vsic=values.get("sector_vsic"),
        pollution_type_known=pollution_known,
        pollution_type=values.get("pollution_type"),
        pollution_band=values.get("pollution_band"),
        park_id=park_id,
        park=park,
    )


async def screen_proposal(
    engine: AsyncEngine, body: ScreenIn, policy_version: int | None = None
) -> dict[str, Any]:
    """Screen a proposal without storing anything (the policy in force by default)."""
    async with read_connection(engine) as connection:
        version, policy = await _policy(connection, policy_version)
        proposal = await _proposal(
            connection, body.model_dump(), "pollution_type" in body.model_fields_set
        )
    return screen(policy, version, proposal)


def _project_proposal_values(document: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: document.get(k) for k in ScreenIn.model_fields if k != "employees"}
    values["employees"] = document.get("employees_planned")
    return values


async def screen_project(
    engine: AsyncEngine,
    principal: Principal,
    project_id: int,
    path: str,
    policy_version: int | None = None,
) -> dict[str, Any]:
    """Screen a registered project and store the result with its policy version."""
    require_staff(principal, "screening a project")
    async with writing(engine) as connection:
        row = (
            await connection.execute(
                select(projects.c.version, projects.c.document).where(projects.c.id == project_id)
            )
        ).first()
        if row is None:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        version, policy = await _policy(connection, policy_version)
        # a registered project states its pollution type: null there means none
        proposal = await _proposal(connection, _project_proposal_values(row.document), True)
        result = screen(policy, version, proposal)
        now = utc_now()
        screening_id = (
            await connection.execute(
                insert(screenings)
                .values(
                    project_id=project_id,
                    project_version=row.version,
                    policy_version=version,
                    verdict=result["verdict"],
                    result=result,
                    screened_at=now,
                    screened_by=principal.name,
                )
                .returning(screenings.c.id)
            )
        ).scalar_one()
        await audit(connection, principal, "POST", path, "InvestScreening", screening_id)
    return {
        "id": screening_id,
        "project_id": project_id,
        "project_version": row.version,
        "screened_at": plain(now),
        "screened_by": principal.name,
        **result,
    }


async def project_screenings(
    engine: AsyncEngine, principal: Principal, project_id: int
) -> dict[str, Any]:
    """Stored results (each under its own policy version) and, beside them, a re-screen
    under the policy in force now (not stored)."""
    require_staff(principal, "reading the registry")
    async with read_connection(engine) as connection:
        row = (
            await connection.execute(select(projects.c.document).where(projects.c.id == project_id))
        ).first()
        if row is None:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        stored = [
            {
                "id": s.id,
                "project_version": s.project_version,
                "screened_at": plain(s.screened_at),
                "screened_by": s.screened_by,
                **s.result,
            }
            for s in await connection.execute(
                select(screenings)
                .where(screenings.c.project_id == project_id)
                .order_by(screenings.c.screened_at, screenings.c.id)
            )
        ]
        version, policy = await policy_in_force(connection)
        proposal = await _proposal(connection, _project_proposal_values(row.document), True)
    return {"stored": stored, "current": screen(policy, version, proposal)}


async def portfolio(engine: AsyncEngine, principal: Principal, version: int) -> dict[str, Any]:
    """The whole registry screened under the policy in force and under `version` (a draft,
    say): how the verdict mix would shift, and which projects would change verdict."""
    require_staff(principal, "screening the portfolio")
    async with read_connection(engine) as connection:
        now_version, now_policy = await policy_in_force(connection)
        then_version, then_policy = await _policy(connection, version)
        rows = list(
            await connection.execute(
                select(projects.c.id, projects.c.name, projects.c.document).order_by(projects.c.id)
            )
        )
        spare = {
            r.id: {
                "wastewater_spare_m3_day": r.wastewater_spare_m3_day,
                "power_spare_mw": r.power_spare_mw,
            }
            for r in await connection.execute(
                select(parks.c.id, parks.c.wastewater_spare_m3_day, parks.c.power_spare_mw)
            )
        }
    mix: dict[str, dict[str, int]] = {"in_force": {}, "proposed": {}}
    changes = []
    for row in rows:
        values = _project_proposal_values(row.document)
        numbers = {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and k != "park_id"
        }
        proposal = Proposal(
            values=numbers,
            sector_vsic=values.get("sector_vsic"),
            pollution_type_known=True,
            pollution_type=values.get("pollution_type"),
            pollution_band=values.get("pollution_band"),
            park_id=values.get("park_id"),
            park=spare.get(values["park_id"]) if values.get("park_id") else None,
        )
        before = screen(now_policy, now_version, proposal)["verdict"]
        after = screen(then_policy, then_version, proposal)["verdict"]
        mix["in_force"][before] = mix["in_force"].get(before, 0) + 1
        mix["proposed"][after] = mix["proposed"].get(after, 0) + 1
        if before != after:
            changes.append({"id": row.id, "name": row.name, "in_force": before, "proposed": after})
    return {
        "in_force_version": now_version,
        "proposed_version": then_version,
        "projects": len(rows),
        "mix": mix,
        "changes": changes,
    }
