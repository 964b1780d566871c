"""The Observation's hooks: its rules, the FeatureOfInterest generated for it, and the
derived time ranges of its Datastream (or MultiDatastream).

An Observation needs exactly one stream; without a FeatureOfInterest it gets the one made
from its Thing's Location (reused while that Location stays); its stream's
`phenomenonTime` and `resultTime` are folded in the batch, never by a trigger per row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import FEATURE_OF_INTEREST, EntityType
from cityhelix.hub.store.hooks import EntityHooks, register_hooks
from cityhelix.hub.store.written import StreamRows, StreamWritten, Written
from cityhelix.hub.tables import (
    BY_TABLE,
    datastreams,
    features_of_interest,
    locations,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
    thing_locations,
)
from cityhelix.hub.values import geometry_columns, result_mismatch, result_of_columns

#: a stream as (its table's name, its id): Datastreams and MultiDatastreams alike
StreamKey = tuple[str, int]


def stream_key(columns: dict[str, Any]) -> StreamKey:
    """The stream an Observation's columns link it to."""
    if columns.get("datastream_id") is not None:
        return (datastreams.name, columns["datastream_id"])
    return (multi_datastreams.name, columns["multi_datastream_id"])


class ObservationRules(EntityHooks):
    """A new Observation: a default phenomenonTime, exactly one stream, an array result of
    the right width for a MultiDatastream, and a FeatureOfInterest (generated if none)."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        #: Datastream id -> its observationType, as this writer read it
        self.stream_types: dict[int, str | None] = {}

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        if "phenomenon_time_start" not in columns:
            columns["phenomenon_time_start"] = self.writer.now
            columns["phenomenon_time_end"] = None
        has_single = columns.get("datastream_id") is not None
        has_multi = columns.get("multi_datastream_id") is not None
        if has_single == has_multi:
            raise BadRequest(
                f"{where}: an Observation needs exactly one of Datastream or MultiDatastream",
                field="Datastream",
            )
        if has_multi:
            await self._check_multi_result(columns, where)
        else:
            await self._check_result(columns["datastream_id"], columns, where)
        if columns.get("feature_of_interest_id") is None:
            features = self.writer.hook(GeneratedFeatures)
            columns["feature_of_interest_id"] = await features.feature_for(columns, where)

    async def check_update(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        where: str,
    ) -> None:
        if {"datastream_id", "multi_datastream_id"} & columns.keys():
            raise BadRequest(
                f"{where}: an Observation cannot move to another Datastream; delete and create it",
                field="Datastream",
            )
        if "result_type" in columns:
            # an update is checked as a create is: against the stream the Observation is in
            row = (
                await self.writer.connection.execute(
                    select(observations.c.datastream_id, observations.c.multi_datastream_id)
                    .where(observations.c.id == entity_id)
                    .limit(1)
                )
            ).first()
            if row is None:
                return
            if row.multi_datastream_id is not None:
                await self._check_multi_result(
                    {**columns, "multi_datastream_id": row.multi_datastream_id}, where
                )
            elif row.datastream_id is not None:
                await self._check_result(row.datastream_id, columns, where)

    async def _check_result(self, datastream_id: int, columns: dict[str, Any], where: str) -> None:
        """The result fits its Datastream's observationType (a number for OM_Measurement...)."""
        # looked up once per stream and writer (a $batch group's run of readings shares
        # one): a PATCH of the Datastream is another request, with a writer of its own
        if datastream_id not in self.stream_types:
            self.stream_types[datastream_id] = await self.writer.connection.scalar(
                select(datastreams.c.observation_type).where(datastreams.c.id == datastream_id)
            )
        check_result_type(self.stream_types[datastream_id], columns, where)

    async def _check_multi_result(self, columns: dict[str, Any], where: str) -> None:
        width = await self.writer.connection.scalar(
            select(func.count()).where(
                multi_datastream_observed_properties.c.multi_datastream_id
                == columns["multi_datastream_id"]
            )
        )
        result = columns.get("result_json")
        if not isinstance(result, list) or len(result) != width:
            raise BadRequest(
                f"{where}: the result of a MultiDatastream Observation must be an array of "
                f"{width} values, one per ObservedProperty",
                field="result",
            )


def check_result_type(observation_type: str | None, columns: dict[str, Any], where: str) -> None:
    """BadRequest naming `result` when the result does not fit `observation_type`."""
    expected = result_mismatch(observation_type, result_of_columns(columns))
    if expected is not None:
        raise BadRequest(
            f"{where}: result must be {expected} in a Datastream of observationType "
            f"{observation_type}",
            field="result",
        )


