"""Plan `$expand` (nested, with options per level) and build one SELECT per expanded level.

A level is fetched for all parent rows of the page at once: `IN` over the parents' ids, each
parent's own $orderby/$skip/$top applied by a per-parent index probe, and its `@iot.count` by
one grouped count when asked; so an expansion costs one or two queries, not one per row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    FromClause,
    Select,
    bindparam,
    func,
    select,
    true,
)

from cityhelix.db.types import Geometry
from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import BY_NAME, EntityType, Navigation
from cityhelix.hub.query.compile import link_position, table_of
from cityhelix.hub.query.expression import ExpandItem, to_text
from cityhelix.hub.query.options import QueryOptions
from cityhelix.hub.query.sql import filter_condition, order_clauses, selected_names, tie_breaker
from cityhelix.hub.tables import BY_TABLE

PARENT = "expand_parent_id"
#: the parameter holding the parents' ids of an expansion statement
PARENT_IDS = "expand_parent_ids"
#: expansion statements kept built: each is the same for every request of the same shape,
#: and building one (aliases, cache key) was a quarter of a 100-Datastream `$expand`
_CACHED_STATEMENTS = 256
ROW_NUMBER = "expand_row_number"
COUNT = "expand_count"


@dataclass(frozen=True)
class Expansion:
    """One expanded navigation link with its own options and the expansions nested in it."""

    navigation: Navigation
    source: EntityType
    target: EntityType
    options: QueryOptions  # $filter $orderby $top $skip $count $select of this level
    select: frozenset[str] | None
    children: tuple[Expansion, ...]
    nested: tuple[ExpandItem, ...]  # the nested items as given, for nextLinks
    where: str

    @property
    def by_foreign_key(self) -> bool:
        """A to-one link read through the parent's own foreign key column."""
        return not self.navigation.to_many and self.navigation.source_fk is not None


def plan_expansions(
    entity_type: EntityType, items: tuple[ExpandItem, ...], where: str = "$expand"
) -> tuple[Expansion, ...]:
    """Merge and check `$expand` items: `A/B` is `A($expand=B)`, and items naming the same
    link merge their nested expansions; names and nested options are checked here, so a
    mistake is a 400 before any query runs."""
    groups: dict[str, tuple[QueryOptions | None, list[ExpandItem]]] = {}
    for item in items:
        head, rest = item.path[0], item.path[1:]
        own, nested = groups.get(head, (None, []))
        if rest:
            nested.append(ExpandItem(rest, item.options))
        else:
            if own is not None:
                raise BadQuery(
                    f"{where}: '{head}' is expanded twice with its own options; give it once",
                    token=head,
                )
            own = item.options
            nested.extend(item.options.expand)
        groups[head] = (own, nested)
    plans: list[Expansion] = []
    for name, (own, nested) in groups.items():
        navigation = entity_type.find_navigation(name)
        if navigation is None:
            kind = "property" if entity_type.find_property(name) else "name"
            raise BadQuery(
                f"{where}: {entity_type.name} has no navigation link '{name}' (a {kind} "
                f"cannot be expanded), expected one of "
                f"{', '.join(n.name for n in entity_type.navigations)}",
                token=name,
            )
        target = BY_NAME[navigation.target]
        options = own or QueryOptions()
        label = f"{where}({name})"
        if options.filter is not None:
            filter_condition(target, options.filter, where=f"{label} > $filter")
        if options.orderby:
            order_clauses(target, options.orderby, where=f"{label} > $orderby")
        plans.append(
            Expansion(
                navigation=navigation,
                source=entity_type,
                target=target,
                options=options,
                select=selected_names(target, options.select, where=f"{label} > $select"),
                children=plan_expansions(target, tuple(nested), f"{label} > $expand"),
                nested=tuple(nested),
                where=label,
            )
        )
    return tuple(plans)


def entity_columns(scope: FromClause) -> list[ColumnElement[Any]]:
    """The columns entities are written from; stored geometry is never read back."""
    return [column for column in scope.c if not isinstance(column.type, Geometry)]


def _filtered(expansion: Expansion, scope: FromClause) -> list[ColumnElement[bool]]:
    if expansion.options.filter is None:
        return []
    where = f"{expansion.where} > $filter"
    return [filter_condition(expansion.target, expansion.options.filter, scope=scope, where=where)]


def to_one_statement(expansion: Expansion, ids: Sequence[int]) -> Select[Any]:
    """The linked entities with these ids that pass the level's $filter."""
    target = table_of(expansion.target).alias()
    return select(*entity_columns(target)).where(
        target.c.id.in_(ids), *_filtered(expansion, target)
    )


def _parent_ids() -> BindParameter[Any]:
    return bindparam(PARENT_IDS, expanding=True)


def _linked(
    expansion: Expansion, target: FromClause, parent: FromClause
) -> tuple[FromClause, list[ColumnElement[bool]], ColumnElement[Any] | None]:
    """What to select `target` rows from, the conditions tying them to the `parent` row
    (of the source entity's table) and the link's position column when it has one; a link
    table is joined explicitly so that SQLAlchemy's cartesian-product lint sees it inside a
    LATERAL subquery."""
    navigation = expansion.navigation
    if navigation.target_fk is not None:
        return target, [target.c[navigation.target_fk] == parent.c.id], None
    if navigation.link_table is not None:
        assert navigation.link_source and navigation.link_target
        link = BY_TABLE[navigation.link_table].alias()
        joined = target.join(link, link.c[navigation.link_target] == target.c.id)
        position = link.c[navigation.link_order] if navigation.link_order else None
        return joined, [link.c[navigation.link_source] == parent.c.id], position
    # a to-one link kept on the other side (none in 1.1): at most one row each
    assert navigation.source_fk is not None
    return target, [parent.c[navigation.source_fk] == target.c.id], None


