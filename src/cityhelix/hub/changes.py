"""Every committed write of the hub, recorded in its own transaction and announced after it.

The one code path for events: HTTP, `$batch` groups, MQTT, CreateObservations and the
batched ingest all write inside `recorded(...)`, which appends the transaction's events to
the durable stream's outbox before the commit and publishes them on the in-process bus
after it. A caller that owns a transaction (a `$batch` atomicity group) opens it here too;
the writes made on its connection join its log, and are announced once, at its commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.bus import NO_PAYLOAD, EntityEvent, EventBus
from cityhelix.hub.model import BY_NAME, DATASTREAM, OBSERVATION, THING, EntityType
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.store.observation_hooks import GeneratedFeatures
from cityhelix.hub.store.write import Writer, Written
from cityhelix.hub.tables import datastreams, multi_datastreams
from cityhelix.hub.values import format_interval, format_time, result_value

_LOG = "cityhelix.changes"
_FEATURE_ID = "FeatureOfInterest/id"
#: readings or events made between two turns of the event loop (a few ms of work): a
#: write of 100,000 readings makes its events in slices, not in one step that holds the loop
_PER_TURN = 5_000


#: an Observation event's payload, its `thing_id` filled in at the commit (per stream)
Payload = dict[str, Any]


class ChangeLog:
    """What one transaction wrote, in order, and the payloads of its new readings."""

    def __init__(self) -> None:
        self.written: list[Written] = []
        #: Observation id -> its event's payload, for readings the writer knows all about
        self.readings: dict[int, Payload] = {}
        #: (stream column, stream id) -> the payloads of its readings, to fill in `thing_id`
        self.streams: dict[tuple[str, int], list[Payload]] = {}
        #: DataArray rows whose payloads are made at the commit (`data_array_facts`)
        self.facts: list[_DataArrayFacts] = []

    def add(self, written: Iterable[Written]) -> None:
        self.written.extend(written)


@dataclass(frozen=True)
class _DataArrayFacts:
    """What `data_array_facts` noted of one group's rows, for `events_of` to make payloads of."""

    fk: str
    stream_id: int
    at: int | None  # the index of phenomenonTime (None: the write's time, `now`)
    result_at: int | None
    result: int
    feature_at: int | None  # None: every row has the stream's generated `feature`
    feature: int | None
    now: str
    rows: Sequence[Sequence[Any]]
    ids: Sequence[int | None]


@asynccontextmanager
async def recorded(
    engine: AsyncEngine, bus: EventBus | None, connection: AsyncConnection | None = None
) -> AsyncIterator[tuple[AsyncConnection, ChangeLog]]:
    """A write transaction whose changes go to the outbox in it and to `bus` after it.

    With `connection` (opened by `recorded` higher up: a `$batch` group), the caller's
    transaction and log: its owner records and announces them all at its commit.
    """
    if connection is not None:
        log: ChangeLog | None = connection.info.get(_LOG)
        if log is None:
            raise RuntimeError("a caller's transaction must be opened by changes.recorded")
        yield connection, log
        return
    log = ChangeLog()
    async with engine.begin() as own:
        own.info[_LOG] = log
        try:
            yield own, log
            parts = await outbox.append(own, await events_of(own, log))
        finally:
            own.info.pop(_LOG, None)
    if bus is not None:
        # the outbox rows' `Events`, not a copy: the bus's subscribers and this process's
        # consumer groups then share each row's lookups (`Events.by_topic`, ...)
        for part in parts:
            bus.publish(part)


def data_array_facts(
    log: ChangeLog,
    writer: Writer,
    stream_type: EntityType,
    stream_id: int,
    components: Sequence[str],
    rows: Sequence[Sequence[Any]],
    ids: Sequence[int | None],
) -> None:
    """Note the rows `ids` says were written (None: refused), whose events' payloads are
    made from the rows at the commit (`events_of`).

    Times are passed on as sent when they are UTC with `Z` (the common case, no parsing),
    else normalised; a FeatureOfInterest the writer generated is the one it used for the
    stream (else the reading is read back at the commit, as any other write is).
    """
    fk = "datastream_id" if stream_type is DATASTREAM else "multi_datastream_id"
    index = {name: i for i, name in enumerate(components)}
    result = index.get("result")
    feature_at = index.get(_FEATURE_ID)
    if result is None:
        return  # no row without a result is written
    generated: int | None = None
    if feature_at is None:
        # the writer's cache of the FeatureOfInterest it generated per stream: read, not
        # changed; absent, the readings are read back at the commit
        features = writer.hook(GeneratedFeatures).by_stream
        generated = features.get((table_of(stream_type).name, stream_id))
        if generated is None:
            return
    # the payloads are made at the commit, in slices (`events_of`): noted here, a request
    # of 100,000 rows would make them all in one step of the event loop
    log.facts.append(
        _DataArrayFacts(
            fk,
            stream_id,
            index.get("phenomenonTime"),
            index.get("resultTime"),
            result,
            feature_at,
            generated,
            format_time(writer.now) or "",
            rows,
            ids,
        )
    )


