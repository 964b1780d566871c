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
from typing import Any

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
    at, result_at, result = (
        index.get("phenomenonTime"),
        index.get("resultTime"),
        index.get("result"),
    )
    feature_at = index.get(_FEATURE_ID)
    if result is None:
        return  # no row without a result is written
    now = format_time(writer.now) or ""
    generated: int | None = None
    if feature_at is None:
        # the writer's cache of the FeatureOfInterest it generated per stream: read, not
        # changed; absent, the readings are read back at the commit
        features = writer.hook(GeneratedFeatures).by_stream
        generated = features.get((table_of(stream_type).name, stream_id))
        if generated is None:
            return
    readings = log.readings
    payloads = log.streams.setdefault((fk, stream_id), [])
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
        readings[entity_id] = payload
        payloads.append(payload)


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
    events: list[EntityEvent] = []
    append = events.append
    readings = log.readings
    observation = OBSERVATION
    for written in log.written:
        entity_type = written.entity_type
        if written.action == "delete":
            append(EntityEvent("delete", entity_type.name, written.id))
        elif entity_type is observation:
            # gone again before the commit (a $batch group deleted it): no payload
            append(
                EntityEvent(
                    written.action, "Observation", written.id, readings.get(written.id, NO_PAYLOAD)
                )
            )
        else:
            row = rows.get(entity_type.name, {}).get(written.id)
            described = NO_PAYLOAD if row is None else _entity_payload(entity_type, row)
            append(EntityEvent(written.action, entity_type.name, written.id, described))
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
            for payload in streams[(fk, stream_id)]:
                payload["thing_id"] = thing_id
