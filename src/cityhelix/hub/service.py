"""The data hub's door: read and write SensorThings resources by path, as plain async calls.

HTTP (`api`), MQTT and other pillars call these functions; they own the transactions,
the audit records and the order of checks (path, then permission, then body).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import audit_rows, record_write, record_writes
from cityhelix.db.engine import is_time_limit, read_connection
from cityhelix.db.query_functions import geometry_literal, json_value, spatial_relation
from cityhelix.events.bus import EventBus
from cityhelix.hub.changes import ChangeLog, data_array_facts, recorded
from cityhelix.hub.errors import BadQuery, BadRequest, Conflict
from cityhelix.hub.errors import HubError as HubError  # raised by every function here
from cityhelix.hub.errors import NotFound as NotFound
from cityhelix.hub.json_patch import patched_members
from cityhelix.hub.model import BY_NAME, OBSERVATION, EntityType, is_entity_id
from cityhelix.hub.query.compile import steps_condition, table_of
from cityhelix.hub.query.expression import SelectItem
from cityhelix.hub.query.options import QueryOptions, parse_query_options
from cityhelix.hub.query.path import ResourcePath, Step, parse_path
from cityhelix.hub.rollups import MINUTE, read_buckets  # importing it registers its hook
from cityhelix.hub.rollups import Bucket as Bucket  # what `minute_buckets` returns
from cityhelix.hub.serialize import entity_json
from cityhelix.hub.store.data_array_read import read_data_array
from cityhelix.hub.store.read import (
    CollectionStream,
    Page,
    check_path_exists,
    open_collection,
    read_collection,
    read_entities,
    read_entity,
)
from cityhelix.hub.store.refusals import input_fault
from cityhelix.hub.store.write import StreamRows, Writer, Written
from cityhelix.hub.tables import (
    datastreams,
    locations,
    observations,
    observed_properties,
    thing_locations,
    things,
)
from cityhelix.hub.values import format_interval, result_value
from cityhelix.hub.values import format_time as format_time  # the wire's form of a time


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the main entity and everything it touched, in order."""

    entity_type: EntityType
    id: int
    written: tuple[Written, ...]


@dataclass(frozen=True)
class Snapshot:
    """An entity as committed, read once: its GET document and the ids behind its to-one links.

    Notifications (MQTT) need both: the document to send, the links to know the topics.
    """

    entity_type: EntityType
    id: int
    #: to-one navigation name -> id of the linked entity (absent when the link is empty)
    links: dict[str, int]
    _row: Any = field(repr=False, compare=False)

    def document(self, base_url: str, select: tuple[SelectItem, ...] = ()) -> dict[str, Any]:
        """The JSON of `GET /<Set>(id)`, narrowed by `$select` items when given."""
        names = frozenset(item.path[0] for item in select)
        wanted = None if not names or "*" in names else names
        return entity_json(self.entity_type, self._row, base_url, select=wanted)


async def read_snapshots(
    engine: AsyncEngine, entity_type: EntityType, entity_ids: Sequence[int]
) -> dict[int, Snapshot]:
    """The entities as committed now, by id; one that was deleted since is missing.

    One query for many ids: notifications of a batch of readings must not cost a round trip
    each.
    """
    table = table_of(entity_type)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(table).where(table.c.id.in_(entity_ids)))).all()
    snapshots = {}
    for row in rows:
        links = {
            navigation.name: getattr(row, navigation.source_fk)
            for navigation in entity_type.navigations
            if navigation.source_fk is not None and getattr(row, navigation.source_fk) is not None
        }
        snapshots[row.id] = Snapshot(entity_type, row.id, links, row)
    return snapshots


async def read_document(
    engine: AsyncEngine, path: str, params: dict[str, str], *, max_rows: int
) -> dict[str, Any]:
    """The JSON of a GET on the SensorThings `path` with `params`, for a pillar that reads
    entity sets by query (at most `max_rows` each): the parsing stays inside the hub."""
    options = parse_query_options(params, max_top=max_rows)
    document: dict[str, Any] = await read(
        engine, parse_path(path), options, Page("", "", params, max_rows)
    )
    return document


async def read(
    engine: AsyncEngine,
    path: ResourcePath,
    options: QueryOptions,
    page: Page,
    *,
    connection: AsyncConnection | None = None,
    written_back: bool = False,
) -> dict[str, Any]:
    """The JSON document of a GET on `path` (collection, entity, property).

    With `connection` (a $batch group's), a pending Observation run is finished first,
    unless this reads back the entity a write just made (`written_back`): what the run
    defers never changes that entity's own row.
    """
    if connection is None:
        async with read_connection(engine, seconds=page.max_seconds) as own:
            try:
                return await read(engine, path, options, page, connection=own)
            except DBAPIError as error:
                if not is_time_limit(error):
                    raise
                raise _time_refusal(page) from None
    if not written_back:
        await settle(connection)
    try:
        if options.result_format is not None:  # the only one is dataArray
            await check_path_exists(connection, path)
            return await read_data_array(connection, path, options, page)
        # collections and entities check the path's ids only when they find nothing
        if path.is_collection:
            return await read_collection(connection, path, options, page)
        return await read_entity(connection, path, options, page.base_url, page_size=page.page_size)
    except DBAPIError as error:
        fault = input_fault(error)
        if fault is None:
            raise
        raise _input_refusal(fault) from None


