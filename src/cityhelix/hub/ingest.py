"""The batched writer of Observations: readings are checked as they arrive, written in batches.

HTTP and MQTT hand plain Observation creations to one `ObservationIngest`; a single task
writes them a batch per transaction through the Writer's bulk path (DESIGN.md section 4).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import ANONYMOUS, Principal
from cityhelix.auth.service import audit_rows, record_write, record_writes
from cityhelix.events.bus import EventBus
from cityhelix.hub.changes import data_array_facts, recorded
from cityhelix.hub.errors import Conflict, HubError, Overloaded
from cityhelix.hub.model import (
    DATASTREAM,
    FEATURE_OF_INTEREST,
    MULTI_DATASTREAM,
    OBSERVATION,
    EntityType,
    is_entity_id,
)
from cityhelix.hub.query.path import ResourcePath, Step
from cityhelix.hub.store.read import check_path_exists
from cityhelix.hub.store.write import StreamRows, Writer, Written
from cityhelix.hub.tables import (
    datastreams,
    multi_datastream_observed_properties,
    multi_datastreams,
    thing_locations,
    things,
)

logger = logging.getLogger(__name__)

#: the members of a plain Observation body, as DataArray components in a fixed order
_COMPONENTS = ("phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters")
_FEATURE_ID = "FeatureOfInterest/id"
#: how long the edge trusts what it read about a Datastream; the batch checks again anyway
STREAM_FACTS_SECONDS = 10.0
_STREAM_FACTS_LIMIT = 100_000
#: a stream in use whose facts expire within this long is read again ahead, with the other
#: streams that came due meanwhile: readings spread over a thousand Datastreams otherwise
#: let their facts expire one by one and cost a lookup query every few readings
REFRESH_AHEAD_SECONDS = STREAM_FACTS_SECONDS / 2
#: how long the streams due for a refresh gather before the one query that reads them
REFRESH_GATHER_SECONDS = 1.0
#: the longest Retry-After the hub asks of an HTTP client
MAX_RETRY_AFTER = 60

# The Writer's check of an entity's members uses no connection: the edge runs the very same
# code (so its errors are the direct path's) on a Writer that has none.
_MEMBER_CHECK = Writer(cast(AsyncConnection, None), ANONYMOUS)


class _ArrivalOrder:
    """Tickets in arrival order, and turns taken in that order: `take` at arrival (no
    await before it), `turn` waits until every earlier ticket is `done`, `done` always (a
    ticket whose reading was refused, or went another way, gives its turn up)."""

    def __init__(self) -> None:
        self._next = 0  # the next ticket to give
        self._serving = 0  # the ticket whose turn it is
        self._finished: set[int] = set()
        self._waiting: dict[int, asyncio.Future[None]] = {}

    def take(self) -> int:
        ticket, self._next = self._next, self._next + 1
        return ticket

    async def turn(self, ticket: int) -> None:
        if ticket != self._serving:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[ticket] = waiter
            try:
                await waiter
            finally:
                self._waiting.pop(ticket, None)

    def done(self, ticket: int) -> None:
        self._finished.add(ticket)
        while self._serving in self._finished:
            self._finished.discard(self._serving)
            self._serving += 1
        waiter = self._waiting.get(self._serving)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


@dataclass(frozen=True)
class Target:
    """The stream a plain Observation is written to, and whether the URL path named it."""

    stream_type: EntityType
    stream_id: int
    from_path: bool


def _plain_feature(value: object) -> bool:
    """No FeatureOfInterest, one linked by id, or a new one without links of its own."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    if "@iot.id" in value:
        return is_entity_id(value["@iot.id"])
    return not any(FEATURE_OF_INTEREST.find_navigation(key) for key in value)


def _plain_body(body: dict[str, Any], target: Target) -> bool:
    """`body` (its stream link set) is plain, and for the stream of `target`."""
    other = MULTI_DATASTREAM if target.stream_type is DATASTREAM else DATASTREAM
    link = body.get(target.stream_type.name)
    return (
        "@iot.id" not in body
        and other.name not in body
        and isinstance(link, dict)
        and link.get("@iot.id") == target.stream_id
        and _plain_feature(body.get("FeatureOfInterest"))
    )


