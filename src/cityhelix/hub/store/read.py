"""Read SensorThings entities: collections with paging and counts, single entities, properties,
applying the options in the standard's order ($filter $count $orderby $skip $top $expand
$select); each expanded level is one query for all the parents of the page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import True_

from cityhelix.db.query_functions import has_lateral
from cityhelix.hub.errors import BadQuery, NotFound
from cityhelix.hub.model import EntityType
from cityhelix.hub.query.compile import path_position, steps_condition, table_of
from cityhelix.hub.query.expand_sql import (
    COUNT,
    PARENT,
    PARENT_IDS,
    Expansion,
    count_statement,
    entity_columns,
    next_links,
    plan_expansions,
    to_many_statement,
    to_one_statement,
)
from cityhelix.hub.query.options import QueryOptions
from cityhelix.hub.query.path import ResourcePath
from cityhelix.hub.query.sql import filter_condition, order_clauses, selected_names, tie_breaker
from cityhelix.hub.serialize import ExpandedLink, entity_json, self_link

#: opens a read connection (with the read's time budget) for one chunk of a streamed answer
Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


@dataclass(frozen=True)
class Page:
    """Where a collection is served from, so that `@iot.nextLink` can point at the next page."""

    base_url: str  # the version root, e.g. http://host/v1.1
    request_url: str  # the collection's URL without query string
    params: dict[str, str]  # the request's query parameters
    page_size: int
    #: the most entities the answer may hold, each expanded copy counted (see `_Expander`)
    max_entities: int = 100_000
    #: the time budget of the read's queries (None: unbounded), see `db.read_connection`
    max_seconds: float | None = None


#: `$top` inside `$expand` when a read has no Page to say (a single entity read)
DEFAULT_PAGE_SIZE = 100
#: the entity budget of a read with no Page to say (`Page.max_entities`)
DEFAULT_MAX_ENTITIES = 100_000
#: documents made from more rows than this are made in a worker thread (`_Expander.documents`)
_ROWS_ON_LOOP = 500
#: parent ids per expansion query: far below SQLite's and asyncpg's parameter limits
_IDS_PER_QUERY = 1000
#: top-level entities per chunk of a streamed collection answer (`CollectionStream`). As many
#: as one expansion query takes (`_IDS_PER_QUERY`), so a chunk costs one query per level;
#: 1,000 Observations with their Datastream and FeatureOfInterest are about 1.5 MB of JSON
#: and a few MB of dicts, so a process streaming many answers holds little per answer,
#: while the per-chunk costs (a query per level, a hop to a worker thread) stay small
#: against the chunk's rows. A page of at most this many is built whole, as before.
STREAM_CHUNK = _IDS_PER_QUERY


async def check_path_exists(connection: AsyncConnection, path: ResourcePath) -> None:
    """404 when an entity the path names by id, or a single entity it reaches, is missing.

    Collections and entities call it only when their query found nothing: a row found
    through the path's conditions proves every id on the way, and the check is one more
    round trip per GET otherwise.
    """
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


def _proved_by_rows(path: ResourcePath) -> bool:
    """Whether a row found through the path's condition proves every id on it.

    The condition restarts from the last id before the target (`Things(2)/Datastreams(1)/
    Observations` reads `datastream_id = 1`), so an id in the middle needs its own check.
    """
    return all(step.id is None for step in path.steps[1:-1])


def _describe(step: Any) -> str:
    name = step.via.name if step.via is not None else step.entity_type.set_name
    return f"{name}({step.id})" if step.id is not None else name


@dataclass(frozen=True)
class _PageRows:
    """A collection page's top rows and what its documents are made with."""

    entity_type: EntityType
    select_names: frozenset[str] | None
    expansions: tuple[Expansion, ...]
    count: int | None  # `@iot.count`, when asked
    rows: list[Any]  # at most `top`
    top: int
    more: bool  # rows follow the page


