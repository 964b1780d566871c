"""Industrial parks, their free plots and the 2025 administrative-unit mapping: storage.

Parks are public; writing them is for analysts and admins. A park's units before and
after the 1 July 2025 reorganisation are both kept and both searchable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.db.engine import read_connection
from cityhelix.invest.errors import BadInput, Conflict, NotFound
from cityhelix.invest.schemas import (
    AdminUnitMappingIn,
    ParkIn,
    PlotIn,
)
from cityhelix.invest.store import (
    audit,
    geometry_columns,
    json_row,
    require_staff,
    utc_now,
    writing,
)
from cityhelix.invest.tables import (
    admin_unit_mapping,
    parks,
    plots,
)


def park_values(body: Mapping[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in body.items() if k != "boundary"}
    if "boundary" in body:
        values.update(geometry_columns(body["boundary"]))
    return values


async def _name_free(connection: AsyncConnection, name: str, except_id: int | None) -> None:
    query = select(parks.c.id).where(parks.c.name == name)
    if except_id is not None:
        query = query.where(parks.c.id != except_id)
    if (await connection.execute(query)).first() is not None:
        raise Conflict(f"name: a park named {name!r} exists already", field="name")


async def insert_park(connection: AsyncConnection, body: ParkIn) -> int:
    now = utc_now()
    values = park_values(body.model_dump(mode="json"))
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
    async with writing(engine) as connection:
        await _name_free(connection, body.name, None)
        park_id = await insert_park(connection, body)
        await audit(connection, principal, "POST", path, "InvestPark", park_id)
    return await get_park(engine, park_id)


async def update_park(
    engine: AsyncEngine, principal: Principal, park_id: int, body: Mapping[str, Any], path: str
) -> dict[str, Any]:
    require_staff(principal, "changing a park")
    values = park_values(body)
    async with writing(engine) as connection:
        await park_exists(connection, park_id)
        if "name" in values:
            if values["name"] is None:
                raise BadInput("name: a park keeps a name", field="name")
            await _name_free(connection, values["name"], park_id)
        await connection.execute(
            update(parks).where(parks.c.id == park_id).values(**values, updated_at=utc_now())
        )
        await audit(connection, principal, "PATCH", path, "InvestPark", park_id)
    return await get_park(engine, park_id)


async def delete_park(engine: AsyncEngine, principal: Principal, park_id: int, path: str) -> None:
    require_staff(principal, "deleting a park")
    async with writing(engine) as connection:
        await park_exists(connection, park_id)
        await connection.execute(delete(parks).where(parks.c.id == park_id))
        await audit(connection, principal, "DELETE", path, "InvestPark", park_id)


async def park_exists(connection: AsyncConnection, park_id: int, field: str = "id") -> None:
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
        rows = [json_row(r) for r in await connection.execute(query)]
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
        park = json_row(row)
        park["plots"] = [
            json_row(p)
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
    async with writing(engine) as connection:
        await park_exists(connection, body.park_id, "park_id")
        taken = await connection.execute(
            select(plots.c.id).where(plots.c.park_id == body.park_id, plots.c.code == body.code)
        )
        if taken.first() is not None:
            raise Conflict(f"code: park {body.park_id} has a plot {body.code!r}", field="code")
        plot_id = await insert_plot(connection, body)
        await audit(connection, principal, "POST", path, "InvestPlot", plot_id)
    return await get_plot(engine, plot_id)


async def insert_plot(connection: AsyncConnection, body: PlotIn) -> int:
    now = utc_now()
    values = body.model_dump(exclude={"boundary"})
    values.update(geometry_columns(body.boundary.model_dump() if body.boundary else None))
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
        values.update(geometry_columns(body["boundary"]))
    async with writing(engine) as connection:
        await get_plot_in(connection, plot_id)
        await connection.execute(
            update(plots).where(plots.c.id == plot_id).values(**values, updated_at=utc_now())
        )
        await audit(connection, principal, "PATCH", path, "InvestPlot", plot_id)
    return await get_plot(engine, plot_id)


async def get_plot_in(connection: AsyncConnection, plot_id: int) -> dict[str, Any]:
    row = (await connection.execute(select(plots).where(plots.c.id == plot_id))).first()
    if row is None:
        raise NotFound(f"id: no plot with id {plot_id}", field="id")
    return json_row(row)


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
        return [json_row(r) for r in await connection.execute(query)]


async def delete_plot(engine: AsyncEngine, principal: Principal, plot_id: int, path: str) -> None:
    require_staff(principal, "deleting a plot")
    async with writing(engine) as connection:
        await get_plot_in(connection, plot_id)
        await connection.execute(delete(plots).where(plots.c.id == plot_id))
        await audit(connection, principal, "DELETE", path, "InvestPlot", plot_id)


async def add_admin_unit_mapping(
    engine: AsyncEngine, principal: Principal, body: AdminUnitMappingIn, path: str
) -> dict[str, Any]:
    """Record which unit a pre-2025 commune became part of (one row per old unit)."""
    require_staff(principal, "mapping administrative units")
    async with writing(engine) as connection:
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
        await audit(connection, principal, "POST", path, "InvestAdminUnit", mapping_id)
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
        return [json_row(r) for r in await connection.execute(query)]
