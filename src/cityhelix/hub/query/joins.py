"""Member paths (`Datastream/Thing/properties/district`) resolved against the registry, and
the subqueries following their links: `key IN (SELECT ...)` or a correlated EXISTS, so that a
to-many hop means "any related entity matches"."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, FromClause, exists, literal, select

from cityhelix.hub.errors import BadQuery
from cityhelix.hub.model import BY_NAME, EntityType, Kind, Navigation, Property
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.query.expression import BinaryOp, Expr, FunctionCall, Path, UnaryOp
from cityhelix.hub.tables import BY_TABLE

ID_NAMES = frozenset({"@iot.id", "id"})
_JSON_KINDS = frozenset({Kind.JSON, Kind.RESULT, Kind.GEOMETRY})


@dataclass(frozen=True)
class MemberPath:
    """A resolved path: the links followed, the entity type reached, its property (None for
    the id) and the keys inside a JSON property."""

    text: str
    chain: tuple[Navigation, ...]
    entity_type: EntityType
    prop: Property | None
    keys: tuple[str, ...]

    @property
    def chain_key(self) -> tuple[str, ...]:
        return tuple(navigation.name for navigation in self.chain)


def resolve_path(root: EntityType, path: Path, where: str) -> MemberPath:
    """Follow `path` from `root` through the registry; any unknown name is a 400 naming it."""
    text = "/".join(path.segments)
    entity_type = root
    chain: list[Navigation] = []
    segments = list(path.segments)
    while segments:
        name = segments.pop(0)
        if name in ID_NAMES:
            if segments:
                raise BadQuery(f"{where}: '{name}' has no member '{segments[0]}'", token=text)
            return MemberPath(text, tuple(chain), entity_type, None, ())
        navigation = entity_type.find_navigation(name)
        if navigation is not None:
            if not segments:
                raise BadQuery(
                    f"{where}: '{text}' is a navigation link, not a value; "
                    f"name one of its properties, e.g. '{text}/@iot.id'",
                    token=text,
                )
            chain.append(navigation)
            entity_type = BY_NAME[navigation.target]
            continue
        prop = entity_type.find_property(name)
        if prop is None:
            raise BadQuery(
                f"{where}: {entity_type.name} has no property or navigation link '{name}'",
                token=name,
            )
        if segments and prop.kind not in _JSON_KINDS:
            raise BadQuery(
                f"{where}: '{prop.name}' of {entity_type.name} has no member '{segments[0]}'",
                token=text,
            )
        return MemberPath(text, tuple(chain), entity_type, prop, tuple(segments))
    raise AssertionError("the parser never gives an empty path")  # pragma: no cover


def paths_in(expression: Expr) -> Iterator[Path]:
    """Every member path inside an expression tree."""
    if isinstance(expression, Path):
        yield expression
    elif isinstance(expression, BinaryOp):
        yield from paths_in(expression.left)
        yield from paths_in(expression.right)
    elif isinstance(expression, UnaryOp):
        yield from paths_in(expression.operand)
    elif isinstance(expression, FunctionCall):
        for argument in expression.args:
            yield from paths_in(argument)


@dataclass(frozen=True)
class _Hop:
    """One navigation hop from a parent alias: the parent's key column, the column that must
    equal it on the near side, and the conditions joining the rest of the hop."""

    parent_column: ColumnElement[Any]
    near_column: ColumnElement[Any]
    inner: tuple[ColumnElement[bool], ...]


def _hop(navigation: Navigation, parent: FromClause, target: FromClause) -> _Hop:
    if navigation.source_fk is not None:
        return _Hop(parent.c[navigation.source_fk], target.c.id, ())
    if navigation.target_fk is not None:
        return _Hop(parent.c.id, target.c[navigation.target_fk], ())
    assert navigation.link_table and navigation.link_source and navigation.link_target
    link = BY_TABLE[navigation.link_table].alias()
    return _Hop(
        parent.c.id,
        link.c[navigation.link_source],
        (target.c.id == link.c[navigation.link_target],),
    )


class JoinTree:
    """Aliases for every link prefix of some paths, with the conditions joining them.

    `scopes` maps a chain of link names to the alias its properties are read from; the
    empty chain is the root entity's own table (or alias) in the enclosing query.
    """

    def __init__(self, root: FromClause, chains: Iterable[tuple[Navigation, ...]]) -> None:
        self.root = root
        self.scopes: dict[tuple[str, ...], FromClause] = {(): root}
        self._root_hops: list[_Hop] = []
        self._inner: list[ColumnElement[bool]] = []
        for chain in sorted(set(chains), key=len):
            for depth in range(1, len(chain) + 1):
                key = tuple(navigation.name for navigation in chain[:depth])
                if key in self.scopes:
                    continue
                navigation = chain[depth - 1]
                parent = self.scopes[key[:-1]]
                target = table_of(BY_NAME[navigation.target]).alias()
                hop = _hop(navigation, parent, target)
                self._inner.extend(hop.inner)
                if depth == 1:
                    self._root_hops.append(hop)
                else:
                    self._inner.append(hop.parent_column == hop.near_column)
                self.scopes[key] = target

    def _correlated(self) -> list[ColumnElement[bool]]:
        links = [hop.parent_column == hop.near_column for hop in self._root_hops]
        return [*links, *self._inner]

    def matching(self, condition: ColumnElement[bool], *, reads_root: bool) -> ColumnElement[bool]:
        """Root rows for which some combination of related rows satisfies `condition`."""
        if not reads_root and len(self._root_hops) == 1:
            # uncorrelated: evaluated once, then a semi-join on the root's key (index friendly)
            hop = self._root_hops[0]
            related = select(hop.near_column).where(*self._inner, condition)
            return hop.parent_column.in_(related.scalar_subquery())
        related_rows = select(literal(1)).where(*self._correlated(), condition)
        return exists(related_rows.correlate(self.root))

    def value(self, expression: ColumnElement[Any]) -> ColumnElement[Any]:
        """`expression` read through to-one links, as a correlated scalar subquery."""
        statement = select(expression).where(*self._correlated()).correlate(self.root).limit(1)
        return statement.scalar_subquery()
