"""The data hub's door: read and write SensorThings resources by path, as plain async calls.

HTTP (`api`), MQTT and other pillars call these functions; they own the transactions,
the audit records and the order of checks (path, then permission, then body).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import record_write
from cityhelix.events.bus import EntityEvent, EventBus
from cityhelix.hub.errors import BadRequest, Conflict
from cityhelix.hub.model import BY_NAME, EntityType
from cityhelix.hub.query.compile import steps_condition, table_of
from cityhelix.hub.query.options import QueryOptions
from cityhelix.hub.query.path import ResourcePath
from cityhelix.hub.store.read import Page, check_path_exists, read_collection, read_entity
from cityhelix.hub.store.write import Writer, Written


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the main entity and everything it touched, in order."""

    entity_type: EntityType
    id: int
    written: tuple[Written, ...]


async def read(
    engine: AsyncEngine, path: ResourcePath, options: QueryOptions, page: Page
) -> dict[str, Any]:
    """The JSON document of a GET on `path` (collection, entity, property)."""
    async with engine.connect() as connection:
        await check_path_exists(connection, path)
        if path.is_collection:
            return await read_collection(connection, path, options, page)
        return await read_entity(connection, path, options, page.base_url)


def _body_with_parent_link(path: ResourcePath, body: object) -> object:
    """POST to `/Things(1)/Datastreams`: the new entity is linked to Thing 1."""
    parent = path.parent
    navigation = path.steps[-1].via
    if parent is None or navigation is None or not isinstance(body, dict):
        return body
    target = BY_NAME[navigation.target]
    for inverse in target.navigations:
        if inverse.target != parent.entity_type.name:
            continue
        if navigation.target_fk is not None and inverse.source_fk == navigation.target_fk:
            return {**body, inverse.name: {"@iot.id": parent.id}}
        if navigation.link_table is not None and inverse.link_table == navigation.link_table:
            return {**body, inverse.name: [{"@iot.id": parent.id}]}
    raise BadRequest(f"cannot create {target.set_name} under {parent.entity_type.name}")


def announce(bus: EventBus | None, result: WriteResult) -> None:
    """Tell subscribers what a committed write did, in the order it did it."""
    if bus is not None:
        bus.publish(EntityEvent(w.action, w.entity_type.name, w.id) for w in result.written)


async def create(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    body: object,
    request_path: str,
    bus: EventBus | None = None,
) -> WriteResult:
    """POST: create the entity in `body` (deep insert) in one transaction, audited."""
    if not path.is_collection or path.prop is not None or path.ref:
        raise BadRequest("POST goes to an entity collection, e.g. /v1.1/Things")
    if path.parent is not None and path.parent.id is None:
        raise BadRequest(
            "POST under a navigation link needs the parent's id, e.g. /Things(1)/Locations"
        )
    body = _body_with_parent_link(path, body)
    try:
        async with engine.begin() as connection:
            if path.parent is not None:
                await check_path_exists(connection, ResourcePath(path.steps[:-1]))
            writer = Writer(connection, principal)
            entity_id = await writer.create(path.target, body)
            await writer.finish()
            await _audit(connection, principal, "POST", request_path, writer.written)
    except IntegrityError:
        raise Conflict("the write conflicts with another change; retry it") from None
    result = WriteResult(path.target, entity_id, tuple(writer.written))
    announce(bus, result)
    return result


async def update(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    body: object,
    request_path: str,
    *,
    replace: bool,
    bus: EventBus | None = None,
) -> WriteResult:
    """PATCH or PUT one entity addressed by `path`."""
    entity_type, entity_id = await _single(engine, path)
    try:
        async with engine.begin() as connection:
            writer = Writer(connection, principal)
            await writer.update(entity_type, entity_id, body, replace=replace)
            await writer.finish()
            method = "PUT" if replace else "PATCH"
            await _audit(connection, principal, method, request_path, writer.written)
    except IntegrityError:
        raise Conflict("the write conflicts with another change; retry it") from None
    result = WriteResult(entity_type, entity_id, tuple(writer.written))
    announce(bus, result)
    return result


async def delete(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    request_path: str,
    bus: EventBus | None = None,
) -> WriteResult:
    """DELETE one entity addressed by `path`, with the standard's cascades."""
    entity_type, entity_id = await _single(engine, path)
    async with engine.begin() as connection:
        writer = Writer(connection, principal)
        await writer.delete(entity_type, entity_id)
        await _audit(connection, principal, "DELETE", request_path, writer.written)
    result = WriteResult(entity_type, entity_id, tuple(writer.written))
    announce(bus, result)
    return result


async def _single(engine: AsyncEngine, path: ResourcePath) -> tuple[EntityType, int]:
    """The type and id of the one entity a write path addresses (404 when missing)."""
    if path.is_collection or path.prop is not None or path.ref:
        raise BadRequest("PATCH, PUT and DELETE address one entity, e.g. /v1.1/Things(1)")
    last = path.steps[-1]
    async with engine.connect() as connection:
        await check_path_exists(connection, path)
        if last.id is not None and len(path.steps) == 1:
            return last.entity_type, last.id
        table = table_of(last.entity_type)
        found: int = (
            await connection.execute(select(table.c.id).where(steps_condition(path.steps)))
        ).scalar_one()
    return last.entity_type, found


async def _audit(
    connection: Any, principal: Principal, method: str, request_path: str, written: list[Written]
) -> None:
    await record_write(
        connection,
        principal,
        method,
        request_path,
        [(w.entity_type.name, w.id) for w in written],
    )
