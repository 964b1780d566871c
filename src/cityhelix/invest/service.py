"""The investment pillar's door: plain async functions over the engine, for HTTP, CLI, web.

Every write is one transaction, checks the caller's role (analyst or admin) and is audited
in it; reads of the registry and the pipeline are staff-only, parks, plots, policies,
screening and site matching are public.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import shapely.geometry
from pydantic import ValidationError
from sqlalchemy import Row, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.db.engine import read_connection
from cityhelix.invest import analytics, demo_data, exchange, matching, pipeline, ranking
from cityhelix.invest.errors import BadInput, Conflict, Forbidden, NotFound, Unprocessable
from cityhelix.invest.policy import PolicyDocument, shipped_policy
from cityhelix.invest.schemas import (
    ActivityIn,
    AdminUnitMappingIn,
    EnquiryIn,
    InvestorIn,
    LeadIn,
    ParkIn,
    PlotIn,
    PolicyIn,
    ProjectChange,
    ProjectIn,
    RankIn,
    ScreenIn,
    StageMove,
)
from cityhelix.invest.screening import Proposal, screen
from cityhelix.invest.tables import (
    activities,
    admin_unit_mapping,
    investors,
    lead_stage_moves,
    leads,
    parks,
    plots,
    policies,
    project_versions,
    projects,
    screenings,
)

STAFF = frozenset({Role.ANALYST, Role.ADMIN})


def _now() -> datetime:
    return datetime.now(UTC)


def require_staff(principal: Principal, doing: str) -> None:
    """Raise Forbidden unless the caller is an analyst or an admin."""
    if principal.role not in STAFF:
        raise Forbidden(
            f"{doing} needs the role analyst or admin; {principal.name} is {principal.role.value}"
        )


@asynccontextmanager
async def _writing(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    try:
        async with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise Conflict("the write conflicts with another change; retry it") from None


async def _audit(
    connection: AsyncConnection, principal: Principal, method: str, path: str, kind: str, id_: int
) -> None:
    await record_write(connection, principal, method, path, [(kind, id_)])


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


_GEOMETRY_COLUMNS = {
    "boundary_geom",
    "boundary_xmin",
    "boundary_ymin",
    "boundary_xmax",
    "boundary_ymax",
}


def _row(row: Row[Any] | Mapping[str, Any]) -> dict[str, Any]:
    mapping = row._mapping if isinstance(row, Row) else row
    return {k: _plain(v) for k, v in mapping.items() if k not in _GEOMETRY_COLUMNS}


def _geometry_columns(boundary: Mapping[str, Any] | None) -> dict[str, Any]:
    if boundary is None:
        return dict.fromkeys(["boundary", *sorted(_GEOMETRY_COLUMNS)])
    try:
        shape = shapely.geometry.shape(boundary)
    except (ValueError, TypeError, IndexError, AttributeError) as error:
        raise BadInput(
            f"boundary: not a valid GeoJSON polygon ({error})", field="boundary"
        ) from None
    if shape.is_empty or not shape.is_valid:
        raise BadInput("boundary: the polygon is empty or not valid", field="boundary")
    xmin, ymin, xmax, ymax = shape.bounds
    if not (-180 <= xmin <= xmax <= 180 and -90 <= ymin <= ymax <= 90):
        raise BadInput("boundary: expected WGS 84 longitude/latitude", field="boundary")
    return {
        "boundary": dict(boundary),
        "boundary_geom": json.dumps(boundary),
        "boundary_xmin": xmin,
        "boundary_ymin": ymin,
        "boundary_xmax": xmax,
        "boundary_ymax": ymax,
    }


# -- parks and plots -------------------------------------------------------------------


def _park_values(body: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k != "boundary"}
    if "boundary" in body:
        values.update(_geometry_columns(body["boundary"]))
    return values


async def _name_free(connection: AsyncConnection, name: str, except_id: int | None) -> None:
    query = select(parks.c.id).where(parks.c.name == name)
    if except_id is not None:
        query = query.where(parks.c.id != except_id)
    if (await connection.execute(query)).first() is not None:
        raise Conflict(f"name: a park named {name!r} exists already", field="name")


async def _insert_park(connection: AsyncConnection, body: ParkIn) -> int:
    now = _now()
    values = _park_values(body.model_dump(mode="json"))
    park_id: int = (
        await connection.execute(
            insert(parks).values(**values, created_at=now, updated_at=now).returning(parks.c.id)
        )
    ).scalar_one()
    return park_id


async def create_park(
    engine: AsyncEngine, principal: Principal, body: ParkIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding a park")
    async with _writing(engine) as connection:
        await _name_free(connection, body.name, None)
        park_id = await _insert_park(connection, body)
        await _audit(connection, principal, "POST", path, "InvestPark", park_id)
    return await get_park(engine, park_id)


async def update_park(
    engine: AsyncEngine, principal: Principal, park_id: int, body: Mapping[str, Any], path: str
) -> dict[str, Any]:
    require_staff(principal, "changing a park")
    values = _park_values(body)
    async with _writing(engine) as connection:
        await _park_exists(connection, park_id)
        if "name" in values:
            if values["name"] is None:
                raise BadInput("name: a park keeps a name", field="name")
            await _name_free(connection, values["name"], park_id)
        await connection.execute(
            update(parks).where(parks.c.id == park_id).values(**values, updated_at=_now())
        )
        await _audit(connection, principal, "PATCH", path, "InvestPark", park_id)
    return await get_park(engine, park_id)


async def delete_park(engine: AsyncEngine, principal: Principal, park_id: int, path: str) -> None:
    require_staff(principal, "deleting a park")
    async with _writing(engine) as connection:
        await _park_exists(connection, park_id)
        await connection.execute(delete(parks).where(parks.c.id == park_id))
        await _audit(connection, principal, "DELETE", path, "InvestPark", park_id)


async def _park_exists(connection: AsyncConnection, park_id: int, field: str = "id") -> None:
    if (await connection.execute(select(parks.c.id).where(parks.c.id == park_id))).first() is None:
        raise NotFound(f"{field}: no park with id {park_id}", field=field)


def _free_land() -> Any:
    return (
        select(plots.c.park_id, func.sum(plots.c.area_ha).label("free_land_ha"))
        .where(plots.c.status == "free")
        .group_by(plots.c.park_id)
        .subquery()
    )


async def list_parks(
    engine: AsyncEngine,
    *,
    admin_unit: str | None = None,
    status: str | None = None,
    sector_vsic: str | None = None,
    min_free_ha: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Parks with their free land; `admin_unit` matches the unit before OR after 2025."""
    free = _free_land()
    query = (
        select(parks, func.coalesce(free.c.free_land_ha, 0.0).label("free_land_ha"))
        .select_from(parks.outerjoin(free, free.c.park_id == parks.c.id))
        .order_by(parks.c.name)
    )
    if admin_unit:
        query = query.where(
            or_(parks.c.admin_unit_before == admin_unit, parks.c.admin_unit_after == admin_unit)
        )
    if status:
        query = query.where(parks.c.status == status)
    if min_free_ha is not None:
        query = query.where(func.coalesce(free.c.free_land_ha, 0.0) >= min_free_ha)
    async with read_connection(engine) as connection:
        rows = [_row(r) for r in await connection.execute(query)]
    if sector_vsic:
        # sector lists are short JSON arrays: filtering them here keeps one query for both
        rows = [
            r
            for r in rows
            if not any(sector_vsic.startswith(s) for s in r["excluded_sectors"])
            and (
                not r["permitted_sectors"]
                or any(sector_vsic.startswith(s) for s in r["permitted_sectors"])
            )
        ]
    return rows[offset : offset + limit]