async def read_streamed(
    engine: AsyncEngine, path: ResourcePath, options: QueryOptions, page: Page
) -> dict[str, Any] | CollectionStream:
    """As `read`, but a collection answer of more than one chunk (`STREAM_CHUNK` entities)
    comes back as a started `CollectionStream`, which reads each later chunk on a
    connection of its own; everything else is `read`'s document.
    """
    if not path.is_collection or path.ref or options.result_format is not None:
        return await read(engine, path, options, page)

    def connect() -> AbstractAsyncContextManager[AsyncConnection]:
        return read_connection(engine, seconds=page.max_seconds)

    async with connect() as connection:
        await settle(connection)
        try:
            return await open_collection(connection, path, options, page, connect)
        except DBAPIError as error:
            fault = input_fault(error)
            if fault is not None:
                raise _input_refusal(fault) from None
            if is_time_limit(error):
                raise _time_refusal(page) from None
            raise


def _input_refusal(fault: str) -> BadQuery:
    """The 400 of a query whose values the database cannot evaluate (`input_fault`)."""
    return BadQuery(
        f"the database cannot evaluate this query's values ({fault}); check the "
        "arithmetic and the times in $filter and $orderby",
        token="$filter",
    )


def _time_refusal(page: Page) -> BadQuery:
    """The 400 of a read stopped by its time budget (`is_time_limit`)."""
    return BadQuery(
        f"the query ran past the {page.max_seconds:g} s a read may take (setting "
        "max_query_seconds); narrow $filter, or lower $top and the $expands",
        token="$filter",
    )


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


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, bus: EventBus | None, connection: AsyncConnection | None = None
) -> AsyncIterator[tuple[AsyncConnection, ChangeLog]]:
    """A write transaction of its own, or the caller's (a $batch atomicity group) when given.

    Either way its writes are recorded in the durable stream and announced on `bus` once
    committed (`changes.recorded`): every write path of the hub goes through here.
    """
    if connection is not None:
        await settle(connection)  # a pending Observation run comes first (a $batch group)
        async with recorded(engine, bus, connection) as joined:
            yield joined
        return
    try:
        async with recorded(engine, bus) as own:
            yield own
    except IntegrityError:
        raise Conflict("the write conflicts with another change; retry it") from None


#: `connection.info` key of the Observation run a $batch group's transaction keeps
_RUN = "cityhelix.hub.observation_run"


@dataclass
class _ObservationRun:
    """Consecutive Observation POSTs of one $batch atomicity group, written by one Writer.

    A plain POST pays, per request, for the end-of-transaction work of its hooks (the
    Datastream's derived times, three levels of rollups), its audit row and the lookups its
    hooks cache (the stream's type, the generated FeatureOfInterest): a group of a thousand
    readings paid them a thousand times. Observation creates neither change nor read what
    that work produces, so a run of them shares the work, done once when the run ends: at
    the group's end or before any other request of the group (`settle`).
    """

    writer: Writer
    audit: list[dict[str, Any]] = field(default_factory=list)
    #: parent paths (`Datastreams(1)`) proved to exist in this run
    parents: set[str] = field(default_factory=set)

    async def check_parent(self, path: ResourcePath) -> None:
        """`check_path_exists` of a POST's parent, once per parent and run (an Observation
        create deletes nothing)."""
        if path.parent is None:
            return
        parent = ResourcePath(path.steps[:-1])
        key = repr(parent.steps)
        if key not in self.parents:
            await check_path_exists(self.writer.connection, parent)
            self.parents.add(key)


@asynccontextmanager
async def group_transaction(
    engine: AsyncEngine, bus: EventBus | None
) -> AsyncIterator[tuple[AsyncConnection, ChangeLog]]:
    """The transaction of a $batch atomicity group: pass its connection to each request."""
    async with recorded(engine, bus) as (connection, log):
        # info lives with the pooled DBAPI connection: never left behind for the next user
        connection.info[_RUN] = None
        try:
            yield connection, log
            await settle(connection)
        finally:
            connection.info.pop(_RUN, None)


async def settle(connection: AsyncConnection) -> None:
    """Finish the pending Observation run of a $batch group's transaction, if any: the
    derived times and rollups of its readings, and its requests' audit rows."""
    run: _ObservationRun | None = connection.info.get(_RUN)
    if run is None:
        return
    connection.info[_RUN] = None
    await run.writer.finish()
    await record_writes(connection, run.audit)


def _run_for(connection: AsyncConnection, principal: Principal) -> _ObservationRun | None:
    """The group's Observation run for `principal` (begun now if none is pending), or None
    outside a $batch group."""
    if _RUN not in connection.info:
        return None
    run: _ObservationRun | None = connection.info[_RUN]
    if run is None or run.writer.principal is not principal:
        return None
    return run