def plain_observation(path: ResourcePath, body: object) -> Target | None:
    """Where a POST of `body` to `path` writes, when the ingest can take it; else None.

    Plain: a JSON object of Observation properties for one Datastream or MultiDatastream
    (in the path, or linked by id) with no FeatureOfInterest, one linked by id or a new one.
    Anything else (deep inserts, odd links, errors to report) takes the direct path.
    """
    if path.target is not OBSERVATION or not path.is_collection or path.prop or path.ref:
        return None
    if not isinstance(body, dict) or "@iot.id" in body:
        return None
    if not _plain_feature(body.get("FeatureOfInterest")):
        return None
    links = [name for name in (DATASTREAM.name, MULTI_DATASTREAM.name) if name in body]
    if len(path.steps) == 1:
        if len(links) != 1:
            return None
        link = body[links[0]]
        if not isinstance(link, dict) or not is_entity_id(link.get("@iot.id")):
            return None
        stream_type = DATASTREAM if links[0] == DATASTREAM.name else MULTI_DATASTREAM
        return Target(stream_type, int(link["@iot.id"]), from_path=False)
    parent = path.steps[0]
    if (
        len(path.steps) != 2
        or links
        or parent.id is None
        or parent.entity_type not in (DATASTREAM, MULTI_DATASTREAM)
    ):
        return None
    return Target(parent.entity_type, parent.id, from_path=True)


@dataclass(frozen=True)
class _Stream:
    """What the edge must know of a stream to vouch for a reading before it is queued."""

    owner_id: int | None  # the owner of its Thing
    has_location: bool  # its Thing has a Location to generate a FeatureOfInterest from
    width: int | None  # a MultiDatastream's number of ObservedProperties

    def takes(self, principal: Principal, body: dict[str, Any]) -> bool:
        """Whether a reading of `principal` would pass the checks that need the database."""
        allowed = principal.writes_all_of_hub or (
            principal.is_tenant
            and principal.user_id is not None
            and self.owner_id == principal.user_id
        )
        if not allowed:
            return False
        if body.get("FeatureOfInterest") is None and not self.has_location:
            return False
        result = body.get("result")
        return self.width is None or (isinstance(result, list) and len(result) == self.width)


@dataclass(eq=False)
class _Reading:
    """One queued Observation, and the future its submitter waits on."""

    principal: Principal
    target: Target
    body: Any  # with its stream link, as `Writer.create` takes it
    request_path: str
    answer: asyncio.Future[int]
    arrived: float = 0.0
    components: tuple[str, ...] = ()
    row: list[Any] = field(default_factory=list)
    #: a new FeatureOfInterest, created in the batch before the reading
    feature: dict[str, Any] | None = None

    @property
    def stream(self) -> tuple[str, int]:
        return self.target.stream_type.name, self.target.stream_id


@dataclass
class _Outcome:
    """What a committed batch did: an id per written reading, the readings it refused."""

    ids: list[tuple[_Reading, int]]
    refused: list[_Reading]
    written: list[Written]