class GeneratedFeatures(EntityHooks):
    """The FeatureOfInterest made from a stream's Thing's Location, cached per stream for
    the transaction; a Location that moves no longer describes the features made from it."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.by_stream: dict[StreamKey, int] = {}

    async def check_update(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        where: str,
    ) -> None:
        if "location" in columns:  # a Location's geometry changes
            await self.writer.connection.execute(
                update(features_of_interest)
                .where(features_of_interest.c.location_id == entity_id)
                .values(location_id=None)
            )

    async def feature_for(self, columns: dict[str, Any], where: str) -> int:
        """The generated FeatureOfInterest of the stream `columns` link to (made if new)."""
        key = stream_key(columns)
        cached = self.by_stream.get(key)
        if cached is not None:
            return cached
        stream_table = BY_TABLE[key[0]]
        connection = self.writer.connection
        location = (
            await connection.execute(
                select(locations)
                .join(thing_locations, thing_locations.c.location_id == locations.c.id)
                .join(stream_table, stream_table.c.thing_id == thing_locations.c.thing_id)
                .where(stream_table.c.id == key[1])
                .order_by(locations.c.id)
                .limit(1)
            )
        ).first()
        if location is None:
            raise BadRequest(
                f"{where}: no FeatureOfInterest given and the Datastream's Thing has no "
                "Location to generate one from",
                field="FeatureOfInterest",
            )
        feature_id = await connection.scalar(
            select(features_of_interest.c.id).where(
                features_of_interest.c.location_id == location.id
            )
        )
        if feature_id is None:
            values = {
                "name": location.name,
                "description": location.description,
                "encoding_type": location.encoding_type,
                "feature": location.location,
                "properties": location.properties,
                "location_id": location.id,
            } | geometry_columns("feature", location.location, location.encoding_type, "location")
            feature_id = (
                await connection.execute(
                    insert(features_of_interest).values(values).returning(features_of_interest.c.id)
                )
            ).scalar_one()
            self.writer.written.append(Written(FEATURE_OF_INTEREST, feature_id, "create"))
        self.by_stream[key] = feature_id
        return int(feature_id)

    async def link_groups(
        self,
        groups: list[StreamRows],
        valid_of: list[list[dict[str, Any]]],
        answers: list[StreamWritten],
    ) -> None:
        """Link the valid rows of each group to its stream's generated FeatureOfInterest.

        The Locations and the features already made from them are read for all streams
        at once; `feature_for` then finds them cached and only creates what is new.
        """
        wanted: dict[str, set[int]] = {}
        for group, valid in zip(groups, valid_of, strict=True):
            key = stream_key(group.link())
            if valid and key not in self.by_stream:
                wanted.setdefault(key[0], set()).add(group.stream_id)
        for table_name, stream_ids in wanted.items():
            await self._read_cached(BY_TABLE[table_name], stream_ids)
        written = self.writer.written
        for group, valid, answer in zip(groups, valid_of, answers, strict=True):
            if not valid:
                continue
            before = len(written)
            feature = await self.feature_for(group.link(), group.where)
            answer.features.extend(written[before:])
            for columns in valid:
                columns["feature_of_interest_id"] = feature

    async def _read_cached(self, stream_table: Any, stream_ids: set[int]) -> None:
        """Cache the generated FeatureOfInterest of the streams whose Location has one."""
        first_location = (
            select(stream_table.c.id.label("stream_id"), func.min(locations.c.id).label("id"))
            .join(thing_locations, thing_locations.c.thing_id == stream_table.c.thing_id)
            .join(locations, locations.c.id == thing_locations.c.location_id)
            .where(stream_table.c.id.in_(sorted(stream_ids)))
            .group_by(stream_table.c.id)
            .subquery("first_location")
        )
        rows = await self.writer.connection.execute(
            select(first_location.c.stream_id, func.min(features_of_interest.c.id))
            .join(
                features_of_interest,
                features_of_interest.c.location_id == first_location.c.id,
            )
            .group_by(first_location.c.stream_id)
        )
        for stream_id, feature_id in rows:
            self.by_stream[(stream_table.name, stream_id)] = feature_id


class DerivedStreamTimes(EntityHooks):
    """A Datastream's (or MultiDatastream's) phenomenonTime and resultTime, derived from its
    Observations: new ones folded in at `finish`, changed or deleted ones recomputed."""

    def __init__(self, writer: Any) -> None:
        super().__init__(writer)
        self.spans: dict[StreamKey, list[datetime | None]] = {}
        self.before: dict[int, list[StreamKey]] = {}

    def condition(self, entity_id: int) -> ColumnElement[bool]:
        """The Observations whose streams an entity's change affects."""
        return observations.c.id == entity_id

    async def inserted(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        start = columns["phenomenon_time_start"]
        result_time = columns.get("result_time")
        end = columns.get("phenomenon_time_end") or start
        self._fold(stream_key(columns), start, end, result_time, result_time)

    async def rows_inserted(
        self, stream_type: EntityType, stream_id: int, rows: list[dict[str, Any]]
    ) -> None:
        """`inserted` for many new rows of one stream, folded a column at a time."""
        starts = [row["phenomenon_time_start"] for row in rows]
        ends = [row["phenomenon_time_end"] or row["phenomenon_time_start"] for row in rows]
        result_times = [row["result_time"] for row in rows if row.get("result_time") is not None]
        self._fold(
            stream_key(rows[0]),
            min(starts),
            max(ends),
            min(result_times, default=None),
            max(result_times, default=None),
        )

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        self.before[entity_id] = await self._streams(entity_id)

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        # the streams it left and the stream it is in now (a move changes both)
        streams = self.before.pop(entity_id, []) + await self._streams(entity_id)
        await self.recompute(dict.fromkeys(streams))

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        self.before[entity_id] = await self._streams(entity_id)

    async def deleted(self, entity_type: EntityType, entity_id: int) -> None:
        await self.recompute(self.before.pop(entity_id, []))

    def _fold(
        self,
        key: StreamKey,
        start: datetime,
        end: datetime,
        first_result: datetime | None,
        last_result: datetime | None,
    ) -> None:
        span = self.spans.setdefault(key, [start, end, first_result, last_result])
        span[0] = min(span[0], start) if span[0] else start
        span[1] = max(span[1], end) if span[1] else end
        if first_result is not None and last_result is not None:
            span[2] = min(span[2], first_result) if span[2] else first_result
            span[3] = max(span[3], last_result) if span[3] else last_result

    async def finish(self) -> None:
        """Fold the Observations written into their streams' derived time ranges.

        One UPDATE for all streams of a table, run once per stream (executemany: one round
        trip), in id order: concurrent writers lock the stream rows in the same order.
        """
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (table_name, stream_id), (start, end, r_start, r_end) in sorted(self.spans.items()):
            by_table.setdefault(table_name, []).append(
                {
                    "stream": stream_id,
                    "start": start,
                    "end": end,
                    "first_result": r_start,
                    "last_result": r_end,
                }
            )
        for table_name, folds in by_table.items():
            table = BY_TABLE[table_name]
            await self.writer.connection.execute(
                update(table)
                .where(table.c.id == bindparam("stream"))
                .values(
                    phenomenon_time_start=_least(table.c.phenomenon_time_start, "start"),
                    phenomenon_time_end=_greatest(table.c.phenomenon_time_end, "end"),
                    result_time_start=_least(table.c.result_time_start, "first_result"),
                    result_time_end=_greatest(table.c.result_time_end, "last_result"),
                ),
                folds,
            )
        self.spans.clear()

    async def _streams(self, entity_id: int) -> list[StreamKey]:
        rows = await self.writer.connection.execute(
            select(observations.c.datastream_id, observations.c.multi_datastream_id)
            .where(self.condition(entity_id))
            .distinct()
        )
        return [stream_key(row._asdict()) for row in rows]

    async def recompute(self, streams: Iterable[StreamKey]) -> None:
        """Derive the time ranges again from scratch (after Observations left a stream)."""
        connection = self.writer.connection
        for table_name, stream_id in streams:
            table = BY_TABLE[table_name]
            fk = (
                observations.c.datastream_id
                if table is datastreams
                else observations.c.multi_datastream_id
            )
            span = (
                await connection.execute(
                    select(
                        func.min(observations.c.phenomenon_time_start),
                        func.max(
                            func.coalesce(
                                observations.c.phenomenon_time_end,
                                observations.c.phenomenon_time_start,
                            )
                        ),
                        func.min(observations.c.result_time),
                        func.max(observations.c.result_time),
                    ).where(fk == stream_id)
                )
            ).one()
            await connection.execute(
                update(table)
                .where(table.c.id == stream_id)
                .values(
                    phenomenon_time_start=span[0],
                    phenomenon_time_end=span[1],
                    result_time_start=span[2],
                    result_time_end=span[3],
                )
            )


class FeatureStreamTimes(DerivedStreamTimes):
    """A deleted FeatureOfInterest takes its Observations along: their streams' times are
    derived again. Updating one moves no Observation, nor does creating one."""

    async def inserted(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        return None  # a new FeatureOfInterest has no Observations yet (fuzz stage found it)

    def condition(self, entity_id: int) -> ColumnElement[bool]:
        return observations.c.feature_of_interest_id == entity_id

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        return None

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        return None


def _least(column: Any, name: str) -> Any:
    """`column`, or the bound time `name` when that is earlier; a NULL `name` keeps it."""
    value = bindparam(name, type_=column.type)
    return case(
        (and_(value.is_not(None), or_(column.is_(None), column > value)), value),
        else_=column,
    )


def _greatest(column: Any, name: str) -> Any:
    """`column`, or the bound time `name` when that is later; a NULL `name` keeps it."""
    value = bindparam(name, type_=column.type)
    return case(
        (and_(value.is_not(None), or_(column.is_(None), column < value)), value),
        else_=column,
    )


register_hooks(ObservationRules, "Observation")
register_hooks(DerivedStreamTimes, "Observation")
register_hooks(FeatureStreamTimes, "FeatureOfInterest")
register_hooks(GeneratedFeatures, "Location")