async def _page_rows(
    connection: AsyncConnection, path: ResourcePath, options: QueryOptions, page: Page
) -> _PageRows:
    entity_type = path.target
    # every name in $select and $expand is checked before the first query runs
    select_names = selected_names(entity_type, options.select)
    expansions = () if path.ref else plan_expansions(entity_type, options.expand)
    condition = steps_condition(path.steps)
    if options.filter is not None:
        condition = and_(condition, filter_condition(entity_type, options.filter))
    count = None
    if options.count:
        table = table_of(entity_type)
        count = await connection.scalar(_where(select(func.count()).select_from(table), condition))
    top = options.top if options.top is not None else page.page_size
    position = None if options.orderby else path_position(path.steps)
    rows = await _rows(connection, entity_type, condition, options, top + 1, position)
    if not (rows or count) or not _proved_by_rows(path):
        await check_path_exists(connection, path)
    more = top > 0 and len(rows) > top
    return _PageRows(entity_type, select_names, expansions, count, rows[:top], top, more)


def _next_link(page: Page, skip: int, top: int) -> str:
    """The URL of the request's collection with the same options from `skip`, `top` long."""
    params = dict(page.params)
    params["$skip"] = str(skip)
    params["$top"] = str(top)
    return f"{page.request_url}?{urlencode(params, safe='$(),/:@')}"


async def read_collection(
    connection: AsyncConnection, path: ResourcePath, options: QueryOptions, page: Page
) -> dict[str, Any]:
    """The whole answer of a collection, built in memory (`open_collection` streams it)."""
    return await _whole_answer(
        connection, path, options, page, await _page_rows(connection, path, options, page)
    )


async def open_collection(
    connection: AsyncConnection,
    path: ResourcePath,
    options: QueryOptions,
    page: Page,
    connect: Connect,
) -> dict[str, Any] | CollectionStream:
    """The answer of a collection: built whole as `read_collection` does when its page has at
    most `STREAM_CHUNK` entities (or is a `$ref` list), a started `CollectionStream` otherwise.

    Everything that refuses the read before the first byte is decided here: the options,
    the path, the planner's bound of the whole page and the first chunk's own budgets.
    """
    found = await _page_rows(connection, path, options, page)
    if path.ref or len(found.rows) <= STREAM_CHUNK:
        return await _whole_answer(connection, path, options, page, found)
    stream = CollectionStream(connect, options, page, found)
    await stream.start(connection)
    return stream


async def _whole_answer(
    connection: AsyncConnection,
    path: ResourcePath,
    options: QueryOptions,
    page: Page,
    found: _PageRows,
) -> dict[str, Any]:
    entity_type, rows = found.entity_type, found.rows
    document: dict[str, Any] = {}
    if found.count is not None:
        document["@iot.count"] = found.count
    if found.more:
        document["@iot.nextLink"] = _next_link(page, options.skip + found.top, found.top)
    if path.ref:
        document["value"] = [
            {"@iot.selfLink": self_link(page.base_url, entity_type, r.id)} for r in rows
        ]
    else:
        reader = _Expander(connection, page.base_url, page.page_size, page.max_entities)
        document["value"] = await reader.documents(
            entity_type, rows, found.select_names, found.expansions
        )
        if found.expansions:
            reader.check_total(document["value"])
    # the standard puts count and nextLink before value; keep that order on the wire
    return {k: document[k] for k in ("@iot.count", "@iot.nextLink", "value") if k in document}