class ObservationIngest:
    """Batches plain Observation creations: one transaction per batch, answers after commit.

    `batches` counts committed batch transactions, `readings` the Observations they wrote,
    `overloaded` the submissions refused because the queue was full, `fallbacks` the
    batches that failed in the database and were written again one reading at a time.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus | None,
        *,
        batch_size: int = 1000,
        batch_ms: int = 50,
        queue_size: int = 10_000,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._batch_size = batch_size
        self._batch_seconds = batch_ms / 1000
        self._queue: asyncio.Queue[_Reading] = asyncio.Queue(queue_size)
        self._queue_size = queue_size
        self._streams: dict[tuple[str, int], tuple[_Stream, float]] = {}
        self._lookups: dict[tuple[str, int], asyncio.Future[_Stream | None]] = {}
        self._order = _ArrivalOrder()
        self._wanted: list[tuple[str, int]] = []  # looked up by the next query
        self._reads: set[asyncio.Future[None]] = set()
        self._due: set[tuple[str, int]] = set()  # refreshed ahead by the next refresh
        self._refresh: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._gathering: asyncio.Timeout | None = None
        self._closing = False
        self._seconds_per_reading = 0.0
        self.batches = 0
        self.readings = 0
        self.overloaded = 0
        self.fallbacks = 0
        self.most_queued = 0

    @property
    def queued(self) -> int:
        """Readings waiting for their batch."""
        return self._queue.qsize()

    async def start(self) -> None:
        """Start the task that writes the batches."""
        self._closing = False
        self._writer = asyncio.create_task(self._write_forever(), name="cityhelix-ingest")
        self._writer.add_done_callback(_report_crash)

    async def stop(self) -> None:
        """Refuse new readings, write every queued one, then stop the writing task."""
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is None:
            return
        if self._gathering is not None and not self._gathering.expired():
            self._gathering.reschedule(asyncio.get_running_loop().time())  # write it now
        if self._refresh is not None:
            self._refresh.cancel()
        drained = asyncio.ensure_future(self._queue.join())
        await asyncio.wait({drained, writer}, return_when=asyncio.FIRST_COMPLETED)
        drained.cancel()
        writer.cancel()
        await asyncio.gather(drained, writer, return_exceptions=True)

    # ------------------------------------------------------------------ the edge

    async def submit(
        self,
        principal: Principal,
        target: Target,
        body: object,
        *,
        request_path: str = "",
        wait: bool = False,
    ) -> int:
        """Create one Observation of `target` (from `plain_observation`); its id once the
        batch holding it committed.

        Raises the `HubError`s a direct create would: what can be checked without writing is
        checked here, before queueing, so a bad reading never enters a batch. A full queue
        raises `Overloaded`, or with `wait` waits for room (MQTT).
        """
        if self._closing:
            raise Overloaded("the hub is stopping; retry shortly", retry_after=1)
        linked: Any = body
        if isinstance(body, dict):
            linked = dict(body)
            if target.from_path:
                linked[target.stream_type.name] = {"@iot.id": target.stream_id}
            if "phenomenonTime" not in linked:
                # the standard's default is the time the reading arrived, not its batch's
                linked["phenomenonTime"] = datetime.now(UTC).isoformat()
        loop = asyncio.get_running_loop()
        reading = _Reading(principal, target, linked, request_path, loop.create_future())
        # readings enter the queue in the order they arrived, whatever the checks cost each
        # (a stream's facts looked up for one, found in the cache by the next): a device's
        # readings of one Datastream are written, and announced, in the order it sent them
        ticket = self._order.take()
        try:
            vouched = await self._vouch(reading)
            if vouched:
                await self._order.turn(ticket)
                reading.arrived = loop.time()
                if wait:
                    await self._queue.put(reading)
                else:
                    try:
                        self._queue.put_nowait(reading)
                    except asyncio.QueueFull:
                        self.overloaded += 1
                        raise Overloaded(
                            f"the hub is writing {self._queue_size} readings already; retry later",
                            retry_after=self._retry_after(),
                        ) from None
        finally:
            self._order.done(ticket)
        if not vouched:
            return await self._write_alone(reading)
        self.most_queued = max(self.most_queued, self._queue.qsize())
        return await reading.answer

    async def _vouch(self, reading: _Reading) -> bool:
        """Check `reading` as far as can be done before writing; prepare its DataArray row.

        False when only a direct write can tell (a missing stream, a caller that may not
        write it...): it then says exactly what a direct create says. A body that breaks
        the data model raises here.
        """
        body, target = reading.body, reading.target
        if not isinstance(body, dict):
            return False
        if target.from_path and await self._stream(target) is None:
            return False  # the direct path answers 404 before it looks at the body
        if not _plain_body(body, target):
            return False
        _MEMBER_CHECK._columns_and_links(OBSERVATION, body, OBSERVATION.name, replace=True)
        feature = body.get("FeatureOfInterest")
        if isinstance(feature, dict) and "@iot.id" not in feature:
            where = f"{OBSERVATION.name}/FeatureOfInterest"
            _MEMBER_CHECK._columns_and_links(FEATURE_OF_INTEREST, feature, where, replace=True)
            reading.feature = feature
        stream = await self._stream(target)
        if stream is None or not stream.takes(reading.principal, body):
            return False
        components = tuple(name for name in _COMPONENTS if name in body)
        row = [body[name] for name in components]
        if isinstance(feature, dict):
            components += (_FEATURE_ID,)
            row.append(feature.get("@iot.id"))
        reading.components, reading.row = components, row
        return True

    async def _stream(self, target: Target) -> _Stream | None:
        """What the edge knows of a stream (None: it does not exist), read once per while."""
        key = (target.stream_type.name, target.stream_id)
        loop = asyncio.get_running_loop()
        cached = self._streams.get(key)
        if cached is not None:
            left = cached[1] - loop.time()
            if left > 0:
                if left < REFRESH_AHEAD_SECONDS and key not in self._due:
                    self._refresh_ahead(key)
                return cached[0]
        lookup = self._lookups.get(key)
        if lookup is None:
            # the streams asked for before the next query starts share it: readings spread
            # over a thousand Datastreams must not cost a query each
            lookup = loop.create_future()
            self._lookups[key] = lookup
            self._wanted.append(key)
            if len(self._wanted) == 1:
                reading = asyncio.ensure_future(self._read_wanted())
                self._reads.add(reading)
                reading.add_done_callback(self._reads.discard)
        facts = await asyncio.shield(lookup)
        if facts is not None:
            if len(self._streams) >= _STREAM_FACTS_LIMIT:
                self._streams.clear()
            self._streams[key] = (facts, loop.time() + STREAM_FACTS_SECONDS)
        return facts

    def _refresh_ahead(self, key: tuple[str, int]) -> None:
        """Read `key`'s facts again soon, with the other streams in use that came due."""
        self._due.add(key)
        if self._refresh is None and not self._closing:
            self._refresh = asyncio.create_task(self._refresh_due(), name="cityhelix-facts")

    async def _refresh_due(self) -> None:
        """One query for the streams that came due: the cache keeps their facts fresh, the
        readings never wait for it (an expired stream is looked up as before)."""
        try:
            await asyncio.sleep(REFRESH_GATHER_SECONDS)
            keys = list(self._due)
            try:
                found = await self._read_streams(keys)
            except Exception as error:
                # they expire as usual and are looked up then, with that lookup's errors
                logger.warning("cannot refresh the facts of %d streams: %s", len(keys), error)
                return
            until = asyncio.get_running_loop().time() + STREAM_FACTS_SECONDS
            for key in keys:
                facts = found.get(key)
                if facts is None:
                    self._streams.pop(key, None)  # gone: its next reading says so
                elif key not in self._streams and len(self._streams) >= _STREAM_FACTS_LIMIT:
                    continue
                else:
                    self._streams[key] = (facts, until)
        finally:
            self._due.clear()
            self._refresh = None

    async def _read_wanted(self) -> None:
        """Answer every stream lookup asked for until now, with one query per stream type."""
        await asyncio.sleep(0)  # the readings that arrived with the first one ask too
        keys, self._wanted = self._wanted, []
        try:
            found = await self._read_streams(keys)
        except Exception as error:
            # each reading waiting for it fails as its own lookup would have
            for key in keys:
                self._lookups.pop(key).set_exception(error)
            return
        except BaseException:
            for key in keys:
                self._lookups.pop(key).cancel()
            raise
        for key in keys:
            self._lookups.pop(key).set_result(found.get(key))

    async def _read_streams(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], _Stream]:
        found: dict[tuple[str, int], _Stream] = {}
        async with self._engine.connect() as connection:
            for stream_type in (DATASTREAM, MULTI_DATASTREAM):
                ids = [stream_id for name, stream_id in keys if name == stream_type.name]
                if not ids:
                    continue
                multi = stream_type is MULTI_DATASTREAM
                table = multi_datastreams if multi else datastreams
                located = exists().where(thing_locations.c.thing_id == table.c.thing_id)
                columns: list[Any] = [table.c.id, things.c.owner_id, located]
                if multi:
                    links = multi_datastream_observed_properties.c
                    columns.append(
                        select(func.count())
                        .where(links.multi_datastream_id == table.c.id)
                        .scalar_subquery()
                    )
                query = (
                    select(*columns)
                    .select_from(table.join(things, things.c.id == table.c.thing_id))
                    .where(table.c.id.in_(ids))
                )
                for row in await connection.execute(query):
                    width = int(row[3]) if multi else None
                    found[(stream_type.name, row[0])] = _Stream(row[1], bool(row[2]), width)
        return found

    def _retry_after(self) -> int:
        """Seconds until the queue has room again, as far as recent batches tell."""
        estimate = self._queue.qsize() * self._seconds_per_reading
        return max(1, min(MAX_RETRY_AFTER, math.ceil(estimate)))

    # ------------------------------------------------------------------ the writer

    async def _write_forever(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _next_batch(self) -> list[_Reading]:
        """The readings of the next batch: up to the size, gathered up to the time bound.

        The time counts from the first reading's arrival: readings that waited while the
        previous batch was written go at once.
        """
        batch = [await self._queue.get()]
        self._take_waiting(batch)
        deadline = batch[0].arrived + self._batch_seconds
        if self._closing or len(batch) >= self._batch_size:
            return batch
        if deadline > asyncio.get_running_loop().time():
            try:
                async with asyncio.timeout_at(deadline) as self._gathering:
                    while len(batch) < self._batch_size:
                        batch.append(await self._queue.get())
                        self._take_waiting(batch)
            except TimeoutError:
                pass
            finally:
                self._gathering = None
        return batch

    def _take_waiting(self, batch: list[_Reading]) -> None:
        while len(batch) < self._batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())

    async def _write(self, batch: list[_Reading]) -> None:
        """Write one batch and answer its submitters; one by one if the batch fails."""
        # a submitter that gave up before its batch began was never answered: not written
        readings = [reading for reading in batch if not reading.answer.done()]
        if not readings:
            return
        started = asyncio.get_running_loop().time()
        try:
            outcome = await self._write_batch(readings)
        except (SQLAlchemyError, HubError, OSError) as error:
            # the database refused the batch (a stream deleted since the edge looked, a
            # conflict, a lost connection): each reading alone gets its own answer
            self.fallbacks += 1
            self._streams.clear()
            logger.warning(
                "a batch of %d readings failed (%s); writing them one by one",
                len(readings),
                error,
            )
            for reading in readings:
                await self._answer_alone(reading)
            return
        except Exception as error:
            # a bug: every submitter of the batch sees it, and the log has its traceback
            logger.exception("a batch of %d readings failed", len(readings))
            for reading in readings:
                _fail(reading, error)
            return
        elapsed = asyncio.get_running_loop().time() - started
        per_reading = elapsed / len(readings)
        self._seconds_per_reading = (
            per_reading
            if not self._seconds_per_reading
            else 0.8 * self._seconds_per_reading + 0.2 * per_reading
        )
        self.batches += 1
        self.readings += len(outcome.ids)
        for reading, entity_id in outcome.ids:
            if not reading.answer.done():
                reading.answer.set_result(entity_id)
        for reading in outcome.refused:
            await self._answer_alone(reading)

    async def _write_batch(self, readings: list[_Reading]) -> _Outcome:
        """One transaction: the readings grouped by caller and shape, each group bulk-inserted
        for all its streams at once (readings spread over a thousand Datastreams must cost a
        few statements a batch, not a few a Datastream)."""
        shapes: dict[tuple[Principal, tuple[str, ...]], dict[tuple[str, int], list[_Reading]]]
        shapes = {}
        for reading in readings:
            streams = shapes.setdefault((reading.principal, reading.components), {})
            streams.setdefault(reading.stream, []).append(reading)
        outcome = _Outcome([], [], [])
        audit: dict[tuple[Principal, str], list[tuple[str, int]]] = {}
        writers: dict[Principal, Writer] = {}
        async with recorded(self._engine, self._bus) as (connection, log):
            for principal, components in sorted(shapes, key=lambda k: (k[0].name, k[1])):
                streams = shapes[(principal, components)]
                writer = writers.setdefault(principal, Writer(connection, principal))
                # streams in id order, so that concurrent batches lock their rows in one order
                groups = [streams[key] for key in sorted(streams)]
                rows_of: list[StreamRows] = []
                features_of: list[list[Written]] = []
                for group in groups:
                    before = len(writer.written)
                    rows = []
                    for reading in group:
                        row = list(reading.row)
                        if reading.feature is not None:
                            row[-1] = await writer.create(
                                FEATURE_OF_INTEREST,
                                reading.feature,
                                nested=True,
                                where=f"{OBSERVATION.name}/FeatureOfInterest",
                            )
                        rows.append(row)
                    target = group[0].target
                    rows_of.append(StreamRows(target.stream_type, target.stream_id, rows))
                    features_of.append(writer.written[before:])
                answers = await writer.create_observation_rows(list(components), rows_of)
                for stream_rows, answer in zip(rows_of, answers, strict=True):
                    data_array_facts(
                        log,
                        writer,
                        stream_rows.stream_type,
                        stream_rows.stream_id,
                        components,
                        stream_rows.rows,
                        answer.ids,
                    )
                for group, features, answer in zip(groups, features_of, answers, strict=True):
                    for reading, entity_id in zip(group, answer.ids, strict=True):
                        if entity_id is None:
                            outcome.refused.append(reading)
                            continue
                        outcome.ids.append((reading, entity_id))
                        audit.setdefault((reading.principal, reading.request_path), []).append(
                            (OBSERVATION.name, entity_id)
                        )
                    first = group[0]
                    audit.setdefault((first.principal, first.request_path), []).extend(
                        (w.entity_type.name, w.id) for w in [*features, *answer.features]
                    )
            for writer in writers.values():
                await writer.finish()
                log.add(writer.written)
            # one statement for the batch: an MQTT request path names its Datastream, so
            # one per path would cost a round trip per Datastream again
            await record_writes(
                connection,
                [
                    row
                    for (principal, request_path), entries in audit.items()
                    for row in audit_rows(principal, "POST", request_path, entries)
                ],
            )
        outcome.written = [w for writer in writers.values() for w in writer.written]
        return outcome

    async def _answer_alone(self, reading: _Reading) -> None:
        if reading.answer.done():
            return
        try:
            entity_id = await self._write_alone(reading)
        except HubError as error:
            _fail(reading, error)
        except Exception as error:
            logger.exception("an Observation for %s failed", reading.request_path)
            _fail(reading, error)
        else:
            reading.answer.set_result(entity_id)

    async def _write_alone(self, reading: _Reading) -> int:
        """The direct path for one reading: its own transaction, the exact errors of a POST."""
        target = reading.target
        try:
            async with recorded(self._engine, self._bus) as (connection, log):
                if target.from_path:
                    stream = Step(target.stream_type, target.stream_id, None)
                    await check_path_exists(connection, ResourcePath((stream,)))
                writer = Writer(connection, reading.principal)
                entity_id = await writer.create(OBSERVATION, reading.body)
                await writer.finish()
                await record_write(
                    connection,
                    reading.principal,
                    "POST",
                    reading.request_path,
                    [(w.entity_type.name, w.id) for w in writer.written],
                )
                log.add(writer.written)
        except IntegrityError:
            raise Conflict("the write conflicts with another change; retry it") from None
        return entity_id


def _fail(reading: _Reading, error: BaseException) -> None:
    if not reading.answer.done():
        reading.answer.set_exception(error)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())