async def create(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    body: object,
    request_path: str,
    bus: EventBus | None = None,
    *,
    connection: AsyncConnection | None = None,
) -> WriteResult:
    """POST: create the entity in `body` (deep insert) in one transaction, audited.

    With `connection`, the caller owns the transaction and announces after its commit.
    """
    if not path.is_collection or path.prop is not None or path.ref:
        raise BadRequest("POST goes to an entity collection, e.g. /v1.1/Things")
    if path.parent is not None and path.parent.id is None:
        raise BadRequest(
            "POST under a navigation link needs the parent's id, e.g. /Things(1)/Locations"
        )
    body = _body_with_parent_link(path, body)
    if connection is not None and path.target is OBSERVATION and _RUN in connection.info:
        return await _create_in_run(connection, principal, path, body, request_path)
    async with transaction(engine, bus, connection) as (active, log):
        if path.parent is not None:
            await check_path_exists(active, ResourcePath(path.steps[:-1]))
        writer = Writer(active, principal)
        entity_id = await writer.create(path.target, body)
        await writer.finish()
        await _audit(active, principal, "POST", request_path, writer.written)
        log.add(writer.written)
    return WriteResult(path.target, entity_id, tuple(writer.written))


async def _create_in_run(
    connection: AsyncConnection,
    principal: Principal,
    path: ResourcePath,
    body: object,
    request_path: str,
) -> WriteResult:
    """`create` of an Observation inside a $batch group: through the group's run."""
    run = await _run_of(connection, principal)
    async with recorded(connection.engine, None, connection) as (_, log):
        await run.check_parent(path)
        writer = run.writer
        first = len(writer.written)
        entity_id = await writer.create(path.target, body)
        written = writer.written[first:]
        entries = [(w.entity_type.name, w.id) for w in written]
        run.audit.extend(audit_rows(principal, "POST", request_path, entries))
        log.add(written)
    return WriteResult(path.target, entity_id, tuple(written))


async def _run_of(connection: AsyncConnection, principal: Principal) -> _ObservationRun:
    """The group's pending Observation run of `principal`, begun now if there is none."""
    run = _run_for(connection, principal)
    if run is None:
        await settle(connection)
        run = connection.info[_RUN] = _ObservationRun(Writer(connection, principal))
    return run


def creatable_together(path: ResourcePath, body: object) -> bool:
    """True for a POST a $batch group may insert with its neighbours in one statement
    (`create_together`): a new Observation whose links all name existing entities."""
    if not (path.is_collection and path.target is OBSERVATION and path.prop is None):
        return False
    if path.ref or not isinstance(body, dict) or "@iot.id" in body:
        return False
    for key, value in body.items():
        if OBSERVATION.find_navigation(key) is not None and not (
            isinstance(value, dict) and value.keys() == {"@iot.id"}
        ):
            return False
    return True


async def create_together(
    connection: AsyncConnection,
    principal: Principal,
    posts: Sequence[tuple[ResourcePath, object, str]],
) -> list[WriteResult]:
    """`create` of consecutive POSTs of a $batch group (each `creatable_together`: path,
    body, request path) with one bulk insert, in the group's Observation run."""
    run = await _run_of(connection, principal)
    bodies: list[tuple[dict[str, Any], str]] = []
    for path, body, _ in posts:
        await run.check_parent(path)
        linked = _body_with_parent_link(path, body)
        assert isinstance(linked, dict)
        bodies.append((linked, OBSERVATION.name))
    results = []
    async with recorded(connection.engine, None, connection) as (_, log):
        answers = await run.writer.create_many(OBSERVATION, bodies)
        for (_, _, request_path), (entity_id, written) in zip(posts, answers, strict=True):
            entries = [(w.entity_type.name, w.id) for w in written]
            run.audit.extend(audit_rows(principal, "POST", request_path, entries))
            log.add(written)
            results.append(WriteResult(OBSERVATION, entity_id, tuple(written)))
    return results


async def read_created(
    connection: AsyncConnection, entity_type: EntityType, ids: Sequence[int], base_url: str
) -> list[dict[str, Any]]:
    """The documents of entities a write just made, in the order of `ids` (one query)."""
    return await read_entities(connection, entity_type, ids, base_url)


async def create_document(
    engine: AsyncEngine,
    principal: Principal,
    path: str,
    body: object,
    request_path: str,
    bus: EventBus | None = None,
) -> int:
    """POST `body` to the SensorThings collection `path` (e.g. "TaskingCapabilities(3)/Tasks")
    for a pillar that writes entities (street lighting's lamps and Tasks): the parsing stays
    inside the hub; the new entity's id. Audited and announced like any POST."""
    result = await create(engine, principal, parse_path(path), body, request_path, bus)
    return result.id


@dataclass(frozen=True)
class DataArrayRequest:
    """One CreateObservations request: who sent it, its body, where it came in (audit)."""

    principal: Principal
    body: object
    request_path: str


#: per row of a CreateObservations request: the created Observation, or None (an "error")
RowAnswer = tuple[EntityType, int] | None


async def create_observations(
    engine: AsyncEngine,
    principal: Principal,
    body: object,
    request_path: str,
    bus: EventBus | None = None,
    *,
    connection: AsyncConnection | None = None,
) -> list[RowAnswer]:
    """POST /CreateObservations: DataArray groups in; per row the created id or None.

    Rows that fail validation are answered "error" and the rest is written, as the
    standard's DataArray extension says; the whole request is one transaction.
    """
    request = DataArrayRequest(principal, body, request_path)
    (answers,) = await create_observations_together(engine, [request], bus, connection=connection)
    return answers


