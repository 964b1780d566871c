"""The registry of foreign-invested projects with every version kept, and the investors.

Each change is a new version holding the whole state, effective on a day, so that a
project reads "as of" any day; `invest_projects` holds the newest for search.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.db.engine import read_connection
from cityhelix.invest.errors import BadInput, Conflict, NotFound
from cityhelix.invest.parks import park_exists
from cityhelix.invest.schemas import (
    InvestorIn,
    ProjectChange,
    ProjectIn,
)
from cityhelix.invest.store import audit, json_row, plain, require_staff, utc_now, writing
from cityhelix.invest.tables import (
    investors,
    plots,
    project_versions,
    projects,
)


def project_columns(document: Mapping[str, Any], version: int) -> dict[str, Any]:
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
        "updated_at": utc_now(),
    }


async def check_project_links(connection: AsyncConnection, document: Mapping[str, Any]) -> None:
    if document.get("park_id") is not None:
        await park_exists(connection, document["park_id"], "park_id")
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
    async with writing(engine) as connection:
        taken = await connection.execute(
            select(projects.c.id).where(projects.c.certificate_no == body.certificate_no)
        )
        if taken.first() is not None:
            raise Conflict(
                f"certificate_no: {body.certificate_no!r} is registered already",
                field="certificate_no",
            )
        await check_project_links(connection, document)
        project_id = await insert_project(connection, principal, body)
        await audit(connection, principal, "POST", path, "InvestProject", project_id)
    return await get_project(engine, principal, project_id)


async def insert_project(connection: AsyncConnection, principal: Principal, body: ProjectIn) -> int:
    document = body.model_dump(mode="json")
    project_id: int = (
        await connection.execute(
            insert(projects).values(**project_columns(document, 1)).returning(projects.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(project_versions).values(
            project_id=project_id,
            version=1,
            effective_on=body.issued_on,
            recorded_at=utc_now(),
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
    async with writing(engine) as connection:
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
        await check_project_links(connection, document)
        version = current.version + 1
        await connection.execute(
            update(projects)
            .where(projects.c.id == project_id)
            .values(**project_columns(document, version))
        )
        await connection.execute(
            insert(project_versions).values(
                project_id=project_id,
                version=version,
                effective_on=body.effective_on,
                recorded_at=utc_now(),
                recorded_by=principal.name,
                change_note=body.change_note,
                document=document,
            )
        )
        await audit(connection, principal, "PATCH", path, "InvestProject", project_id)
    return await get_project(engine, principal, project_id)


def _project_out(project_id: int, version: Any) -> dict[str, Any]:
    return {
        "id": project_id,
        **version.document,
        "version": version.version,
        "effective_on": plain(version.effective_on),
        "recorded_at": plain(version.recorded_at),
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
    q: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """The registry now (from `invest_projects`) or as of a day (from the versions).

    `q` finds the text in the project's name, its first investor's name or its certificate
    number, ignoring case (on SQLite, the case of ASCII letters only).
    """
    require_staff(principal, "reading the registry")
    text = (q or "").strip()
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
            if text:
                query = query.where(
                    or_(
                        table.c.name.icontains(text, autoescape=True),
                        table.c.investor.icontains(text, autoescape=True),
                        table.c.certificate_no.icontains(text, autoescape=True),
                    )
                )
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
            if text and not _names_contain(doc, text):
                continue
            answer.append(_project_out(row.project_id, row))
        return answer[offset : offset + limit]


def _names_contain(document: Mapping[str, Any], text: str) -> bool:
    """As the `q` filter of the newest state: name, first investor, certificate number."""
    investors = document.get("investors") or []
    names = [
        document.get("name"),
        investors[0].get("name") if investors else None,
        document.get("certificate_no"),
    ]
    return any(text.lower() in str(name).lower() for name in names if name)


async def delete_project(
    engine: AsyncEngine, principal: Principal, project_id: int, path: str
) -> None:
    """Remove a project entered by mistake, with its history (a terminated one stays)."""
    require_staff(principal, "deleting a project")
    async with writing(engine) as connection:
        gone = await connection.execute(delete(projects).where(projects.c.id == project_id))
        if gone.rowcount == 0:
            raise NotFound(f"id: no project with id {project_id}", field="id")
        await audit(connection, principal, "DELETE", path, "InvestProject", project_id)


async def investor_exists(connection: AsyncConnection, investor_id: int) -> None:
    found = await connection.execute(select(investors.c.id).where(investors.c.id == investor_id))
    if found.first() is None:
        raise NotFound(f"investor_id: no investor with id {investor_id}", field="investor_id")


async def create_investor(
    engine: AsyncEngine, principal: Principal, body: InvestorIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding an investor")
    async with writing(engine) as connection:
        investor_id = (
            await connection.execute(
                insert(investors)
                .values(**body.model_dump(mode="json"), created_at=utc_now())
                .returning(investors.c.id)
            )
        ).scalar_one()
        await audit(connection, principal, "POST", path, "InvestInvestor", investor_id)
        row = (
            await connection.execute(select(investors).where(investors.c.id == investor_id))
        ).one()
    return json_row(row)


async def list_investors(
    engine: AsyncEngine, principal: Principal, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    require_staff(principal, "reading the investors")
    async with read_connection(engine) as connection:
        rows = await connection.execute(
            select(investors).order_by(investors.c.name, investors.c.id).limit(limit).offset(offset)
        )
        return [json_row(r) for r in rows]