class CollectionStream:
    """A collection answer made chunk by chunk, so that no process holds all of it at once.

    The page's top rows are fetched once (bounded by `$top`); each chunk of `STREAM_CHUNK` of
    them then gets its expansions (one query per level per chunk: no N+1), its documents
    and their JSON (made and encoded in one worker-thread hop, so the documents never
    outlive it), and is handed out as each entity's JSON before the next is made. `start`
    makes the first chunk before the response begins, so a bad query or a first chunk past
    a budget is refused exactly as a whole answer is (400). The entity budget
    (`Page.max_entities`) covers the whole answer: a later chunk that would take it past the
    budget ends the page early, at an entity boundary, and `next_link` then continues
    exactly there: server-driven paging (OGC 18-088 §9.3.3.6, requirement
    request-data/pagination: "Responses that include only a partial set of the items
    identified by the request URL SHALL contain a link that allows retrieving the next
    partial set of items"). Clients follow the nextLink as they do for any page, and get
    every entity once.

    The first chunk is read on the read's connection; each later chunk takes a connection
    of its own from `connect` for its queries and gives it back before its bytes are sent:
    a client that reads slowly (or not at all) holds no database connection, so a few of
    them cannot empty the pool for everyone, and each chunk's queries get the whole time
    budget. Each chunk's expansions are read as of that chunk (READ COMMITTED, as every
    statement of a whole answer already is on PostgreSQL). Whoever sends the answer calls
    `close` on completion, error and client disconnect.
    """

    def __init__(
        self, connect: Connect, options: QueryOptions, page: Page, found: _PageRows
    ) -> None:
        self.connect = connect
        self.page = page
        self.skip = options.skip
        self.found = found
        #: `@iot.count`, when asked: written before `value`, as in a whole answer
        self.count = found.count
        #: rows the expansions fetched and entities written out so far (the budget's counts)
        self.fetched = 0
        self.written = 0
        self._first: list[bytes] = []

    async def start(self, connection: AsyncConnection) -> None:
        """Check the planner's bound of the whole page and make the first chunk on
        `connection` (BadQuery for either past the budget, as a whole answer would be)."""
        self._check_plan()
        self._first, _ = await self._chunk(0, connection)

    def take_first(self) -> list[bytes]:
        """The JSON of the first chunk's entities, handed over once (the stream keeps no
        reference)."""
        entities, self._first = self._first, []
        return entities

    async def later_chunks(self) -> AsyncGenerator[list[bytes], None]:
        """The JSON of each entity of each chunk after the first, made one chunk at a time.

        A chunk past the entity budget is cut at the last entity that fits and ends the
        stream: the planner's bound refusing its queries, or a single document over the
        budget, ends it before that chunk.
        """
        for start in range(STREAM_CHUNK, len(self.found.rows), STREAM_CHUNK):
            try:
                entities, complete = await self._chunk(start)
            except BadQuery:
                return
            yield entities
            del entities
            if not complete:
                return

    def next_link(self, sent: int) -> str | None:
        """The `@iot.nextLink` of the answer once `sent` top-level entities were written:
        the rest of this page when it stopped early (`$skip` past what was sent, `$top` what
        the page had left), the next page when it is complete and more rows follow."""
        top = self.found.top
        if sent < len(self.found.rows):
            return _next_link(self.page, self.skip + sent, top - sent)
        if self.found.more:
            return _next_link(self.page, self.skip + top, top)
        return None

    async def close(self) -> None:
        """Drop what is kept of the answer; safe to call more than once."""
        self._first = []

    def _reader(self, connection: AsyncConnection) -> _Expander:
        page = self.page
        return _Expander(connection, page.base_url, page.page_size, page.max_entities, self.fetched)

    def _check_plan(self) -> None:
        """Each top-level to-many expansion's bound for the whole page (its parents times its
        $top): what the planner's first check refuses in a whole answer is refused before
        the first byte, with the same numbers (when no other expansion of the level is
        read before it, whose rows a whole answer adds; past them, a chunk refuses)."""
        rows = len(self.found.rows)
        for expansion in self.found.expansions:
            if expansion.by_foreign_key:
                continue
            most = rows * _fetched_per_parent(expansion, self.page.page_size)
            if most > self.page.max_entities:
                raise _over_budget(self.page.max_entities, most, "up to", expansion.where)

    async def _chunk(
        self, start: int, connection: AsyncConnection | None = None
    ) -> tuple[list[bytes], bool]:
        """The JSON of each entity of the rows from `start` that fits in the entity budget,
        and whether all did; the first chunk must fit whole (BadQuery otherwise).

        The budget is checked before any JSON is written, as for a whole answer: one
        Observation expanding a Datastream with its 10,000 Observations is megabytes.
        """
        found = self.found
        rows = found.rows[start : start + STREAM_CHUNK]
        if connection is not None:
            reader = self._reader(connection)
            expanded = await reader.links(rows, found.expansions)
        else:
            async with self.connect() as own:
                reader = self._reader(own)
                expanded = await reader.links(rows, found.expansions)
        self.fetched = reader.fetched
        budget = self.page.max_entities

        def encoded() -> tuple[list[bytes], int]:
            documents = reader.make(
                found.entity_type, rows, found.select_names, found.expansions, expanded
            )
            written, kept = self.written, len(documents)
            if found.expansions:  # as for a whole answer: only expansions count
                weights = [reader.weights.get(id(document), 1) for document in documents]
                if start == 0 and sum(weights) > budget:
                    raise reader.refusal(sum(weights))
                kept = 0
                for weight in weights:
                    if written + weight > budget:
                        break
                    written += weight
                    kept += 1
            # the documents go with this frame: only their bytes leave it
            return [orjson.dumps(document) for document in documents[:kept]], written

        if len(rows) <= _ROWS_ON_LOOP:
            entities, self.written = encoded()
        else:
            # a chunk's documents and JSON are tens of milliseconds of Python: one hop
            entities, self.written = await asyncio.to_thread(encoded)
        return entities, len(entities) == len(rows)