async def _payloads_of(log: ChangeLog) -> list[EntityEvent]:
    """The events of the DataArray rows `log.facts` noted, in order, `_PER_TURN` rows per
    turn of the event loop; their payloads also go to `log.readings` (by id) and
    `log.streams` (by stream, for `_fill_things`)."""
    readings = log.readings
    events: list[EntityEvent] = []
    for facts in log.facts:
        payloads = log.streams.setdefault((facts.fk, facts.stream_id), [])
        for first in range(0, len(facts.rows), _PER_TURN):
            await asyncio.sleep(0)
            rows = facts.rows[first : first + _PER_TURN]
            ids = facts.ids[first : first + _PER_TURN]
            plain = _plain_payloads(facts, rows, ids)
            if plain is None:
                ids, plain = _row_payloads(facts, rows, ids)
            written = cast(Sequence[int], ids)  # none refused: those were left out
            payloads += plain
            readings.update(zip(written, plain, strict=True))
            events += map(
                _new_event, zip(_CREATE, _OBSERVATION, written, plain, _HUB, strict=False)
            )
    log.facts.clear()
    return events


#: an EntityEvent made from a tuple of its fields in C (no keyword handling: a bulk write
#: makes one per reading), and the constant fields of a new reading's event
_new_event = partial(tuple.__new__, EntityEvent)
_CREATE, _OBSERVATION, _HUB = repeat("create"), repeat("Observation"), repeat("hub")


def _plain_payloads(
    facts: _DataArrayFacts, rows: Sequence[Sequence[Any]], ids: Sequence[int | None]
) -> list[Payload] | None:
    """The payloads of `rows` (of `facts`) when every row was written, with a UTC time sent
    with `Z`, no resultTime and the stream's generated FeatureOfInterest: the common bulk
    write, made in a few passes in C and one comprehension. Else None."""
    if facts.at is None or facts.result_at is not None or facts.feature_at is not None:
        return None
    if None in ids:
        return None
    times = list(map(itemgetter(facts.at), rows))
    if set(map(type, times)) != {str} or not all(map(str.endswith, times, _Z)):
        return None
    if any(map(str.__contains__, times, _SLASH)):
        return None  # an interval
    fk, stream_id, feature = facts.fk, facts.stream_id, facts.feature
    return [
        {
            fk: stream_id,
            "thing_id": None,
            "phenomenonTime": time,
            "resultTime": None,
            "result": result,
            "feature_of_interest_id": feature,
        }
        for time, result in zip(times, map(itemgetter(facts.result), rows), strict=True)
    ]


def _row_payloads(
    facts: _DataArrayFacts, rows: Sequence[Sequence[Any]], ids: Sequence[int | None]
) -> tuple[list[int], list[Payload]]:
    """The ids and payloads of the written rows of `rows`, looked at one by one: times other
    than UTC with `Z` normalised, a resultTime, FeaturesOfInterest given by id."""
    at, result_at, result = facts.at, facts.result_at, facts.result
    fk, stream_id, now = facts.fk, facts.stream_id, facts.now
    feature_at, generated = facts.feature_at, facts.feature
    made_ids: list[int] = []
    made: list[Payload] = []
    for row, entity_id in zip(rows, ids, strict=True):
        if entity_id is None:
            continue
        feature = generated if feature_at is None else row[feature_at]
        if type(feature) is not int:
            continue
        if at is None:
            time = now
        else:
            time = row[at]
            if type(time) is not str or time[-1:] != "Z" or "/" in time:
                time = wire_time(time)
        result_time = None
        if result_at is not None and row[result_at] is not None:
            result_time = wire_time(row[result_at])
        payload = {
            fk: stream_id,
            "thing_id": None,
            "phenomenonTime": time,
            "resultTime": result_time,
            "result": row[result],
            "feature_of_interest_id": feature,
        }
        made_ids.append(entity_id)
        made.append(payload)
    return made_ids, made


_Z, _SLASH = repeat("Z"), repeat("/")


