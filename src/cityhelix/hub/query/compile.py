"""Compile resource paths and query options to SQLAlchemy Core selects (never SQL text).

A path like `/Things(1)/Datastreams` becomes a condition on the last entity's table,
built from the registry's navigation links: a foreign key on either side or a link table.
The same link-following is what `$filter` paths and `$expand` use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, FromClause, Select, Table, and_, select, true

from cityhelix.hub.model import BY_NAME, EntityType, Navigation
from cityhelix.hub.query.path import Step
from cityhelix.hub.tables import BY_TABLE


def table_of(entity_type: EntityType) -> Table:
    return BY_TABLE[entity_type.table]


def linked_to(navigation: Navigation, source: EntityType, source_ids: Any) -> ColumnElement[bool]:
    """Condition on the target table of `navigation`: rows linked to `source_ids`.

    `source_ids` is one id or a scalar subquery of ids of the source entity type.
    """
    target = table_of(BY_NAME[navigation.target])
    source_table = table_of(source)
    single = not hasattr(source_ids, "subquery") and not isinstance(source_ids, Select)
    if navigation.source_fk is not None:
        fk = source_table.c[navigation.source_fk]
        ids = select(fk).where(
            source_table.c.id == source_ids if single else source_table.c.id.in_(source_ids)
        )
        return target.c.id.in_(ids.scalar_subquery())
    if navigation.target_fk is not None:
        column = target.c[navigation.target_fk]
        return column == source_ids if single else column.in_(source_ids)
    assert navigation.link_table and navigation.link_source and navigation.link_target
    link = BY_TABLE[navigation.link_table]
    source_column = link.c[navigation.link_source]
    linked = select(link.c[navigation.link_target]).where(
        source_column == source_ids if single else source_column.in_(source_ids)
    )
    return target.c.id.in_(linked.scalar_subquery())


def link_position(
    navigation: Navigation, source_id: Any, target: FromClause
) -> ColumnElement[Any] | None:
    """The position of a `target` row among the entities `navigation` links to `source_id`
    (an id, a column or a scalar subquery), for links whose order means something; else None.
    """
    if navigation.link_order is None:
        return None
    assert navigation.link_table and navigation.link_source and navigation.link_target
    link = BY_TABLE[navigation.link_table].alias()
    return (
        select(link.c[navigation.link_order])
        .where(link.c[navigation.link_source] == source_id)
        .where(link.c[navigation.link_target] == target.c.id)
        .limit(1)
        .correlate_except(link)
        .scalar_subquery()
    )


def path_position(steps: tuple[Step, ...]) -> ColumnElement[Any] | None:
    """`link_position` of the last step of a path reaching an ordered link's collection."""
    last = steps[-1]
    if last.via is None or last.via.link_order is None or len(steps) < 2:
        return None
    parent = steps[-2]
    source_id: Any = parent.id
    if source_id is None:
        source = table_of(parent.entity_type)
        source_id = select(source.c.id).where(steps_condition(steps[:-1])).scalar_subquery()
    return link_position(last.via, source_id, table_of(last.entity_type))


def steps_condition(steps: tuple[Step, ...]) -> ColumnElement[bool]:
    """Condition on the last step's table selecting exactly the rows the path addresses."""
    first = steps[0]
    condition: ColumnElement[bool] = (
        table_of(first.entity_type).c.id == first.id if first.id is not None else true()
    )
    previous = first
    for step in steps[1:]:
        assert step.via is not None
        source_ids: Any
        if previous.id is not None:
            source_ids = previous.id
        else:
            source_table = table_of(previous.entity_type)
            source_ids = select(source_table.c.id).where(condition).scalar_subquery()
        condition = linked_to(step.via, previous.entity_type, source_ids)
        if step.id is not None:
            condition = and_(condition, table_of(step.entity_type).c.id == step.id)
        previous = step
    return condition