async def read_entity(
    connection: AsyncConnection,
    path: ResourcePath,
    options: QueryOptions,
    base_url: str,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_entities: int = DEFAULT_MAX_ENTITIES,
) -> dict[str, Any]:
    entity_type = path.target
    select_names = selected_names(entity_type, options.select)
    expanding = not path.ref and path.prop is None
    expansions = plan_expansions(entity_type, options.expand) if expanding else ()
    rows = await _rows(connection, entity_type, steps_condition(path.steps), options, 1)
    if not rows or not _proved_by_rows(path):
        await check_path_exists(connection, path)  # names the step that is missing
    if not rows:
        raise NotFound(f"{entity_type.name} not found")
    row = rows[0]
    if path.ref:
        return {"@iot.selfLink": self_link(base_url, entity_type, row.id)}
    if path.prop is not None:
        document = entity_json(entity_type, row, base_url)
        return {path.prop.name: document.get(path.prop.name)}
    reader = _Expander(connection, base_url, page_size, max_entities)
    (document,) = await reader.documents(entity_type, [row], select_names, expansions)
    if expansions:
        reader.check_total([document])
    return document


async def read_entities(
    connection: AsyncConnection, entity_type: EntityType, ids: Sequence[int], base_url: str
) -> list[dict[str, Any]]:
    """The plain documents (no options) of the entities `ids`, in that order; what a
    single-entity read of each would answer, in one query per thousand."""
    table = table_of(entity_type)
    found: dict[int, dict[str, Any]] = {}
    reader = _Expander(connection, base_url, DEFAULT_PAGE_SIZE, DEFAULT_MAX_ENTITIES)
    for chunk in _chunks(ids):
        statement = select(*entity_columns(table)).where(table.c.id.in_(list(chunk)))
        rows = list(await connection.execute(statement))
        for row, document in zip(
            rows, await reader.documents(entity_type, rows, None, ()), strict=True
        ):
            found[row.id] = document
    missing = [entity_id for entity_id in ids if entity_id not in found]
    if missing:
        raise NotFound(f"{entity_type.name} {missing[0]} not found")
    return [found[entity_id] for entity_id in ids]


async def _rows(
    connection: AsyncConnection,
    entity_type: EntityType,
    condition: ColumnElement[bool],
    options: QueryOptions,
    limit: int,
    position: ColumnElement[Any] | None = None,
) -> list[Any]:
    """One page of rows; `position` (an ordered link's) orders them when $orderby does not."""
    table = table_of(entity_type)
    first = () if position is None else (position,)
    statement = (
        _where(select(*entity_columns(table)), condition)
        .order_by(
            *first,
            *order_clauses(entity_type, options.orderby),
            tie_breaker(table, options.orderby),
        )
        .offset(options.skip)
        .limit(limit)
    )
    return list(await connection.execute(statement))