def wire_time(value: object) -> str:
    """A time or interval as SensorThings writes it (UTC, `Z`), from a value the writer took."""
    if isinstance(value, str):
        if value.endswith("Z") and "/" not in value:
            return value
        if "/" in value:
            start, _, end = value.partition("/")
            return f"{wire_time(start)}/{wire_time(end)}"
        return format_time(datetime.fromisoformat(value)) or value
    if isinstance(value, datetime):
        return format_time(value) or ""
    return str(value)


async def events_of(connection: AsyncConnection, log: ChangeLog) -> list[EntityEvent]:
    """The events of what `log` holds, in order, payloads included.

    Bulk readings come with their facts; everything else is read back in this transaction,
    one query per entity type (not per entity), and the Things of the readings' streams
    by one query per stream table.
    """
    from_rows = await _payloads_of(log)
    if not log.written:
        return []
    readings = log.readings
    if len(log.written) == len(from_rows) and list(map(_written_id, log.written)) == list(
        map(_event_id, from_rows)
    ):
        # only the DataArray rows' new readings, in the order written (a bulk write)
        await _fill_things(connection, log.streams)
        return from_rows
    wanted: dict[str, set[int]] = {}
    for index, written in enumerate(log.written):
        if index and not index % _PER_TURN:
            await asyncio.sleep(0)
        if written.action != "delete" and not (
            written.entity_type is OBSERVATION and written.id in readings
        ):
            wanted.setdefault(written.entity_type.name, set()).add(written.id)
    rows: dict[str, dict[int, Any]] = {}
    for type_name, ids in wanted.items():
        table = table_of(BY_NAME[type_name])
        found = await connection.execute(select(table).where(table.c.id.in_(ids)))
        rows[type_name] = {row.id: row for row in found}
    for row in rows.get(OBSERVATION.name, {}).values():
        fk = "datastream_id" if row.datastream_id is not None else "multi_datastream_id"
        stream_id = row.datastream_id or row.multi_datastream_id
        payload = {
            fk: stream_id,
            "thing_id": None,
            "phenomenonTime": format_interval(row.phenomenon_time_start, row.phenomenon_time_end),
            "resultTime": format_time(row.result_time),
            "result": result_value(row),
            "feature_of_interest_id": row.feature_of_interest_id,
        }
        log.readings[row.id] = payload
        log.streams.setdefault((fk, stream_id), []).append(payload)
    await _fill_things(connection, log.streams)
    made = {event.id: event for event in from_rows}
    events: list[EntityEvent] = []
    append = events.append
    observation = OBSERVATION
    for index, written in enumerate(log.written):
        if index and not index % _PER_TURN:
            await asyncio.sleep(0)
        entity_type = written.entity_type
        if written.action == "delete":
            append(EntityEvent("delete", entity_type.name, written.id))
        elif entity_type is observation:
            event = made.get(written.id) if written.action == "create" else None
            if event is None:
                # gone again before the commit (a $batch group deleted it): no payload
                known: Mapping[str, Any] = readings.get(written.id, NO_PAYLOAD)
                event = EntityEvent(written.action, "Observation", written.id, known)
            append(event)
        else:
            row = rows.get(entity_type.name, {}).get(written.id)
            described = NO_PAYLOAD if row is None else _entity_payload(entity_type, row)
            append(EntityEvent(written.action, entity_type.name, written.id, described))
    return events


_written_id = attrgetter("id")
_event_id = itemgetter(2)


def _entity_payload(entity_type: EntityType, row: Any) -> dict[str, Any]:
    """Name, the ids of its to-one links and (Things) its properties: what consumers route by."""
    payload: dict[str, Any] = {}
    if "name" in row._fields:
        payload["name"] = row.name
    for navigation in entity_type.navigations:
        if navigation.source_fk is not None:
            payload[navigation.source_fk] = getattr(row, navigation.source_fk)
    if entity_type is THING:
        payload["properties"] = row.properties
    return payload


async def _fill_things(
    connection: AsyncConnection, streams: dict[tuple[str, int], list[Payload]]
) -> None:
    """Set `thing_id` in the readings' payloads: one query per stream table, not per reading."""
    wanted: dict[str, list[int]] = {}
    for fk, stream_id in streams:
        wanted.setdefault(fk, []).append(stream_id)
    for fk, ids in wanted.items():
        table = datastreams if fk == "datastream_id" else multi_datastreams
        found = await connection.execute(
            select(table.c.id, table.c.thing_id).where(table.c.id.in_(ids))
        )
        for stream_id, thing_id in found:
            payloads = streams[(fk, stream_id)]
            for first in range(0, len(payloads), _PER_TURN):
                if first:
                    await asyncio.sleep(0)
                for payload in payloads[first : first + _PER_TURN]:
                    payload["thing_id"] = thing_id