async def create_observations_together(
    engine: AsyncEngine,
    requests: Sequence[DataArrayRequest],
    bus: EventBus | None = None,
    *,
    connection: AsyncConnection | None = None,
) -> list[list[RowAnswer]]:
    """Several CreateObservations requests in one transaction, the answers of each in order.

    The groups of one caller and shape are written together, whichever request holds them:
    MQTT messages of ten Datastreams' groups each, arriving together, cost the statements
    of one. A request that fails as a whole (a malformed body, a stream it may not write)
    fails them all: write such requests one by one to give each its own answer.
    """
    parsed = [_data_array_groups(request.body) for request in requests]
    shapes: dict[tuple[Principal, tuple[str, ...]], list[tuple[int, int]]] = {}
    for number, (request, groups) in enumerate(zip(requests, parsed, strict=True)):
        for index, (_, _, components, _) in enumerate(groups):
            shapes.setdefault((request.principal, tuple(components)), []).append((number, index))
    ids_of: list[list[list[int | None]]] = [[[] for _ in groups] for groups in parsed]
    writers: dict[Principal, Writer] = {}
    async with transaction(engine, bus, connection) as (active, log):
        for (principal, shape), places in shapes.items():
            writer = writers.setdefault(principal, Writer(active, principal))
            rows = [
                StreamRows(parsed[n][i][0], parsed[n][i][1], parsed[n][i][3]) for n, i in places
            ]
            written = await writer.create_observation_rows(list(shape), rows)
            for group, answer in zip(rows, written, strict=True):
                data_array_facts(
                    log, writer, group.stream_type, group.stream_id, shape, group.rows, answer.ids
                )
            for (number, index), answer in zip(places, written, strict=True):
                ids_of[number][index] = answer.ids
        for writer in writers.values():
            await writer.finish()
            log.add(writer.written)
        await record_writes(
            active,
            [
                row
                for request in requests
                for row in audit_rows(request.principal, "POST", request.request_path, [])
            ],
        )
    return [
        [(OBSERVATION, i) if i is not None else None for ids in groups for i in ids]
        for groups in ids_of
    ]


def _data_array_groups(body: object) -> list[tuple[EntityType, int, list[str], list[Any]]]:
    if not isinstance(body, list):
        raise BadRequest("CreateObservations expects a JSON array of DataArray groups")
    return [_data_array_group(index, group) for index, group in enumerate(body)]


def _data_array_group(index: int, group: object) -> tuple[EntityType, int, list[str], list[Any]]:
    where = f"CreateObservations[{index}]"
    if not isinstance(group, dict):
        raise BadRequest(f"{where}: expected a DataArray object")
    links = [name for name in ("Datastream", "MultiDatastream") if name in group]
    if len(links) != 1:
        raise BadRequest(
            f"{where}: needs exactly one of Datastream or MultiDatastream", field=where
        )
    link = group[links[0]]
    stream_id = link.get("@iot.id") if isinstance(link, dict) else None
    if not is_entity_id(stream_id):
        raise BadRequest(
            f'{where}/{links[0]}: expected {{"@iot.id": <a positive 64-bit integer>}}',
            field=links[0],
        )
    components, rows = group.get("components"), group.get("dataArray")
    if not isinstance(components, list) or not all(isinstance(c, str) for c in components):
        raise BadRequest(f"{where}/components: expected an array of names", field="components")
    if not isinstance(rows, list):
        raise BadRequest(f"{where}/dataArray: expected an array of rows", field="dataArray")
    return BY_NAME[links[0]], stream_id, components, rows


async def update(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    body: object,
    request_path: str,
    *,
    replace: bool,
    bus: EventBus | None = None,
    connection: AsyncConnection | None = None,
) -> WriteResult:
    """PATCH or PUT one entity addressed by `path`."""
    async with transaction(engine, bus, connection) as (active, log):
        entity_type, entity_id = await _single(active, path)
        writer = Writer(active, principal)
        await writer.update(entity_type, entity_id, body, replace=replace)
        await writer.finish()
        method = "PUT" if replace else "PATCH"
        await _audit(active, principal, method, request_path, writer.written)
        log.add(writer.written)
    return WriteResult(entity_type, entity_id, tuple(writer.written))


async def apply_json_patch(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    operations: object,
    request_path: str,
    *,
    base_url: str,
    bus: EventBus | None = None,
    connection: AsyncConnection | None = None,
) -> WriteResult:
    """PATCH with a JSON Patch (RFC 6902): applied to the entity's JSON as a GET shows it
    (`base_url` makes its selfLink), then written and checked as the equivalent PATCH.

    The read and the write share one transaction, so a `test` operation guards the write.
    """
    async with transaction(engine, bus, connection) as (active, log):
        entity_type, entity_id = await _single(active, path)
        entity_path = ResourcePath((Step(entity_type, entity_id, None),))
        current = await read_entity(active, entity_path, QueryOptions(), base_url)
        body = patched_members(entity_type, current, operations)
        writer = Writer(active, principal)
        await writer.update(entity_type, entity_id, body, replace=False)
        await writer.finish()
        await _audit(active, principal, "PATCH", request_path, writer.written)
        log.add(writer.written)
    return WriteResult(entity_type, entity_id, tuple(writer.written))


