"""Compile `$filter`, `$orderby` and `$select` of one entity type to SQLAlchemy Core, the three
entry points the store calls; the language itself is in `filter_sql` and `functions`. Names
are checked against the registry, constants are bound, and every mistake is a BadQuery."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import EntityType
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.query.expression import Expr, OrderBy, SelectItem
from cityhelix.hub.query.filter_sql import ExpressionCompiler

__all__ = ["filter_condition", "order_clauses", "selected_names", "tie_breaker"]


def filter_condition(
    entity_type: EntityType,
    expression: Expr,
    *,
    scope: FromClause | None = None,
    where: str = "$filter",
) -> ColumnElement[bool]:
    """The rows of `entity_type` (read from `scope`, by default its table) `expression` keeps."""
    root = table_of(entity_type) if scope is None else scope
    return ExpressionCompiler(entity_type, root, where).condition(expression)


def order_clauses(
    entity_type: EntityType,
    orderby: tuple[OrderBy, ...],
    *,
    scope: FromClause | None = None,
    where: str = "$orderby",
) -> list[Any]:
    """ORDER BY clauses of `$orderby` (add `tie_breaker` after them for stable paging).

    Nulls sort first ascending and last descending, as OData 4.01 (11.2.6.2) says, on both
    backends; columns that are never null get no NULLS clause so that indexes still serve.
    """
    root = table_of(entity_type) if scope is None else scope
    compiler = ExpressionCompiler(entity_type, root, where)
    clauses: list[Any] = []
    for item in orderby:
        for key, nullable in compiler.sort_keys(item.expr):
            if item.descending:
                clauses.append(key.desc().nulls_last() if nullable else key.desc())
            else:
                clauses.append(key.asc().nulls_first() if nullable else key.asc())
    return clauses


def tie_breaker(scope: FromClause, orderby: tuple[OrderBy, ...]) -> Any:
    """Order ties by id, in the direction of the last key, so one index serves the order."""
    descending = bool(orderby) and orderby[-1].descending
    return scope.c.id.desc() if descending else scope.c.id.asc()


def selected_names(
    entity_type: EntityType, items: tuple[SelectItem, ...], *, where: str = "$select"
) -> frozenset[str] | None:
    """The member names `$select` keeps (None: all of them); unknown names are a 400.

    Names are the wire names: properties, `@iot.id` (also `id`), `@iot.selfLink`, and
    navigation links (written as their `@iot.navigationLink`).
    """
    if not items:
        return None
    names: set[str] = set()
    for item in items:
        if item.path == ("*",):
            return None
        text = "/".join(item.path)
        if len(item.path) != 1:
            raise BadQuery(
                f"{where}: '{text}' selects inside a property; select the whole property "
                f"'{item.path[0]}'",
                token=text,
            )
        name = item.path[0]
        if name in ("@iot.id", "id"):
            names.add("@iot.id")
            continue
        if name == "@iot.selfLink" or entity_type.find_property(name) is not None:
            names.add(name)
            continue
        navigation_name = name.removesuffix("@iot.navigationLink")
        if entity_type.find_navigation(navigation_name) is not None:
            names.add(navigation_name)
            continue
        raise BadQuery(
            f"{where}: {entity_type.name} has no property or navigation link '{name}'",
            token=name,
        )
    return frozenset(names)