def _ordering(
    expansion: Expansion, scope: FromClause, position: ColumnElement[Any] | None
) -> list[Any]:
    """ORDER BY of an expanded level: its $orderby, else the position of an ordered link
    (a MultiDatastream's ObservedProperties keep the order given), then the id."""
    orderby = expansion.options.orderby
    where = f"{expansion.where} > $orderby"
    first = [] if orderby or position is None else [position]
    return [
        *first,
        *order_clauses(expansion.target, orderby, scope=scope, where=where),
        tie_breaker(scope, orderby),
    ]


@lru_cache(maxsize=_CACHED_STATEMENTS)
def to_many_statement(expansion: Expansion, top: int, *, lateral: bool) -> Select[Any]:
    """Each parent's related entities, ordered, skipped and cut to `top` + 1 (the extra row
    says whether a nextLink is needed); labelled with the parent's id and the row's rank.
    The parents' ids are the `PARENT_IDS` parameter.

    Each parent's rows are one index probe that stops after `top` + 1 rows: a LATERAL
    subquery where the backend has one (PostgreSQL), else the related ids picked by a
    correlated `IN (... LIMIT)` (SQLite). Ranking all related rows with a window function
    instead reads every Observation of every parent (seconds at a million rows).
    """
    options = expansion.options
    parent = table_of(expansion.source).alias()
    target = table_of(expansion.target).alias()
    source, linked, position = _linked(expansion, target, parent)
    ordering = _ordering(expansion, target, position)
    if lateral:
        rank = func.row_number().over(order_by=ordering).label(ROW_NUMBER)
        picked = select(*entity_columns(target), rank)
    else:
        picked = select(target.c.id)
    picked = (
        picked.select_from(source)
        .where(*linked, *_filtered(expansion, target))
        .order_by(*ordering)
        .offset(options.skip)
        .limit(top + 1)
        .correlate(parent)
    )
    if lateral:
        rows = picked.lateral()
        return (
            select(*rows.c, parent.c.id.label(PARENT))
            .select_from(parent.join(rows, true()))
            .where(parent.c.id.in_(_parent_ids()))
            .order_by(parent.c.id, rows.c[ROW_NUMBER])
        )
    related = table_of(expansion.target).alias()
    return (
        select(*entity_columns(related), parent.c.id.label(PARENT))
        .select_from(parent.join(related, related.c.id.in_(picked)))
        .where(parent.c.id.in_(_parent_ids()))
        .order_by(
            parent.c.id,
            *_ordering(
                expansion, related, link_position(expansion.navigation, parent.c.id, related)
            ),
        )
    )


@lru_cache(maxsize=_CACHED_STATEMENTS)
def count_statement(expansion: Expansion) -> Select[Any]:
    """`@iot.count` of each parent (ids in `PARENT_IDS`) of its related entities that pass
    the level's $filter; parents with none are absent."""
    parent = table_of(expansion.source).alias()
    target = table_of(expansion.target).alias()
    source, linked, _ = _linked(expansion, target, parent)
    return (
        select(parent.c.id.label(PARENT), func.count().label(COUNT))
        .select_from(parent, source)
        .where(parent.c.id.in_(_parent_ids()), *linked, *_filtered(expansion, target))
        .group_by(parent.c.id)
    )


def expand_text(items: Sequence[ExpandItem]) -> str:
    """`$expand` items printed back, for the nextLinks of expanded collections."""
    printed = []
    for item in items:
        params = option_params(item.options, nested=True)
        inner = ";".join(f"{name}={value}" for name, value in params.items())
        printed.append("/".join(item.path) + (f"({inner})" if inner else ""))
    return ",".join(printed)


def option_params(options: QueryOptions, *, nested: bool = False) -> dict[str, str]:
    """The options as query parameters again (skip and top included only when set)."""
    params: dict[str, str] = {}
    if options.filter is not None:
        params["$filter"] = to_text(options.filter)
    if options.orderby:
        params["$orderby"] = ",".join(
            to_text(item.expr) + (" desc" if item.descending else "") for item in options.orderby
        )
    if options.select:
        params["$select"] = ",".join("/".join(item.path) for item in options.select)
    if options.expand:
        params["$expand"] = expand_text(options.expand)
    if options.count is not None:
        params["$count"] = "true" if options.count else "false"
    if nested and options.top is not None:
        params["$top"] = str(options.top)
    if nested and options.skip:
        params["$skip"] = str(options.skip)
    return params


def next_links(base_url: str, expansion: Expansion, top: int) -> Callable[[int], str]:
    """The navigation URL of a parent's expanded collection at the next page, by parent id.

    The query string is the same for every parent: it is encoded once per expansion, not
    once per parent (100 `urlencode` calls were a tenth of a 100-Datastream `$expand`).
    """
    options = expansion.options
    params = option_params(
        QueryOptions(
            filter=options.filter,
            orderby=options.orderby,
            select=options.select,
            expand=expansion.nested,
            count=options.count,
        )
    )
    params["$top"] = str(top)
    params["$skip"] = str(options.skip + top)
    prefix = f"{base_url}/{expansion.source.set_name}("
    suffix = f")/{expansion.navigation.name}?{urlencode(params, safe='$(),/:@')}"
    return lambda parent_id: f"{prefix}{parent_id}{suffix}"