async def delete(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    request_path: str,
    bus: EventBus | None = None,
    *,
    connection: AsyncConnection | None = None,
) -> WriteResult:
    """DELETE one entity addressed by `path`, with the standard's cascades."""
    async with transaction(engine, bus, connection) as (active, log):
        entity_type, entity_id = await _single(active, path)
        writer = Writer(active, principal)
        await writer.delete(entity_type, entity_id)
        await _audit(active, principal, "DELETE", request_path, writer.written)
        log.add(writer.written)
    return WriteResult(entity_type, entity_id, tuple(writer.written))


def _check_own_link(link: str, base_url: str) -> None:
    """BadRequest unless `link` is relative or under this server's version root."""
    given = urlsplit(link.strip())
    if not (given.scheme or given.netloc):
        return
    own = urlsplit(base_url)
    if (given.scheme.lower(), given.netloc.lower()) != (own.scheme.lower(), own.netloc.lower()):
        raise BadRequest(
            f"@iot.selfLink {link[:200]!r} names another server; link an entity of "
            f"{base_url or 'this server'} (or give its @iot.id)",
            field="@iot.selfLink",
        )


async def change_reference(
    engine: AsyncEngine,
    principal: Principal,
    path: ResourcePath,
    method: str,
    body: object,
    request_path: str,
    bus: EventBus | None = None,
    *,
    connection: AsyncConnection | None = None,
    base_url: str = "",
) -> None:
    """Link (POST/PUT) or unlink (DELETE) through `$ref`, e.g. /Things(1)/Locations/$ref.

    `base_url` (the version root clients see) is where a body's `@iot.selfLink` must point.
    """
    owner = path.parent
    navigation = path.steps[-1].via
    if owner is None or owner.id is None or navigation is None:
        raise BadRequest("$ref writes address a link of one entity, e.g. /Things(1)/Locations/$ref")
    target = BY_NAME[navigation.target]
    async with transaction(engine, bus, connection) as (active, log):
        await check_path_exists(active, ResourcePath(path.steps[:-1]))
        writer = Writer(active, principal)
        if method == "DELETE":
            target_id = path.steps[-1].id
            if navigation.to_many and target_id is None:
                raise BadRequest(
                    "DELETE $ref names the linked entity, e.g. /Things(1)/Locations(2)/$ref"
                )
            await writer.unlink(owner.entity_type, owner.id, navigation, target_id)
        elif (method == "POST") == navigation.to_many and method in ("POST", "PUT"):
            target_id = _referenced_id(body, target, base_url)
            await writer.link(owner.entity_type, owner.id, navigation, target_id)
        else:
            raise BadRequest(f"use POST on a to-many $ref and PUT on a to-one $ref, not {method}")
        await writer.finish()
        await _audit(active, principal, method, request_path, writer.written)
        log.add(writer.written)


def _referenced_id(body: object, target: EntityType, base_url: str = "") -> int:
    """The id in a $ref body: `{"@iot.id": 3}` or `{"@iot.selfLink": ".../Locations(3)"}`.

    A selfLink naming another server is refused, not read for its id: it names an entity
    of that server, and linking ours instead would be silently wrong.
    """
    if isinstance(body, dict):
        if isinstance(body.get("@iot.id"), int) and not isinstance(body.get("@iot.id"), bool):
            return int(body["@iot.id"])
        link = body.get("@iot.selfLink")
        if isinstance(link, str):
            _check_own_link(link, base_url)
            match = re.search(r"/([A-Za-z]+)\((\d+)\)/?$", link)
            if match and match.group(1) == target.set_name:
                return int(match.group(2))
            raise BadRequest(
                f"@iot.selfLink must point at one of the {target.set_name}", field="@iot.selfLink"
            )
    raise BadRequest(
        'a $ref body is {"@iot.id": <id>} or {"@iot.selfLink": "<url>"}', field="@iot.id"
    )


async def _single(connection: AsyncConnection, path: ResourcePath) -> tuple[EntityType, int]:
    """The type and id of the one entity a write path addresses (404 when missing)."""
    if path.is_collection or path.prop is not None or path.ref:
        raise BadRequest("PATCH, PUT and DELETE address one entity, e.g. /v1.1/Things(1)")
    last = path.steps[-1]
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


# ---------------------------------------------------------------------- typed reads for pillars

#: the most Datastreams or readings one typed read returns
MAX_TYPED_READ = 10_000


@dataclass(frozen=True)
class Reading:
    """One Observation as other pillars use it (times in UTC)."""

    id: int
    datastream_id: int
    phenomenon_time: datetime
    #: the end of an interval phenomenonTime (None for an instant)
    phenomenon_time_end: datetime | None
    result_time: datetime | None
    result: Any
    feature_of_interest_id: int | None


@dataclass(frozen=True)
class ThingSummary:
    """A Thing with its properties and the GeoJSON of its Locations."""

    id: int
    name: str
    description: str | None
    properties: dict[str, Any]
    locations: tuple[dict[str, Any], ...]
    #: the tenant user who owns the Thing (None: staff only)
    owner_id: int | None = None