async def get_park(engine: AsyncEngine, park_id: int) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        row = (await connection.execute(select(parks).where(parks.c.id == park_id))).first()
        if row is None:
            raise NotFound(f"id: no park with id {park_id}", field="id")
        park = _row(row)
        park["plots"] = [
            _row(p)
            for p in await connection.execute(
                select(plots).where(plots.c.park_id == park_id).order_by(plots.c.code)
            )
        ]
    park["free_land_ha"] = sum(p["area_ha"] for p in park["plots"] if p["status"] == "free")
    return park


async def create_plot(
    engine: AsyncEngine, principal: Principal, body: PlotIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding a plot")
    async with _writing(engine) as connection:
        await _park_exists(connection, body.park_id, "park_id")
        taken = await connection.execute(
            select(plots.c.id).where(plots.c.park_id == body.park_id, plots.c.code == body.code)
        )
        if taken.first() is not None:
            raise Conflict(f"code: park {body.park_id} has a plot {body.code!r}", field="code")
        plot_id = await _insert_plot(connection, body)
        await _audit(connection, principal, "POST", path, "InvestPlot", plot_id)
    return await get_plot(engine, plot_id)


async def _insert_plot(connection: AsyncConnection, body: PlotIn) -> int:
    now = _now()
    values = body.model_dump(exclude={"boundary"})
    values.update(_geometry_columns(body.boundary.model_dump() if body.boundary else None))
    plot_id: int = (
        await connection.execute(
            insert(plots).values(**values, created_at=now, updated_at=now).returning(plots.c.id)
        )
    ).scalar_one()
    return plot_id


async def update_plot(
    engine: AsyncEngine, principal: Principal, plot_id: int, body: Mapping[str, Any], path: str
) -> dict[str, Any]:
    require_staff(principal, "changing a plot")
    values = {k: v for k, v in body.items() if k != "boundary"}
    if "park_id" in values:
        raise BadInput("park_id: a plot stays in its park", field="park_id")
    for name in ("code", "area_ha", "status"):
        if name in values and values[name] is None:
            raise BadInput(f"{name}: a plot always has one; give a value", field=name)
    if "boundary" in body:
        values.update(_geometry_columns(body["boundary"]))
    async with _writing(engine) as connection:
        await get_plot_in(connection, plot_id)
        await connection.execute(
            update(plots).where(plots.c.id == plot_id).values(**values, updated_at=_now())
        )
        await _audit(connection, principal, "PATCH", path, "InvestPlot", plot_id)
    return await get_plot(engine, plot_id)


async def get_plot_in(connection: AsyncConnection, plot_id: int) -> dict[str, Any]:
    row = (await connection.execute(select(plots).where(plots.c.id == plot_id))).first()
    if row is None:
        raise NotFound(f"id: no plot with id {plot_id}", field="id")
    return _row(row)


async def get_plot(engine: AsyncEngine, plot_id: int) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        return await get_plot_in(connection, plot_id)


async def list_plots(
    engine: AsyncEngine,
    *,
    park_id: int | None = None,
    status: str | None = None,
    min_area_ha: float | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    query = select(plots).order_by(plots.c.park_id, plots.c.code).limit(limit).offset(offset)
    if park_id is not None:
        query = query.where(plots.c.park_id == park_id)
    if status:
        query = query.where(plots.c.status == status)
    if min_area_ha is not None:
        query = query.where(plots.c.area_ha >= min_area_ha)
    async with read_connection(engine) as connection:
        return [_row(r) for r in await connection.execute(query)]


async def delete_plot(engine: AsyncEngine, principal: Principal, plot_id: int, path: str) -> None:
    require_staff(principal, "deleting a plot")
    async with _writing(engine) as connection:
        await get_plot_in(connection, plot_id)
        await connection.execute(delete(plots).where(plots.c.id == plot_id))
        await _audit(connection, principal, "DELETE", path, "InvestPlot", plot_id)


# -- the registry, with its history ---------------------------------------------------


def _project_columns(document: Mapping[str, Any], version: int) -> dict[str, Any]:
    investors = document.get("investors") or []
    employees = document.get("employees_planned")
    return {
        "certificate_no": document["certificate_no"],
        "name": document["name"],
        "sector_vsic": document.get("sector_vsic"),
        "investor": investors[0].get("name") if investors else None,
        "country": investors[0].get("country") if investors else None,
        "park_id": document.get("park_id"),
        "capital_usd": document.get("capital_usd"),
        "land_ha": document.get("land_ha"),
        "employees": int(employees) if employees is not None else None,
        "status": document["status"],
        "issued_on": date.fromisoformat(document["issued_on"]),
        "admin_unit_after": document.get("admin_unit_after"),
        "synthetic": bool(document.get("synthetic")),
        "version": version,
        "document": dict(document),
        "updated_at": _now(),
    }


async def _check_project_links(connection: AsyncConnection, document: Mapping[str, Any]) -> None:
    if document.get("park_id") is not None:
        await _park_exists(connection, document["park_id"], "park_id")
    if document.get("plot_id") is not None:
        plot = (
            await connection.execute(
                select(plots.c.park_id).where(plots.c.id == document["plot_id"])
            )
        ).first()
        if plot is None:
            raise NotFound(f"plot_id: no plot with id {document['plot_id']}", field="plot_id")
        if document.get("park_id") is not None and plot.park_id != document["park_id"]:
            raise BadInput(
                f"plot_id: plot {document['plot_id']} is not in park {document['park_id']}",
                field="plot_id",
            )


async def create_project(
    engine: AsyncEngine, principal: Principal, body: ProjectIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "registering a project")
    document = body.model_dump(mode="json")
    async with _writing(engine) as connection:
        taken = await connection.execute(
            select(projects.c.id).where(projects.c.certificate_no == body.certificate_no)
        )
        if taken.first() is not None:
            raise Conflict(
                f"certificate_no: {body.certificate_no!r} is registered already",
                field="certificate_no",
            )
        await _check_project_links(connection, document)
        project_id = await _insert_project(connection, principal, body)
        await _audit(connection, principal, "POST", path, "InvestProject", project_id)
    return await get_project(engine, principal, project_id)


async def _insert_project(
    connection: AsyncConnection, principal: Principal, body: ProjectIn
) -> int:
    document = body.model_dump(mode="json")
    project_id: int = (
        await connection.execute(
            insert(projects).values(**_project_columns(document, 1)).returning(projects.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(project_versions).values(
            project_id=project_id,
            version=1,
            effective_on=body.issued_on,
            recorded_at=_now(),
            recorded_by=principal.name,
            change_note="certificate issued",
            document=document,
        )
    )
    return project_id


def _validation_field(error: ValidationError, prefix: str) -> BadInput:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return BadInput(f"{prefix}{where}: {first['msg']}", field=f"{prefix}{where}")


async def change_project(
    engine: AsyncEngine, principal: Principal, project_id: int, body: ProjectChange, path: str
) -> dict[str, Any]:
    """Record an adjustment: a new version effective on `effective_on`, the old ones kept."""
    require_staff(principal, "changing a project")
    if "certificate_no" in body.changes:
        raise BadInput(
            "changes.certificate_no: a project keeps its certificate number",
            field="changes.certificate_no",
        )
    async with _writing(engine) as connection:
        current = (
            await connection.execute(
                select(projects.c.version, projects.c.document).where(projects.c.id == project_id)
            )
        ).first()
        if current is None:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        merged = {**current.document, **body.changes}
        try:
            document = ProjectIn.model_validate(merged).model_dump(mode="json")
        except ValidationError as error:
            raise _validation_field(error, "changes.") from None
        if body.effective_on < date.fromisoformat(document["issued_on"]):
            raise BadInput(
                "effective_on: a change cannot take effect before the certificate was issued",
                field="effective_on",
            )
        newest = (
            await connection.execute(
                select(func.max(project_versions.c.effective_on)).where(
                    project_versions.c.project_id == project_id
                )
            )
        ).scalar_one()
        if newest is not None and body.effective_on < newest:
            # a change slipped in before a later one would make every later version wrong
            # (each holds the whole state): history is recorded in the order it happened
            raise Conflict(
                f"effective_on: the newest recorded change took effect on {newest}; a change "
                "cannot take effect before it",
                field="effective_on",
            )
        await _check_project_links(connection, document)
        version = current.version + 1
        await connection.execute(
            update(projects)
            .where(projects.c.id == project_id)
            .values(**_project_columns(document, version))
        )
        await connection.execute(
            insert(project_versions).values(
                project_id=project_id,
                version=version,
                effective_on=body.effective_on,
                recorded_at=_now(),
                recorded_by=principal.name,
                change_note=body.change_note,
                document=document,
            )
        )
        await _audit(connection, principal, "PATCH", path, "InvestProject", project_id)
    return await get_project(engine, principal, project_id)


def _project_out(project_id: int, version: Any) -> dict[str, Any]:
    return {
        "id": project_id,
        **version.document,
        "version": version.version,
        "effective_on": _plain(version.effective_on),
        "recorded_at": _plain(version.recorded_at),
        "recorded_by": version.recorded_by,
        "change_note": version.change_note,
    }


def _version_as_of(as_of: date | None) -> Any:
    query = select(project_versions)
    if as_of is not None:
        query = query.where(project_versions.c.effective_on <= as_of)
    return query.order_by(project_versions.c.effective_on.desc(), project_versions.c.version.desc())


async def get_project(
    engine: AsyncEngine, principal: Principal, project_id: int, as_of: date | None = None
) -> dict[str, Any]:
    """A project as it is, or as it stood on `as_of` (the newest change effective by then)."""
    require_staff(principal, "reading the registry")
    async with read_connection(engine) as connection:
        exists = (
            await connection.execute(select(projects.c.id).where(projects.c.id == project_id))
        ).first()
        if exists is None:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        version = (
            await connection.execute(
                _version_as_of(as_of).where(project_versions.c.project_id == project_id).limit(1)
            )
        ).first()
    if version is None:
        raise NotFound(f"as_of: project {project_id} had no certificate on {as_of}", field="as_of")
    return _project_out(project_id, version)


async def project_history(
    engine: AsyncEngine, principal: Principal, project_id: int
) -> list[dict[str, Any]]:
    """Every version of a project, oldest first."""
    require_staff(principal, "reading the registry")
    async with read_connection(engine) as connection:
        rows = list(
            await connection.execute(
                select(project_versions)
                .where(project_versions.c.project_id == project_id)
                .order_by(project_versions.c.effective_on, project_versions.c.version)
            )
        )
    if not rows:
        raise NotFound(f"id: no project with id {project_id}", field="id")
    return [_project_out(project_id, row) for row in rows]


async def list_projects(
    engine: AsyncEngine,
    principal: Principal,
    *,
    as_of: date | None = None,
    park_id: int | None = None,
    sector_vsic: str | None = None,
    country: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The registry now (from `invest_projects`) or as of a day (from the versions)."""
    require_staff(principal, "reading the registry")
    async with read_connection(engine) as connection:
        if as_of is None:
            query = select(projects.c.id, projects.c.document, projects.c.version)
            table = projects
            if park_id is not None:
                query = query.where(table.c.park_id == park_id)
            if sector_vsic:
                query = query.where(table.c.sector_vsic.startswith(sector_vsic, autoescape=True))
            if country:
                query = query.where(table.c.country == country)
            if status:
                query = query.where(table.c.status == status)
            rows = await connection.execute(
                query.order_by(projects.c.id).limit(limit).offset(offset)
            )
            return [{"id": r.id, **r.document, "version": r.version} for r in rows]
        newest = (
            select(
                project_versions.c.project_id,
                func.max(project_versions.c.effective_on).label("effective_on"),
            )
            .where(project_versions.c.effective_on <= as_of)
            .group_by(project_versions.c.project_id)
            .subquery()
        )
        rows = await connection.execute(
            select(project_versions)
            .join(
                newest,
                and_(
                    newest.c.project_id == project_versions.c.project_id,
                    newest.c.effective_on == project_versions.c.effective_on,
                ),
            )
            .order_by(project_versions.c.project_id, project_versions.c.version.desc())
        )
        seen: set[int] = set()
        answer = []
        for row in rows:
            if row.project_id in seen:  # two changes effective the same day: the later one
                continue
            seen.add(row.project_id)
            doc = row.document
            if park_id is not None and doc.get("park_id") != park_id:
                continue
            if sector_vsic and not str(doc.get("sector_vsic") or "").startswith(sector_vsic):
                continue
            investors = doc.get("investors") or []
            if country and (not investors or investors[0].get("country") != country):
                continue
            if status and doc.get("status") != status:
                continue
            answer.append(_project_out(row.project_id, row))
        return answer[offset : offset + limit]


async def delete_project(
    engine: AsyncEngine, principal: Principal, project_id: int, path: str
) -> None:
    """Remove a project entered by mistake, with its history (a terminated one stays)."""
    require_staff(principal, "deleting a project")
    async with _writing(engine) as connection:
        gone = await connection.execute(delete(projects).where(projects.c.id == project_id))
        if gone.rowcount == 0:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        await _audit(connection, principal, "DELETE", path, "InvestProject", project_id)


# -- policies -----------------------------------------------------------------------------


def _policy_out(
    version: int, status: str, document: PolicyDocument, **extra: Any
) -> dict[str, Any]:
    return {
        "version": version,
        "status": status,
        **{k: _plain(v) for k, v in extra.items()},
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
    now = _now()
    async with _writing(engine) as connection:
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
        await _audit(connection, principal, "POST", path, "InvestPolicy", version)
    return await get_policy(engine, version)


async def adopt_policy(
    engine: AsyncEngine, principal: Principal, version: int, path: str
) -> dict[str, Any]:
    """Put a draft in force; results stored under older versions keep theirs."""
    require_staff(principal, "adopting a screening policy")
    async with _writing(engine) as connection:
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
            .values(status="adopted", adopted_at=_now())
        )
        await _audit(connection, principal, "POST", path, "InvestPolicy", version)
    return await get_policy(engine, version)


# -- screening -------------------------------------------------------------------------


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
    async with _writing(engine) as connection:
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
        now = _now()
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
        await _audit(connection, principal, "POST", path, "InvestScreening", screening_id)
    return {
        "id": screening_id,
        "project_id": project_id,
        "project_version": row.version,
        "screened_at": _plain(now),
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
                "screened_at": _plain(s.screened_at),
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


# -- the pipeline ------------------------------------------------------------------------


def _lead_out(row: Row[Any], now: datetime | None = None) -> dict[str, Any]:
    lead = _row(row)
    deadline = row.stage_deadline
    lead["overdue"] = deadline is not None and deadline < (now or _now())
    return lead


async def create_lead(
    engine: AsyncEngine, principal: Principal, body: LeadIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding a lead")
    async with _writing(engine) as connection:
        if body.investor_id is not None:
            await _investor_exists(connection, body.investor_id)
        lead_id = await _insert_lead(connection, principal, body, "staff")
        await _audit(connection, principal, "POST", path, "InvestLead", lead_id)
    return await get_lead(engine, principal, lead_id)


async def _investor_exists(connection: AsyncConnection, investor_id: int) -> None:
    found = await connection.execute(select(investors.c.id).where(investors.c.id == investor_id))
    if found.first() is None:
        raise NotFound(f"investor_id: no investor with id {investor_id}", field="investor_id")


async def _insert_lead(
    connection: AsyncConnection, principal: Principal, body: LeadIn, source: str
) -> int:
    now = _now()
    lead_id: int = (
        await connection.execute(
            insert(leads)
            .values(
                **body.model_dump(mode="json"),
                stage="lead",
                stage_entered_at=now,
                stage_deadline=pipeline.deadline("lead", now),
                source=source,
                created_at=now,
                updated_at=now,
            )
            .returning(leads.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(lead_stage_moves).values(
            lead_id=lead_id, from_stage=None, to_stage="lead", at=now, by=principal.name
        )
    )
    return lead_id


async def _lead_row(connection: AsyncConnection, lead_id: int) -> Row[Any]:
    row = (await connection.execute(select(leads).where(leads.c.id == lead_id))).first()
    if row is None:
        raise NotFound(f"id: no lead with id {lead_id}", field="id")
    return row


async def get_lead(engine: AsyncEngine, principal: Principal, lead_id: int) -> dict[str, Any]:
    """A lead with its stage moves and activities (its timeline)."""
    require_staff(principal, "reading the pipeline")
    async with read_connection(engine) as connection:
        lead = _lead_out(await _lead_row(connection, lead_id))
        lead["moves"] = [
            _row(m)
            for m in await connection.execute(
                select(lead_stage_moves)
                .where(lead_stage_moves.c.lead_id == lead_id)
                .order_by(lead_stage_moves.c.at, lead_stage_moves.c.id)
            )
        ]
        lead["activities"] = [
            _row(a)
            for a in await connection.execute(
                select(activities)
                .where(activities.c.lead_id == lead_id)
                .order_by(activities.c.at, activities.c.id)
            )
        ]
    return lead


async def list_leads(
    engine: AsyncEngine,
    principal: Principal,
    *,
    stage: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    require_staff(principal, "reading the pipeline")
    query = select(leads).order_by(leads.c.id).limit(limit).offset(offset)
    if stage:
        query = query.where(leads.c.stage == stage)
    async with read_connection(engine) as connection:
        return [_lead_out(r) for r in await connection.execute(query)]


async def move_lead(
    engine: AsyncEngine, principal: Principal, lead_id: int, body: StageMove, path: str
) -> dict[str, Any]:
    """Move a lead to another stage; the new stage's deadline starts now."""
    require_staff(principal, "moving a lead")
    now = _now()
    if body.deadline is not None and body.deadline.tzinfo is None:
        raise BadInput("deadline: give a time zone (e.g. Z)", field="deadline")
    async with _writing(engine) as connection:
        row = await _lead_row(connection, lead_id)
        pipeline.check_move(row.stage, body.stage, body.reason)
        await connection.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(
                stage=body.stage,
                stage_entered_at=now,
                stage_deadline=body.deadline or pipeline.deadline(body.stage, now),
                lost_reason=body.reason if body.stage == "lost" else None,
                updated_at=now,
            )
        )
        await connection.execute(
            insert(lead_stage_moves).values(
                lead_id=lead_id,
                from_stage=row.stage,
                to_stage=body.stage,
                at=now,
                by=principal.name,
                reason=body.reason,
            )
        )
        await _audit(connection, principal, "POST", path, "InvestLead", lead_id)
    return await get_lead(engine, principal, lead_id)


async def overdue(
    engine: AsyncEngine, principal: Principal, at: datetime | None = None
) -> dict[str, Any]:
    """Leads past their stage's deadline and activities past their next-action day, at `at`."""
    require_staff(principal, "reading the pipeline")
    moment = at or _now()
    async with read_connection(engine) as connection:
        late_leads = [
            _lead_out(r, moment)
            for r in await connection.execute(
                select(leads)
                .where(leads.c.stage_deadline.is_not(None), leads.c.stage_deadline < moment)
                .order_by(leads.c.stage_deadline)
            )
        ]
        late_activities = [
            _row(a)
            for a in await connection.execute(
                select(activities)
                .join(leads, leads.c.id == activities.c.lead_id)
                .where(
                    activities.c.done.is_(False),
                    activities.c.next_action_on.is_not(None),
                    activities.c.next_action_on < moment.date(),
                    leads.c.stage != "lost",
                )
                .order_by(activities.c.next_action_on)
            )
        ]
    return {"at": _plain(moment), "leads": late_leads, "activities": late_activities}


async def add_activity(
    engine: AsyncEngine, principal: Principal, lead_id: int, body: ActivityIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "recording an activity")
    async with _writing(engine) as connection:
        await _lead_row(connection, lead_id)
        activity_id = (
            await connection.execute(
                insert(activities)
                .values(**body.model_dump(), lead_id=lead_id, at=_now())
                .returning(activities.c.id)
            )
        ).scalar_one()
        await _audit(connection, principal, "POST", path, "InvestActivity", activity_id)
        row = (
            await connection.execute(select(activities).where(activities.c.id == activity_id))
        ).one()
    return _row(row)


# -- site matching and ranking -----------------------------------------------------------


async def lead_needs(engine: AsyncEngine, principal: Principal, lead_id: int) -> matching.SiteNeeds:
    require_staff(principal, "matching a lead")
    async with read_connection(engine) as connection:
        needs = (await _lead_row(connection, lead_id)).needs
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
    answer["needs"] = {k: _plain(v) for k, v in vars(needs).items()}
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


def stage_deadlines() -> dict[str, int | None]:
    """Days allowed in each stage."""
    return dict(pipeline.STAGE_DAYS)


# -- analytics and the portfolio view ---------------------------------------------------------


async def fdi_analytics(
    engine: AsyncEngine, principal: Principal, statuses: list[str] | None = None, top: int = 10
) -> dict[str, Any]:
    """FDI by year, country, sector, park and unit; cumulative capital; top investors."""
    require_staff(principal, "reading the registry's analytics")
    async with read_connection(engine) as connection:
        version, policy = await policy_in_force(connection)
        answer = await analytics.figures(connection, policy, statuses, top)
    answer["policy_version"] = version
    answer["statuses"] = statuses
    return answer


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


# -- the demo province ------------------------------------------------------------------------


async def load_demo(engine: AsyncEngine, principal: Principal, seed: int = 2025) -> dict[str, int]:
    """Load the demo parks, plots and synthetic registry in one transaction, unless the
    province has parks already (then nothing is written). Returns what was written."""
    require_staff(principal, "loading the demo data")
    park_bodies = [ParkIn.model_validate(b) for b in demo_data.parks(seed)]
    now = _now()
    async with _writing(engine) as connection:
        if (await connection.execute(select(parks.c.id).limit(1))).first() is not None:
            return {"parks": 0, "plots": 0, "projects": 0}
        park_ids = []
        for park in park_bodies:
            values = _park_values(park.model_dump(mode="json"))
            park_ids.append(
                (
                    await connection.execute(
                        insert(parks)
                        .values(**values, created_at=now, updated_at=now)
                        .returning(parks.c.id)
                    )
                ).scalar_one()
            )
        plot_rows = []
        for body in demo_data.plots(park_ids, seed):
            plot = PlotIn.model_validate(body)
            plot_rows.append(
                {
                    **plot.model_dump(exclude={"boundary"}),
                    **_geometry_columns(None),
                    "created_at": now,
                    "updated_at": now,
                }
            )
        await connection.execute(insert(plots), plot_rows)
        documents = [
            ProjectIn.model_validate(b).model_dump(mode="json")
            for b in demo_data.projects(park_ids, seed)
        ]
        created = await connection.execute(
            insert(projects).returning(projects.c.id, sort_by_parameter_order=True),
            [_project_columns(d, 1) for d in documents],
        )
        project_ids = [row.id for row in created]
        await connection.execute(
            insert(project_versions),
            [
                {
                    "project_id": project_id,
                    "version": 1,
                    "effective_on": date.fromisoformat(document["issued_on"]),
                    "recorded_at": now,
                    "recorded_by": principal.name,
                    "change_note": "synthetic demo record",
                    "document": document,
                }
                for project_id, document in zip(project_ids, documents, strict=True)
            ],
        )
        await record_write(
            connection,
            principal,
            "POST",
            "demo:invest",
            [("InvestPark", i) for i in park_ids] + [("InvestProject", i) for i in project_ids],
        )
    return {"parks": len(park_ids), "plots": len(plot_rows), "projects": len(project_ids)}


# -- import and export --------------------------------------------------------------------------


async def _cross_check(
    connection: AsyncConnection, kind: str, bodies: list[Any], rows: list[int]
) -> list[exchange.Problem]:
    """Problems no single row shows: duplicates in the file or the database, missing links."""
    problems: list[exchange.Problem] = []
    seen: dict[Any, int] = {}

    def once(key: Any, row: int, column: str, what: str) -> None:
        if key in seen:
            problems.append(exchange.Problem(row, column, f"{what} repeats row {seen[key]}"))
        else:
            seen[key] = row

    park_ids = {r.id for r in await connection.execute(select(parks.c.id))}
    for body, row in zip(bodies, rows, strict=True):
        if kind == "parks":
            once(body.name, row, "name", f"park {body.name!r}")
            taken = await connection.execute(select(parks.c.id).where(parks.c.name == body.name))
            if taken.first() is not None:
                problems.append(exchange.Problem(row, "name", f"a park named {body.name!r} exists"))
        elif kind == "plots":
            once((body.park_id, body.code), row, "code", f"plot {body.code!r} of this park")
            if body.park_id not in park_ids:
                problems.append(exchange.Problem(row, "park_id", f"no park with id {body.park_id}"))
            else:
                taken = await connection.execute(
                    select(plots.c.id).where(
                        plots.c.park_id == body.park_id, plots.c.code == body.code
                    )
                )
                if taken.first() is not None:
                    problems.append(
                        exchange.Problem(row, "code", f"park {body.park_id} has it already")
                    )
        elif kind == "projects":
            once(body.certificate_no, row, "certificate_no", f"certificate {body.certificate_no!r}")
            taken = await connection.execute(
                select(projects.c.id).where(projects.c.certificate_no == body.certificate_no)
            )
            if taken.first() is not None:
                problems.append(exchange.Problem(row, "certificate_no", "registered already"))
            try:
                await _check_project_links(connection, body.model_dump(mode="json"))
            except (NotFound, BadInput) as error:
                problems.append(exchange.Problem(row, error.field or "", error.message))
        elif kind == "leads" and body.investor_id is not None:
            try:
                await _investor_exists(connection, body.investor_id)
            except NotFound as error:
                problems.append(exchange.Problem(row, "investor_id", error.message))
    return problems


async def import_table(
    engine: AsyncEngine,
    principal: Principal,
    kind: str,
    content: bytes,
    content_type: str,
    path: str,
    *,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Import a CSV or XLSX table of `kind` all or nothing: any bad row imports none, and
    the answer lists every problem by row and column."""
    require_staff(principal, f"importing {kind}")
    if kind not in exchange.MODELS:
        raise NotFound(f"kind: expected one of {', '.join(exchange.MODELS)}", field="kind")
    table_rows = exchange.read_table(content, content_type)
    bodies, problems = exchange.check_rows(kind, table_rows)
    numbers = [
        number
        for number, cells in enumerate(table_rows[1:], start=2)
        if any(cell.strip() for cell in cells)
    ]
    async with _writing(engine) as connection:
        if not problems:
            problems = await _cross_check(connection, kind, bodies, numbers)
        if problems:
            raise Unprocessable(
                f"{len(problems)} problem(s) in the file: nothing was imported",
                [p.as_json() for p in problems],
            )
        if dry_run:
            return {"kind": kind, "rows": len(bodies), "imported": 0, "ids": [], "dry_run": True}
        ids = []
        for body in bodies:
            if isinstance(body, ParkIn):
                ids.append(await _insert_park(connection, body))
            elif isinstance(body, PlotIn):
                ids.append(await _insert_plot(connection, body))
            elif isinstance(body, ProjectIn):
                ids.append(await _insert_project(connection, principal, body))
            elif isinstance(body, LeadIn):
                ids.append(await _insert_lead(connection, principal, body, "import"))
        entity = {
            "parks": "InvestPark",
            "plots": "InvestPlot",
            "projects": "InvestProject",
            "leads": "InvestLead",
        }[kind]
        await record_write(connection, principal, "POST", path, [(entity, i) for i in ids])
    return {"kind": kind, "rows": len(bodies), "imported": len(ids), "ids": ids, "dry_run": False}


async def export_registry(
    engine: AsyncEngine, principal: Principal, file_format: str, as_of: date | None = None
) -> tuple[bytes, str]:
    """The registry (now or as of a day) as CSV, XLSX or GeoJSON: the bytes and their type."""
    require_staff(principal, "exporting the registry")
    rows = await list_projects(engine, principal, as_of=as_of, limit=10**9)
    if file_format == "csv":
        return exchange.as_csv(exchange.project_rows(rows)), "text/csv; charset=utf-8"
    if file_format == "xlsx":
        return exchange.as_xlsx(exchange.project_rows(rows), "registry"), exchange.XLSX
    if file_format == "geojson":
        async with read_connection(engine) as connection:
            boxes = await connection.execute(
                select(
                    parks.c.id,
                    parks.c.boundary_xmin,
                    parks.c.boundary_ymin,
                    parks.c.boundary_xmax,
                    parks.c.boundary_ymax,
                ).where(parks.c.boundary_xmin.is_not(None))
            )
            points = {
                b.id: [
                    (b.boundary_xmin + b.boundary_xmax) / 2,
                    (b.boundary_ymin + b.boundary_ymax) / 2,
                ]
                for b in boxes
            }
        collection = exchange.as_feature_collection(rows, points)
        return json.dumps(collection).encode(), "application/geo+json"
    raise BadInput(f"format: expected csv, xlsx or geojson, got {file_format!r}", field="format")


# -- investors, administrative units, enquiries ---------------------------------------------


async def create_investor(
    engine: AsyncEngine, principal: Principal, body: InvestorIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding an investor")
    async with _writing(engine) as connection:
        investor_id = (
            await connection.execute(
                insert(investors)
                .values(**body.model_dump(mode="json"), created_at=_now())
                .returning(investors.c.id)
            )
        ).scalar_one()
        await _audit(connection, principal, "POST", path, "InvestInvestor", investor_id)
        row = (
            await connection.execute(select(investors).where(investors.c.id == investor_id))
        ).one()
    return _row(row)


async def list_investors(
    engine: AsyncEngine, principal: Principal, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    require_staff(principal, "reading the investors")
    async with read_connection(engine) as connection:
        rows = await connection.execute(
            select(investors).order_by(investors.c.name, investors.c.id).limit(limit).offset(offset)
        )
        return [_row(r) for r in rows]


async def add_admin_unit_mapping(
    engine: AsyncEngine, principal: Principal, body: AdminUnitMappingIn, path: str
) -> dict[str, Any]:
    """Record which unit a pre-2025 commune became part of (one row per old unit)."""
    require_staff(principal, "mapping administrative units")
    async with _writing(engine) as connection:
        taken = await connection.execute(
            select(admin_unit_mapping.c.id).where(
                admin_unit_mapping.c.before_name == body.before_name,
                admin_unit_mapping.c.before_province == body.before_province,
            )
        )
        if taken.first() is not None:
            raise Conflict(
                f"before_name: {body.before_name}, {body.before_province} is mapped already",
                field="before_name",
            )
        mapping_id = (
            await connection.execute(
                insert(admin_unit_mapping)
                .values(**body.model_dump())
                .returning(admin_unit_mapping.c.id)
            )
        ).scalar_one()
        await _audit(connection, principal, "POST", path, "InvestAdminUnit", mapping_id)
    return {"id": mapping_id, **body.model_dump()}


async def admin_unit_mappings(
    engine: AsyncEngine, *, name: str | None = None
) -> list[dict[str, Any]]:
    """The mapping table; `name` finds a unit on either side of it."""
    query = select(admin_unit_mapping).order_by(
        admin_unit_mapping.c.after_name, admin_unit_mapping.c.before_name
    )
    if name:
        query = query.where(
            or_(admin_unit_mapping.c.before_name == name, admin_unit_mapping.c.after_name == name)
        )
    async with read_connection(engine) as connection:
        return [_row(r) for r in await connection.execute(query)]


async def submit_enquiry(engine: AsyncEngine, body: EnquiryIn, path: str) -> dict[str, Any]:
    """A portal enquiry becomes a lead (source "portal"); the answer repeats nothing of it."""
    if body.website:
        # a robot filled the hidden field: answer as if accepted, keep nothing
        return {"received": True}
    lead = LeadIn(
        organisation=body.organisation,
        country=body.country,
        contact={
            "name": body.name,
            "email": body.email,
            **({"phone": body.phone} if body.phone else {}),
            **({"message": body.message[:300]} if body.message else {}),
        },
        needs=body.needs,
    )
    portal = Principal("portal", Role.PUBLIC)
    async with _writing(engine) as connection:
        lead_id = await _insert_lead(connection, portal, lead, "portal")
        if body.message:
            await connection.execute(
                insert(activities).values(
                    lead_id=lead_id,
                    kind="note",
                    note=body.message,
                    owner="portal",
                    at=_now(),
                    next_action_on=None,
                    done=False,
                )
            )
        await _audit(connection, portal, "POST", path, "InvestLead", lead_id)
    return {"received": True}
