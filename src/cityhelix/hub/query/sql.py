"""Compile `$filter` and `$orderby` expression trees to SQLAlchemy Core for one entity type.

The full expression language (navigation paths, functions, geometry) is filled in by the
query-language issue; until then only plain property ordering is compiled and any other
expression is refused with a 400 that names it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import EntityType, Kind
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.query.expression import Expr, OrderBy, Path, to_text


def filter_condition(entity_type: EntityType, expression: Expr) -> ColumnElement[bool]:
    raise BadQuery(f"$filter is not supported yet: {to_text(expression)}", token="$filter")


def order_clauses(entity_type: EntityType, orderby: tuple[OrderBy, ...]) -> list[Any]:
    clauses: list[Any] = []
    table = table_of(entity_type)
    for item in orderby:
        expression = item.expr
        if not isinstance(expression, Path) or len(expression.segments) != 1:
            raise BadQuery(f"$orderby: cannot order by {to_text(expression)}", token="$orderby")
        name = expression.segments[0]
        if name in ("id", "@iot.id"):
            column = table.c.id
        else:
            prop = entity_type.find_property(name)
            if prop is None or prop.kind in (Kind.JSON, Kind.GEOMETRY):
                raise BadQuery(
                    f"$orderby: {entity_type.name} has no orderable property {name!r}", token=name
                )
            if prop.kind in (Kind.INTERVAL, Kind.INSTANT_OR_INTERVAL):
                column = table.c[f"{prop.column}_start"]
            elif prop.kind is Kind.RESULT:
                column = table.c.result_number
            else:
                column = table.c[prop.column]
        clauses.append(column.desc() if item.descending else column.asc())
    return clauses