def _reading(row: Any) -> Reading:
    return Reading(
        row.id,
        row.datastream_id,
        row.phenomenon_time_start,
        row.phenomenon_time_end,
        row.result_time,
        result_value(row),
        row.feature_of_interest_id,
    )


def _bounded(ids: Iterable[int], what: str) -> list[int]:
    unique = sorted(set(ids))
    if len(unique) > MAX_TYPED_READ:
        raise BadRequest(f"{what}: at most {MAX_TYPED_READ} at once, got {len(unique)}")
    return unique


async def latest_readings(engine: AsyncEngine, datastream_ids: Iterable[int]) -> dict[int, Reading]:
    """The latest reading (by phenomenonTime, then id) of each Datastream that has one."""
    ids = _bounded(datastream_ids, "datastream_ids")
    if not ids:
        return {}
    newest = (
        select(observations.c.id)
        .where(observations.c.datastream_id == datastreams.c.id)
        .order_by(observations.c.phenomenon_time_start.desc(), observations.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    # one index probe per Datastream (the read path's `$expand` does the same)
    latest = select(newest).select_from(datastreams).where(datastreams.c.id.in_(ids))
    async with read_connection(engine) as connection:
        rows = await connection.execute(select(observations).where(observations.c.id.in_(latest)))
        return {row.datastream_id: _reading(row) for row in rows}


async def newest_reading_times(
    engine: AsyncEngine, datastream_ids: Iterable[int]
) -> dict[int, datetime]:
    """Each Datastream's newest reading time (the end of its phenomenonTime, which the
    writer keeps current): one read by primary key however many readings arrived."""
    ids = _bounded(datastream_ids, "datastream_ids")
    if not ids:
        return {}
    statement = select(
        datastreams.c.id, datastreams.c.phenomenon_time_start, datastreams.c.phenomenon_time_end
    ).where(datastreams.c.id.in_(ids))
    async with read_connection(engine) as connection:
        rows = list(await connection.execute(statement))
    return {ds: end or start for ds, start, end in rows if (end or start) is not None}


async def readings_between(
    engine: AsyncEngine,
    datastream_id: int,
    start: datetime,
    end: datetime,
    *,
    limit: int = MAX_TYPED_READ,
) -> list[Reading]:
    """Readings of a Datastream, start <= phenomenonTime < end, oldest first, at most `limit`."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("start and end must be aware datetimes (UTC)")
    if not 1 <= limit <= MAX_TYPED_READ:
        raise BadRequest(f"limit: 1 to {MAX_TYPED_READ}, got {limit}")
    query = (
        select(observations)
        .where(
            observations.c.datastream_id == datastream_id,
            observations.c.phenomenon_time_start >= start,
            observations.c.phenomenon_time_start < end,
        )
        .order_by(observations.c.phenomenon_time_start, observations.c.id)
        .limit(limit)
    )
    async with read_connection(engine) as connection:
        return [_reading(row) for row in await connection.execute(query)]


async def readings_before(
    engine: AsyncEngine, datastream_id: int, end: datetime, *, limit: int
) -> list[Reading]:
    """The latest `limit` readings of a Datastream with phenomenonTime < end, oldest first
    (a rule's window filled from history)."""
    if end.tzinfo is None:
        raise BadRequest("end must be an aware datetime (UTC)")
    if not 1 <= limit <= MAX_TYPED_READ:
        raise BadRequest(f"limit: 1 to {MAX_TYPED_READ}, got {limit}")
    query = (
        select(observations)
        .where(
            observations.c.datastream_id == datastream_id,
            observations.c.phenomenon_time_start < end,
        )
        .order_by(observations.c.phenomenon_time_start.desc(), observations.c.id.desc())
        .limit(limit)
    )
    async with read_connection(engine) as connection:
        return [_reading(row) for row in await connection.execute(query)][::-1]


async def things_of_kind(engine: AsyncEngine, kind: str) -> list[ThingSummary]:
    """Things whose `properties.kind` is `kind` (e.g. "streetlight"), by id."""
    return await _things(engine, json_value(things.c.properties, ("kind",), "string") == kind)


async def things_in_district(engine: AsyncEngine, district: str) -> list[ThingSummary]:
    """Things whose `properties.district` is `district`, by id."""
    return await _things(
        engine, json_value(things.c.properties, ("district",), "string") == district
    )


async def things_by_id(engine: AsyncEngine, thing_ids: Iterable[int]) -> list[ThingSummary]:
    """The Things among `thing_ids` that exist, by id (with their owner)."""
    return await _things(engine, things.c.id.in_(_bounded(thing_ids, "thing_ids")))


async def things_within(engine: AsyncEngine, area: BaseGeometry) -> list[ThingSummary]:
    """Things with a Location within `area` (a shapely geometry in WGS 84), by id.

    PostGIS decides on its index; SQLite narrows by the stored bounding boxes first and
    decides with shapely.
    """
    if area.is_empty or not area.is_valid:
        raise BadRequest("area: expected a valid, non-empty geometry")
    xmin, ymin, xmax, ymax = area.bounds
    inside = (
        select(thing_locations.c.thing_id)
        .join(locations, locations.c.id == thing_locations.c.location_id)
        .where(
            locations.c.location_xmin >= xmin,
            locations.c.location_ymin >= ymin,
            locations.c.location_xmax <= xmax,
            locations.c.location_ymax <= ymax,
            spatial_relation(
                locations.c.location_geom, geometry_literal(literal(area.wkt)), "within"
            ),
        )
    )
    return await _things(engine, things.c.id.in_(inside))


async def _things(engine: AsyncEngine, condition: Any) -> list[ThingSummary]:
    async with read_connection(engine) as connection:
        rows = (
            await connection.execute(
                select(things).where(condition).order_by(things.c.id).limit(MAX_TYPED_READ)
            )
        ).all()
        placed: dict[int, list[dict[str, Any]]] = {row.id: [] for row in rows}
        if placed:
            found = await connection.execute(
                select(thing_locations.c.thing_id, locations.c.location)
                .join(locations, locations.c.id == thing_locations.c.location_id)
                .where(thing_locations.c.thing_id.in_(list(placed)))
                .order_by(thing_locations.c.thing_id, locations.c.id)
            )
            for thing_id, geometry in found:
                placed[thing_id].append(geometry)
    return [
        ThingSummary(
            row.id,
            row.name,
            row.description,
            row.properties or {},
            tuple(placed[row.id]),
            row.owner_id,
        )
        for row in rows
    ]


async def readings_count_between(engine: AsyncEngine, start: datetime, end: datetime) -> int:
    """How many readings (Observations) have start <= phenomenonTime < end, all Datastreams
    together: the ingest rate other pillars report (ops' KPIs)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("start and end must be aware datetimes (UTC)")
    query = select(func.count()).where(
        observations.c.phenomenon_time_start >= start, observations.c.phenomenon_time_start < end
    )
    async with read_connection(engine) as connection:
        return int((await connection.execute(query)).scalar_one())


# ------------------------------------------------------------- typed reads for the city map

#: the most Things `map_things` returns (the lowest ids first)
MAX_MAP_THINGS = 100_000


@dataclass(frozen=True)
class MapThing:
    """A Thing as a map marker: where, what, and when its newest reading was taken."""

    id: int
    name: str
    #: `properties.kind` as text ("other" when absent); `district` likewise ("" when absent)
    kind: str
    district: str
    lon: float
    lat: float
    #: the newest end of its Datastreams' phenomenonTime: None when none has a reading
    last_reading: datetime | None
    datastreams: tuple[int, ...]


def _property_text(properties: object, key: str) -> str:
    value = properties.get(key) if isinstance(properties, dict) else None
    return str(value)[:200] if value is not None else ""


def _point(geometry: object) -> tuple[float, float] | None:
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            return float(coordinates[0]), float(coordinates[1])
    return None


async def map_things(engine: AsyncEngine) -> list[MapThing]:
    """Every Thing with a point Location (its first, by Location id), by id, in two statements.

    A Thing's newest reading time comes from its Datastreams' phenomenonTime, which the
    writer keeps current, so this never scans Observations.
    """
    placed = (
        select(
            things.c.id,
            things.c.name,
            things.c.properties,
            locations.c.location,
        )
        .join(thing_locations, thing_locations.c.thing_id == things.c.id)
        .join(locations, locations.c.id == thing_locations.c.location_id)
        .order_by(things.c.id, locations.c.id)
    )
    streams = select(
        datastreams.c.thing_id,
        datastreams.c.id,
        datastreams.c.phenomenon_time_start,
        datastreams.c.phenomenon_time_end,
    ).order_by(datastreams.c.thing_id, datastreams.c.id)
    found: dict[int, tuple[str, object, tuple[float, float]]] = {}
    async with read_connection(engine) as connection:
        for thing_id, name, properties, geometry in await connection.execute(placed):
            if thing_id in found:
                continue
            point = _point(geometry)
            if point is not None:
                found[thing_id] = (name, properties, point)
                if len(found) == MAX_MAP_THINGS:
                    break
        ids_of: dict[int, list[int]] = {thing_id: [] for thing_id in found}
        newest: dict[int, datetime] = {}
        for thing_id, datastream_id, start, end in await connection.execute(streams):
            if thing_id not in ids_of:
                continue
            ids_of[thing_id].append(datastream_id)
            taken = end or start
            if taken is not None and (thing_id not in newest or taken > newest[thing_id]):
                newest[thing_id] = taken
    return [
        MapThing(
            id=thing_id,
            name=str(name)[:200],
            kind=_property_text(properties, "kind") or "other",
            district=_property_text(properties, "district"),
            lon=point[0],
            lat=point[1],
            last_reading=newest.get(thing_id),
            datastreams=tuple(ids_of[thing_id]),
        )
        for thing_id, (name, properties, point) in found.items()
    ]


@dataclass(frozen=True)
class DatastreamLatest:
    """A Datastream of a Thing with its unit and latest reading (None when it has none)."""

    id: int
    name: str
    unit_symbol: str
    latest: Reading | None


@dataclass(frozen=True)
class ThingDetail:
    """One Thing, its properties and its Datastreams (by id) with their latest readings."""

    id: int
    name: str
    description: str | None
    properties: dict[str, Any]
    datastreams: tuple[DatastreamLatest, ...]


async def thing_detail(engine: AsyncEngine, thing_id: int) -> ThingDetail:
    """A Thing with each Datastream's latest reading (`NotFound` when there is no such Thing)."""
    async with read_connection(engine) as connection:
        thing = (await connection.execute(select(things).where(things.c.id == thing_id))).first()
        if thing is None:
            raise NotFound(f"no Thing with id {thing_id}")
        streams = (
            await connection.execute(
                select(datastreams.c.id, datastreams.c.name, datastreams.c.unit_of_measurement)
                .where(datastreams.c.thing_id == thing_id)
                .order_by(datastreams.c.id)
                .limit(MAX_TYPED_READ)
            )
        ).all()
    latest = await latest_readings(engine, [row.id for row in streams])
    return ThingDetail(
        thing.id,
        thing.name,
        thing.description,
        thing.properties if isinstance(thing.properties, dict) else {},
        tuple(
            DatastreamLatest(
                row.id,
                row.name,
                _property_text(row.unit_of_measurement, "symbol"),
                latest.get(row.id),
            )
            for row in streams
        ),
    )


async def readings_by_id(engine: AsyncEngine, observation_ids: Iterable[int]) -> list[Reading]:
    """The committed Observations of Datastreams among `observation_ids`, by id (one query).

    One deleted since, or one of a MultiDatastream, is not in the answer.
    """
    ids = _bounded(observation_ids, "observation_ids")
    if not ids:
        return []
    query = (
        select(observations)
        .where(observations.c.id.in_(ids), observations.c.datastream_id.is_not(None))
        .order_by(observations.c.id)
    )
    async with read_connection(engine) as connection:
        return [_reading(row) for row in await connection.execute(query)]


async def minute_buckets(
    engine: AsyncEngine, datastream_id: int, start: datetime, end: datetime
) -> list[Bucket]:
    """A Datastream's one-minute rollups starting in [start, end), oldest first.

    `NotFound` when there is no such Datastream; `BadRequest` when end <= start or the
    range holds more buckets than one read returns.
    """
    return await read_buckets(engine, datastream_id, MINUTE, start, end)


def reading_time(reading: Reading) -> str | None:
    """A reading's phenomenonTime as the wire writes it: an instant or "start/end"."""
    return format_interval(reading.phenomenon_time, reading.phenomenon_time_end)


@dataclass(frozen=True)
class DatastreamFacts:
    """A Datastream with what a domain needs to recognise it: its ObservedProperty's name and
    definition, its unit, its observation type and properties."""

    id: int
    thing_id: int
    name: str
    unit_symbol: str
    observation_type: str
    observed_property_name: str
    observed_property_definition: str
    properties: dict[str, Any]


async def datastreams_of_things(
    engine: AsyncEngine, thing_ids: Iterable[int]
) -> list[DatastreamFacts]:
    """The Datastreams of the Things `thing_ids` with their ObservedProperty, by id (one query)."""
    ids = _bounded(thing_ids, "thing_ids")
    if not ids:
        return []
    query = (
        select(
            datastreams.c.id,
            datastreams.c.thing_id,
            datastreams.c.name,
            datastreams.c.unit_of_measurement,
            datastreams.c.observation_type,
            datastreams.c.properties,
            observed_properties.c.name.label("property_name"),
            observed_properties.c.definition,
        )
        .join(observed_properties, observed_properties.c.id == datastreams.c.observed_property_id)
        .where(datastreams.c.thing_id.in_(ids))
        .order_by(datastreams.c.id)
        .limit(MAX_TYPED_READ)
    )
    async with read_connection(engine) as connection:
        rows = (await connection.execute(query)).all()
    return [
        DatastreamFacts(
            row.id,
            row.thing_id,
            row.name,
            _property_text(row.unit_of_measurement, "symbol"),
            row.observation_type,
            row.property_name,
            row.definition,
            row.properties if isinstance(row.properties, dict) else {},
        )
        for row in rows
    ]


@dataclass(frozen=True)
class ReadingWithParameters:
    """A reading with its Observation `parameters` (camera events carry a snapshot URL and a
    confidence there)."""

    reading: Reading
    parameters: dict[str, Any]


async def readings_with_parameters_between(
    engine: AsyncEngine,
    datastream_ids: Iterable[int],
    start: datetime,
    end: datetime,
    *,
    limit: int = MAX_TYPED_READ,
) -> list[ReadingWithParameters]:
    """Readings of the Datastreams, start <= phenomenonTime < end, oldest first, with their
    parameters, at most `limit`."""
    ids = _bounded(datastream_ids, "datastream_ids")
    if start.tzinfo is None or end.tzinfo is None:
        raise BadRequest("start and end must be aware datetimes (UTC)")
    if not 1 <= limit <= MAX_TYPED_READ:
        raise BadRequest(f"limit: 1 to {MAX_TYPED_READ}, got {limit}")
    if not ids:
        return []
    query = (
        select(observations)
        .where(
            observations.c.datastream_id.in_(ids),
            observations.c.phenomenon_time_start >= start,
            observations.c.phenomenon_time_start < end,
        )
        .order_by(observations.c.phenomenon_time_start, observations.c.id)
        .limit(limit)
    )
    async with read_connection(engine) as connection:
        return [
            ReadingWithParameters(
                _reading(row), row.parameters if isinstance(row.parameters, dict) else {}
            )
            for row in await connection.execute(query)
        ]