def _fetched_per_parent(expansion: Expansion, page_size: int) -> int:
    """The most rows a to-many expansion fetches for one parent: its `$top` (the page size
    without one) and one more, which tells whether a nextLink follows."""
    top = expansion.options.top
    return (top if top is not None else page_size) + 1


def _over_budget(max_entities: int, count: int, what: str, where: str) -> BadQuery:
    return BadQuery(
        f"{where}: the answer would hold {what} {count} entities, more than the "
        f"{max_entities} a response may hold (setting max_response_entities); "
        "lower $top, or the $top inside $expand",
        token="$expand",
    )


class _Expander:
    """Turns rows into documents, fetching each `$expand` level for all rows in one query.

    It keeps the answer within `max_entities`, the response budget, twice: before each
    level's query, the rows it may fetch (its parents times its $top) must fit; after the
    documents are made, the entities the answer will write out, where a to-one expansion
    shared by many parents counts once per parent (1,000 Observations of one Datastream
    expanding its 10,000 Observations write ten million objects from 10,000 rows). Both
    come before any JSON is written, so a refused read costs at most the budget's rows.
    """

    def __init__(
        self,
        connection: AsyncConnection,
        base_url: str,
        page_size: int,
        max_entities: int,
        fetched: int = 0,
    ) -> None:
        self.connection = connection
        self.base_url = base_url
        self.page_size = page_size
        self.max_entities = max_entities
        #: rows fetched so far: earlier chunks' too when a `CollectionStream` makes it
        self.fetched = fetched
        #: entities written out per document made (keyed by id(): documents are shared)
        self.weights: dict[int, int] = {}

    def refuse(self, count: int, what: str, where: str) -> BadQuery:
        return _over_budget(self.max_entities, count, what, where)

    def refusal(self, total: int) -> BadQuery:
        """The refusal of an answer that writes out `total` entities, past the budget."""
        return self.refuse(total, "(each expanded copy counted)", "$expand")

    def check_total(self, documents: list[dict[str, Any]]) -> None:
        """BadQuery when the answer writes out more entities than the budget."""
        total = sum(self.weights.get(id(document), 1) for document in documents)
        if total > self.max_entities:
            raise self.refusal(total)

    def _weigh(self, document: dict[str, Any], links: dict[str, ExpandedLink]) -> None:
        weight = 1
        weights = self.weights
        for link in links.values():
            if isinstance(link.value, list):
                weight += sum(weights.get(id(member), 1) for member in link.value)
            elif link.value is not None:
                weight += weights.get(id(link.value), 1)
        if weight > self.max_entities:
            raise self.refusal(weight)
        weights[id(document)] = weight

    async def documents(
        self,
        entity_type: EntityType,
        rows: Sequence[Any],
        select_names: frozenset[str] | None,
        expansions: tuple[Expansion, ...],
    ) -> list[dict[str, Any]]:
        expanded = await self.links(rows, expansions)
        if len(rows) <= _ROWS_ON_LOOP:
            return self.make(entity_type, rows, select_names, expansions, expanded)
        # ten thousand rows with their expansions take a second of Python: not on the loop
        return await asyncio.to_thread(
            self.make, entity_type, rows, select_names, expansions, expanded
        )

    async def links(
        self, rows: Sequence[Any], expansions: tuple[Expansion, ...]
    ) -> list[dict[str, ExpandedLink]]:
        """Each row's expanded links: one query per level for all the rows."""
        expanded: list[dict[str, ExpandedLink]] = [{} for _ in rows]
        for expansion in expansions:
            if expansion.by_foreign_key:
                await self._expand_to_one(expansion, rows, expanded)
            else:
                await self._expand_to_many(expansion, rows, expanded)
        return expanded

    def make(
        self,
        entity_type: EntityType,
        rows: Sequence[Any],
        select_names: frozenset[str] | None,
        expansions: tuple[Expansion, ...],
        expanded: list[dict[str, ExpandedLink]],
    ) -> list[dict[str, Any]]:
        """The rows' documents with their `links`, each weighed when there are expansions:
        Python only, which callers run in a worker thread for many rows."""
        documents = [
            entity_json(entity_type, row, self.base_url, select=select_names, expanded=links)
            for row, links in zip(rows, expanded, strict=True)
        ]
        if expansions:
            for document, links in zip(documents, expanded, strict=True):
                self._weigh(document, links)
        return documents

    async def _expand_to_one(
        self, expansion: Expansion, rows: Sequence[Any], expanded: list[dict[str, ExpandedLink]]
    ) -> None:
        assert expansion.navigation.source_fk is not None
        keys = [getattr(row, expansion.navigation.source_fk) for row in rows]
        ids = sorted({key for key in keys if key is not None})
        found: list[Any] = []
        for chunk in _chunks(ids):
            found.extend(await self.connection.execute(to_one_statement(expansion, chunk)))
        self.fetched += len(found)
        documents = await self.documents(
            expansion.target, found, expansion.select, expansion.children
        )
        by_id = {row.id: document for row, document in zip(found, documents, strict=True)}
        for key, links in zip(keys, expanded, strict=True):
            if key in by_id:  # no link, or filtered out: the member is left out
                links[expansion.navigation.name] = ExpandedLink(by_id[key], to_many=False)

    async def _expand_to_many(
        self, expansion: Expansion, rows: Sequence[Any], expanded: list[dict[str, ExpandedLink]]
    ) -> None:
        options = expansion.options
        top = options.top if options.top is not None else self.page_size
        parent_ids = sorted({row.id for row in rows})
        most = self.fetched + len(parent_ids) * _fetched_per_parent(expansion, self.page_size)
        if most > self.max_entities:
            raise self.refuse(most, "up to", expansion.where)
        related: dict[int, list[Any]] = {}
        lateral = has_lateral(self.connection.dialect)
        for chunk in _chunks(parent_ids):
            statement = to_many_statement(expansion, top, lateral=lateral)
            for row in await self.connection.execute(statement, {PARENT_IDS: list(chunk)}):
                related.setdefault(row._mapping[PARENT], []).append(row)
        counts = await self._counts(expansion, parent_ids) if options.count else {}
        self.fetched += sum(len(found) for found in related.values())
        kept = {parent: found[:top] for parent, found in related.items()}
        flat = [row for parent in parent_ids for row in kept.get(parent, [])]
        documents = iter(
            await self.documents(expansion.target, flat, expansion.select, expansion.children)
        )
        by_parent = {
            parent: [next(documents) for _ in kept.get(parent, [])] for parent in parent_ids
        }
        name = expansion.navigation.name
        link_of = next_links(self.base_url, expansion, top)
        for row, links in zip(rows, expanded, strict=True):
            more = len(related.get(row.id, [])) > top
            links[name] = ExpandedLink(
                by_parent[row.id],
                to_many=True,
                count=counts.get(row.id, 0) if options.count else None,
                next_link=link_of(row.id) if more else None,
            )

    async def _counts(self, expansion: Expansion, parent_ids: list[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for chunk in _chunks(parent_ids):
            statement = count_statement(expansion)
            for row in await self.connection.execute(statement, {PARENT_IDS: list(chunk)}):
                counts[row._mapping[PARENT]] = row._mapping[COUNT]
        return counts


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[i : i + _IDS_PER_QUERY] for i in range(0, len(ids), _IDS_PER_QUERY)]


def _where(statement: Select[Any], condition: ColumnElement[bool]) -> Select[Any]:
    """Add `condition` unless it is the always-true one of a plain collection.

    `WHERE true` is not free: SQLite then counts row by row instead of by b-tree pages.
    """
    return statement if isinstance(condition, True_) else statement.where(condition)
