"""Read Observations as DataArrays (`$resultFormat=dataArray`, OGC 18-088 clause 14.3): one
page of Observations chosen exactly as a plain read chooses it, then grouped by Datastream or
MultiDatastream into rows of the `components` that `$select` names (all of them by default).
The rows come from `read`'s own query (`_rows`), so a DataArray page holds exactly the
Observations of the plain page with the same options, served by the same indexes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import OBSERVATION, Property
from cityhelix.hub.query.compile import steps_condition, table_of
from cityhelix.hub.query.expression import SelectItem
from cityhelix.hub.query.options import QueryOptions
from cityhelix.hub.query.path import ResourcePath
from cityhelix.hub.query.sql import filter_condition
from cityhelix.hub.store.read import Page, _rows, _where, check_path_exists
from cityhelix.hub.values import from_row

#: the component naming an Observation's id, as the standard's examples spell it
ID = "id"
#: every component, in the order of the standard's example: id, then the registry's order
ALL_COMPONENTS = (ID, *(prop.name for prop in OBSERVATION.properties))
#: the links a group is keyed by: (foreign key column, navigation name, entity set)
_GROUP_LINKS = (
    ("datastream_id", "Datastream", "Datastreams"),
    ("multi_datastream_id", "MultiDatastream", "MultiDatastreams"),
)


def _check_request(path: ResourcePath, options: QueryOptions) -> tuple[str, ...]:
    """The components of a dataArray read, or a 400 naming what makes it impossible.

    Only a collection of Observations has a DataArray form; `$expand` has no place in one.
    """
    if not path.is_collection or path.ref or path.target is not OBSERVATION:
        raise BadQuery(
            "$resultFormat=dataArray applies only to collections of Observations, "
            f"not to {'$ref' if path.ref else _addressed(path)}",
            token="$resultFormat",
        )
    if options.expand:
        raise BadQuery(
            "$expand cannot be combined with $resultFormat=dataArray: a DataArray row holds "
            "Observation properties only",
            token="$expand",
        )
    return _components_of(options.select)


def _components_of(items: tuple[SelectItem, ...]) -> tuple[str, ...]:
    """`$select` as DataArray components, in the order given, each once (all without it)."""
    if not items:
        return ALL_COMPONENTS
    components: list[str] = []
    for item in items:
        if item.path == ("*",):
            return ALL_COMPONENTS
        name = "/".join(item.path)
        component = ID if name in (ID, "@iot.id") else name
        if component != ID and OBSERVATION.find_property(component) is None:
            raise BadQuery(
                f"$select: '{name}' is not a DataArray component, expected one of "
                f"{', '.join(ALL_COMPONENTS)}",
                token=name,
            )
        if component not in components:
            components.append(component)
    return tuple(components)


async def read_data_array(
    connection: AsyncConnection, path: ResourcePath, options: QueryOptions, page: Page
) -> dict[str, Any]:
    """The DataArray document of a GET on a collection of Observations.

    `$filter`, `$count`, `$orderby`, `$skip`, `$top` and the nextLink work on Observations as
    in a plain read, so paging through DataArrays visits the same Observations in the same
    order; a group may therefore continue on the next page.
    """
    components = _check_request(path, options)
    condition = steps_condition(path.steps)
    if options.filter is not None:
        condition = and_(condition, filter_condition(OBSERVATION, options.filter))
    document: dict[str, Any] = {}
    if options.count:
        document["@iot.count"] = await connection.scalar(
            _where(select(func.count()).select_from(table_of(OBSERVATION)), condition)
        )
    top = options.top if options.top is not None else page.page_size
    rows = await _rows(connection, OBSERVATION, condition, options, top + 1)
    if not rows and not document.get("@iot.count"):
        await check_path_exists(connection, path)  # rows found say the path's ids exist
    if top > 0 and len(rows) > top:
        params = {**page.params, "$skip": str(options.skip + top), "$top": str(top)}
        document["@iot.nextLink"] = f"{page.request_url}?{urlencode(params, safe='$(),/:@')}"
    document["value"] = _groups(rows[:top], components, page.base_url)
    return document


def _groups(
    rows: Sequence[Any], components: tuple[str, ...], base_url: str
) -> list[dict[str, Any]]:
    """Group Observation rows by their (Multi)Datastream, in the order each first appears."""
    properties: list[Property | None] = [
        None if name == ID else OBSERVATION.find_property(name) for name in components
    ]
    groups: dict[tuple[str, str, int], dict[str, Any]] = {}
    for row in rows:
        key = _group_key(row)
        group = groups.get(key)
        if group is None:
            link_name, set_name, linked = key
            group = groups[key] = {
                f"{link_name}@iot.navigationLink": f"{base_url}/{set_name}({linked})",
                "components": list(components),
                "dataArray@iot.count": 0,
                "dataArray": [],
            }
        group["dataArray"].append(
            [row.id if prop is None else from_row(prop, row) for prop in properties]
        )
        group["dataArray@iot.count"] += 1
    return list(groups.values())


def _group_key(row: Any) -> tuple[str, str, int]:
    """(navigation name, entity set, id) of the Datastream or MultiDatastream of `row`."""
    for column, link_name, set_name in _GROUP_LINKS:
        linked = getattr(row, column)
        if linked is not None:
            return link_name, set_name, int(linked)
    raise AssertionError(f"Observation {row.id} has neither a Datastream nor a MultiDatastream")


def _addressed(path: ResourcePath) -> str:
    """What the path names, for an error message: `Things`, `a single Observation`, ..."""
    if path.prop is not None:
        return f"the property {path.prop.name}"
    if not path.is_collection:
        return f"a single {path.target.name}"
    return path.target.set_name
