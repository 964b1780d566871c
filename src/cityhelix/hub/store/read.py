"""Read SensorThings entities: collections with paging and counts, single entities, properties.

Query options arrive parsed (`query.options.QueryOptions`) and are compiled to SQL by
`query.sql`; this module orders the steps as the standard says ($filter, $count,
$orderby, $skip, $top) and turns rows into JSON with `serialize`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import True_

from cityhelix.hub.errors import BadQuery, NotFound
from cityhelix.hub.model import EntityType
from cityhelix.hub.query.compile import steps_condition, table_of
from cityhelix.hub.query.options import QueryOptions
from cityhelix.hub.query.path import ResourcePath
from cityhelix.hub.query.sql import filter_condition, order_clauses
from cityhelix.hub.serialize import entity_json, self_link


@dataclass(frozen=True)
class Page:
    """Where a collection is served from, so that `@iot.nextLink` can point at the next page."""

    base_url: str  # the version root, e.g. http://host/v1.1
    request_url: str  # the collection's URL without query string
    params: dict[str, str]  # the request's query parameters
    page_size: int


async def check_path_exists(connection: AsyncConnection, path: ResourcePath) -> None:
    """404 when an entity the path names by id, or a single entity it reaches, is missing."""
    for index, step in enumerate(path.steps):
        last = index == len(path.steps) - 1
        if step.id is None and not (last and not path.is_collection):
            continue
        table = table_of(step.entity_type)
        found = await connection.scalar(
            select(table.c.id).where(steps_condition(path.steps[: index + 1])).limit(1)
        )
        if found is None:
            raise NotFound(f"{'/'.join(_describe(s) for s in path.steps[: index + 1])} not found")


def _describe(step: Any) -> str:
    name = step.via.name if step.via is not None else step.entity_type.set_name
    return f"{name}({step.id})" if step.id is not None else name


async def read_collection(
    connection: AsyncConnection, path: ResourcePath, options: QueryOptions, page: Page
) -> dict[str, Any]:
    entity_type = path.target
    _refuse_unserved(options)
    condition = steps_condition(path.steps)
    if options.filter is not None:
        condition = and_(condition, filter_condition(entity_type, options.filter))
    document: dict[str, Any] = {}
    if options.count:
        table = table_of(entity_type)
        document["@iot.count"] = await connection.scalar(
            _where(select(func.count()).select_from(table), condition)
        )
    top = options.top if options.top is not None else page.page_size
    rows = await _rows(connection, entity_type, condition, options, top + 1)
    more = top > 0 and len(rows) > top
    rows = rows[:top]
    if more:
        params = dict(page.params)
        params["$skip"] = str(options.skip + top)
        params["$top"] = str(top)
        document["@iot.nextLink"] = f"{page.request_url}?{urlencode(params, safe='$(),/:@')}"
    if path.ref:
        document["value"] = [
            {"@iot.selfLink": self_link(page.base_url, entity_type, r.id)} for r in rows
        ]
    else:
        select_names = _selected(options)
        document["value"] = [
            entity_json(entity_type, r, page.base_url, select=select_names) for r in rows
        ]
    # the standard puts count and nextLink before value; keep that order on the wire
    return {k: document[k] for k in ("@iot.count", "@iot.nextLink", "value") if k in document}


async def read_entity(
    connection: AsyncConnection, path: ResourcePath, options: QueryOptions, base_url: str
) -> dict[str, Any]:
    entity_type = path.target
    _refuse_unserved(options)
    rows = await _rows(connection, entity_type, steps_condition(path.steps), options, 1)
    if not rows:
        raise NotFound(f"{entity_type.name} not found")
    row = rows[0]
    if path.ref:
        return {"@iot.selfLink": self_link(base_url, entity_type, row.id)}
    document = entity_json(entity_type, row, base_url, select=_selected(options))
    if path.prop is not None:
        return {path.prop.name: document.get(path.prop.name)}
    return document


async def _rows(
    connection: AsyncConnection,
    entity_type: EntityType,
    condition: ColumnElement[bool],
    options: QueryOptions,
    limit: int,
) -> list[Any]:
    table = table_of(entity_type)
    statement = (
        _where(select(table), condition)
        .order_by(*order_clauses(entity_type, options.orderby), _tie_breaker(table, options))
        .offset(options.skip)
        .limit(limit)
    )
    return list(await connection.execute(statement))


def _refuse_unserved(options: QueryOptions) -> None:
    """400 for options that parse but are not applied yet, rather than a silent wrong answer."""
    if options.expand:
        raise BadQuery("$expand is not supported yet", token="$expand")
    if options.result_format is not None:
        raise BadQuery("$resultFormat=dataArray is not supported yet", token="$resultFormat")


def _where(statement: Select[Any], condition: ColumnElement[bool]) -> Select[Any]:
    """Add `condition` unless it is the always-true one of a plain collection.

    `WHERE true` is not free: SQLite then counts row by row instead of by b-tree pages.
    """
    return statement if isinstance(condition, True_) else statement.where(condition)


def _tie_breaker(table: Any, options: QueryOptions) -> Any:
    """Order ties by id, in the direction of the last key, so one index serves the order."""
    last_descending = bool(options.orderby) and options.orderby[-1].descending
    return table.c.id.desc() if last_descending else table.c.id.asc()


def _selected(options: QueryOptions) -> frozenset[str] | None:
    if not options.select:
        return None
    return frozenset(item.path[0] for item in options.select)
