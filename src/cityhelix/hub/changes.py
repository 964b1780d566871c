"""Every committed write of the hub, recorded in its own transaction and announced after it.

The one code path for events: HTTP, `$batch` groups, MQTT, CreateObservations and the
batched ingest all write inside `recorded(...)`, which appends the transaction's events to
the durable stream's outbox before the commit and publishes them on the in-process bus
after it. A caller that owns a transaction (a `$batch` atomicity group) opens it here too;
the writes made on its connection join its log, and are announced once, at its commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent, EventBus
from cityhelix.hub.model import BY_NAME, DATASTREAM, OBSERVATION, THING, EntityType
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.store.write import Writer, Written
from cityhelix.hub.tables import datastreams, multi_datastreams
from cityhelix.hub.values import format_interval, format_time, result_value

_LOG = "cityhelix.changes"
_FEATURE_ID = "FeatureOfInterest/id"


class ReadingFacts(NamedTuple):
    """What a bulk writer knows of a new Observation: its event's payload without reading
    it back (a named tuple: the bulk paths make one per reading)."""

    stream_fk: str  # "datastream_id" or "multi_datastream_id"
    stream_id: int
    phenomenon_time: str
    result_time: str | None
    result: Any
    feature_id: int | None


class ChangeLog:
    """What one transaction wrote, in order, and what is known of its new readings."""

    def __init__(self) -> None:
        self.written: list[Written] = []
        self.readings: dict[int, ReadingFacts] = {}

    def add(self, written: Iterable[Written]) -> None:
        self.written.extend(written)


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
            events = await events_of(own, log)
            await outbox.append(own, events)
        finally:
            own.info.pop(_LOG, None)
    if bus is not None:
        bus.publish(events)


def data_array_facts(
    log: ChangeLog,
    writer: Writer,
    stream_type: EntityType,
    stream_id: int,
    components: Sequence[str],
    rows: Sequence[Sequence[Any]],
    ids: Sequence[int | None],
) -> None:
    """Note the payloads of the rows `ids` says were written (None: refused) from the rows.

    Times are passed on as sent when they are UTC with `Z` (the common case, no parsing),
    else normalised; a FeatureOfInterest the writer generated is the one it used for the
    stream (else the reading is read back at the commit, as any other write is).
    """
    fk = "datastream_id" if stream_type is DATASTREAM else "multi_datastream_id"
    index = {name: i for i, name in enumerate(components)}
    at, result_at, result = index.get("phenomenonTime"), index.get("resultTime"), index["result"]
    feature_at = index.get(_FEATURE_ID)
    now = format_time(writer.now) or ""
    generated: int | None = None
    if feature_at is None:
        # the writer's cache of the FeatureOfInterest it generated per stream: read, not
        # changed (hub/store/write.py); absent, the readings are read back at the commit
        cache = getattr(writer, "_feature_by_datastream", {})
        generated = cache.get((table_of(stream_type).name, stream_id))
        if generated is None:
            return
    readings = log.readings
    for row, entity_id in zip(rows, ids, strict=True):
        if entity_id is None:
            continue
        feature = generated if feature_at is None else row[feature_at]
        if type(feature) is not int:
            continue
        readings[entity_id] = ReadingFacts(
            fk,
            stream_id,
            now if at is None else wire_time(row[at]),
            None if result_at is None or row[result_at] is None else wire_time(row[result_at]),
            row[result],
            feature,
        )


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
    if not log.written:
        return []
    wanted: dict[str, set[int]] = {}
    for written in log.written:
        if written.action != "delete" and not (
            written.entity_type is OBSERVATION and written.id in log.readings
        ):
            wanted.setdefault(written.entity_type.name, set()).add(written.id)
    rows: dict[str, dict[int, Any]] = {}
    for type_name, ids in wanted.items():
        table = table_of(BY_NAME[type_name])
        found = await connection.execute(select(table).where(table.c.id.in_(ids)))
        rows[type_name] = {row.id: row for row in found}
    for row in rows.get(OBSERVATION.name, {}).values():
        fk = "datastream_id" if row.datastream_id is not None else "multi_datastream_id"
        log.readings[row.id] = ReadingFacts(
            fk,
            row.datastream_id or row.multi_datastream_id,
            format_interval(row.phenomenon_time_start, row.phenomenon_time_end) or "",
            format_time(row.result_time),
            result_value(row),
            row.feature_of_interest_id,
        )
    things = await _things_of_streams(connection, log.readings.values())
    events: list[EntityEvent] = []
    append = events.append
    readings = log.readings
    for written in log.written:
        type_name = written.entity_type.name
        if written.action == "delete":
            append(EntityEvent("delete", type_name, written.id))
            continue
        if written.entity_type is OBSERVATION:
            facts = readings.get(written.id)
            if facts is None:  # gone again before the commit (a $batch group deleted it)
                append(EntityEvent(written.action, type_name, written.id))
                continue
            append(
                EntityEvent(
                    written.action,
                    type_name,
                    written.id,
                    {
                        facts.stream_fk: facts.stream_id,
                        "thing_id": things.get((facts.stream_fk, facts.stream_id)),
                        "phenomenonTime": facts.phenomenon_time,
                        "resultTime": facts.result_time,
                        "result": facts.result,
                        "feature_of_interest_id": facts.feature_id,
                    },
                )
            )
            continue
        row = rows.get(type_name, {}).get(written.id)
        payload = {} if row is None else _entity_payload(written.entity_type, row)
        append(EntityEvent(written.action, type_name, written.id, payload))
    return events


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


async def _things_of_streams(
    connection: AsyncConnection, readings: Iterable[ReadingFacts]
) -> dict[tuple[str, int], int]:
    streams: dict[str, set[int]] = {}
    for facts in readings:
        streams.setdefault(facts.stream_fk, set()).add(facts.stream_id)
    things: dict[tuple[str, int], int] = {}
    for fk, ids in streams.items():
        table = datastreams if fk == "datastream_id" else multi_datastreams
        found = await connection.execute(
            select(table.c.id, table.c.thing_id).where(table.c.id.in_(ids))
        )
        things.update(((fk, stream_id), thing_id) for stream_id, thing_id in found)
    return things
