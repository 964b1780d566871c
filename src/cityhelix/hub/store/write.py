"""Create, update and delete SensorThings entities, deep inserts included, in one transaction.

The caller owns the transaction: a `Writer` only issues statements on the connection it
is given, so a failed deep insert is rolled back whole by the caller. Tenants are checked
here, where the links are known: a tenant writes only its own Things and what hangs under.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, NamedTuple

import orjson
from sqlalchemy import JSON, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.auth.principal import Principal
from cityhelix.hub import rollups
from cityhelix.hub.errors import BadRequest, Forbidden, NotFound
from cityhelix.hub.model import (
    BY_NAME,
    COMPLEX_OBSERVATION,
    DATASTREAM,
    FEATURE_OF_INTEREST,
    HISTORICAL_LOCATION,
    LOCATION,
    MULTI_DATASTREAM,
    OBSERVATION,
    OBSERVED_PROPERTY,
    THING,
    EntityType,
    Navigation,
    is_entity_id,
)
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.tables import (
    BY_TABLE,
    RESULT_FLOAT,
    datastreams,
    features_of_interest,
    historical_locations,
    location_historical_locations,
    locations,
    multi_datastream_observed_properties,
    multi_datastreams,
    observations,
    thing_locations,
    things,
)
from cityhelix.hub.values import geometry_columns, quick_instant, result_columns, to_columns

#: catalogue entities a tenant may create only inside a deep insert under its own Thing
_SHARED_CATALOGUE = frozenset({"Sensor", "ObservedProperty", "FeatureOfInterest"})


class StreamRows(NamedTuple):
    """The DataArray rows of one stream, for `Writer.create_observation_rows`."""

    stream_type: EntityType
    stream_id: int
    rows: list[Any]

    @property
    def where(self) -> str:
        """Where a bad row of the group is, in an error."""
        return f"CreateObservations/{self.stream_type.name}"

    def link(self) -> dict[str, Any]:
        """The Observation column linking a row to its stream (a new dict each call)."""
        fk = "datastream_id" if self.stream_type is DATASTREAM else "multi_datastream_id"
        return {fk: self.stream_id}


class StreamWritten(NamedTuple):
    """What `Writer.create_observation_rows` did with one stream's rows."""

    ids: list[int | None]  # per row: the new Observation's id, None for a refused row
    features: list[Written]  # the FeatureOfInterest generated for the stream, if new


class Written(NamedTuple):
    """One entity the request touched, for the response, the audit and the event bus.

    A named tuple, not a frozen dataclass: a bulk request makes one per reading, and a
    frozen dataclass's `__init__` was 5-7 % of a 10,000-row CreateObservations.
    """

    entity_type: EntityType
    id: int
    action: str  # "create", "update" or "delete"


@dataclass
class Writer:
    """Writes entities on one connection inside the caller's transaction."""

    connection: AsyncConnection
    principal: Principal
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    written: list[Written] = field(default_factory=list)
    _known: set[tuple[str, int]] = field(default_factory=set)
    _thing_owners: dict[int, int | None] = field(default_factory=dict)
    _feature_by_datastream: dict[tuple[str, int], int] = field(default_factory=dict)
    _stream_times: dict[tuple[str, int], list[datetime | None]] = field(default_factory=dict)
    # rollups: the (Datastream id, minute) buckets changed, rebuilt before the commit
    _rollup_minutes: set[rollups.MinuteKey] = field(default_factory=set)

    # ------------------------------------------------------------------ create

    async def create(
        self, entity_type: EntityType, body: object, *, nested: bool = False, where: str = ""
    ) -> int:
        """Insert `body` (deep) or link it when it is `{"@iot.id": n}`; return its id."""
        where = where or entity_type.name
        if not isinstance(body, dict):
            raise BadRequest(
                f"{where}: expected a JSON object, got {type(body).__name__}", field=where
            )
        if "@iot.id" in body:
            return await self._existing_id(entity_type, body["@iot.id"], where)
        if self.principal.is_tenant and entity_type.name in _SHARED_CATALOGUE and not nested:
            raise Forbidden(f"a tenant creates {entity_type.set_name} only inside a Thing it owns")
        columns, links = self._columns_and_links(entity_type, body, where, replace=True)
        if entity_type is MULTI_DATASTREAM:
            columns.setdefault("observation_type", COMPLEX_OBSERVATION)
        if entity_type is OBSERVATION and "phenomenon_time_start" not in columns:
            columns["phenomenon_time_start"] = self.now
            columns["phenomenon_time_end"] = None
        for navigation in entity_type.navigations:
            if navigation.source_fk is None:
                continue
            value = links.pop(navigation.name, None)
            if value is not None:
                columns[navigation.source_fk] = await self.create(
                    BY_NAME[navigation.target],
                    value,
                    nested=True,
                    where=f"{where}/{navigation.name}",
                )
        await self._complete_required_links(entity_type, columns, links, where)
        await self._check_create_allowed(entity_type, columns, links, nested)
        if entity_type is THING and self.principal.is_tenant:
            columns["owner_id"] = self.principal.user_id
        table = table_of(entity_type)
        entity_id: int = (
            await self.connection.execute(insert(table).values(columns).returning(table.c.id))
        ).scalar_one()
        self._known.add((entity_type.table, entity_id))
        if entity_type is THING:
            self._thing_owners[entity_id] = columns.get("owner_id")
        self.written.append(Written(entity_type, entity_id, "create"))
        if entity_type is OBSERVATION:
            self._note_stream_time(columns)
        await self._write_to_many_links(entity_type, entity_id, links, where, creating=True)
        return entity_id

    def _columns_and_links(
        self, entity_type: EntityType, body: dict[str, Any], where: str, *, replace: bool
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate the members of `body`: property columns, and navigation values apart."""
        columns: dict[str, Any] = {}
        links: dict[str, Any] = {}
        for key, value in body.items():
            if key.startswith("@iot.") or key.endswith("@iot.navigationLink"):
                continue
            prop = entity_type.find_property(key)
            if prop is not None:
                if not prop.derived:
                    columns.update(to_columns(prop, value, body))
                continue
            if entity_type.find_navigation(key) is not None:
                links[key] = value
                continue
            raise BadRequest(
                f"{where}: unknown property {key!r}; a {entity_type.name} has "
                + ", ".join(p.name for p in entity_type.properties)
                + " and the links "
                + ", ".join(n.name for n in entity_type.navigations),
                field=key,
            )
        for prop in entity_type.properties:
            if prop.derived or prop.name in body:
                continue
            if prop.required and replace:
                raise BadRequest(
                    f"{where}: missing mandatory property {prop.name!r}", field=prop.name
                )
        return columns, links

    async def _complete_required_links(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        if entity_type is OBSERVATION:
            has_single = columns.get("datastream_id") is not None
            has_multi = columns.get("multi_datastream_id") is not None
            if has_single == has_multi:
                raise BadRequest(
                    f"{where}: an Observation needs exactly one of Datastream or MultiDatastream",
                    field="Datastream",
                )
            if has_multi:
                await self._check_multi_result(columns, where)
            if columns.get("feature_of_interest_id") is None:
                columns["feature_of_interest_id"] = await self._generated_feature(columns, where)
            return
        for navigation in entity_type.navigations:
            if not navigation.required:
                continue
            present = (
                columns.get(navigation.source_fk) is not None
                if navigation.source_fk
                else bool(links.get(navigation.name))
            )
            if not present:
                raise BadRequest(
                    f"{where}: a {entity_type.name} must be linked to a {navigation.target} "
                    f"({navigation.name!r} is missing)",
                    field=navigation.name,
                )

    async def _write_to_many_links(
        self,
        entity_type: EntityType,
        entity_id: int,
        links: dict[str, Any],
        where: str,
        *,
        creating: bool,
    ) -> None:
        for name, value in links.items():
            navigation = entity_type.find_navigation(name)
            assert navigation is not None
            if navigation.source_fk is not None:
                continue
            items = value if isinstance(value, list) else None
            if items is None:
                raise BadRequest(f"{where}/{name}: expected a JSON array of entities", field=name)
            target = BY_NAME[navigation.target]
            if navigation.target_fk is not None:
                back = _back_link(navigation, target)
                for index, item in enumerate(items):
                    child_where = f"{where}/{name}[{index}]"
                    if isinstance(item, dict) and "@iot.id" in item:
                        child_id = await self._existing_id(target, item["@iot.id"], child_where)
                        await self._check_may_update(target, child_id)
                        await self._note_rollups(target, child_id)  # rollups: leaves a stream
                        await self.connection.execute(
                            update(table_of(target))
                            .where(table_of(target).c.id == child_id)
                            .values({navigation.target_fk: entity_id})
                        )
                        await self._note_rollups(target, child_id)  # rollups: joins a stream
                        continue
                    if not isinstance(item, dict):
                        raise BadRequest(f"{child_where}: expected a JSON object", field=name)
                    await self.create(
                        target,
                        {**item, back.name: {"@iot.id": entity_id}},
                        nested=True,
                        where=child_where,
                    )
                continue
            ids = [
                await self.create(target, item, nested=True, where=f"{where}/{name}[{index}]")
                for index, item in enumerate(items)
            ]
            await self._link(entity_type, entity_id, navigation, ids, where, creating=creating)

    async def _link(
        self,
        entity_type: EntityType,
        entity_id: int,
        navigation: Navigation,
        ids: list[int],
        where: str,
        *,
        creating: bool,
    ) -> None:
        """Write link-table rows; a Thing's new Locations replace the old and are historised."""
        if entity_type is THING and navigation.name == "Locations":
            await self._set_thing_locations(entity_id, ids)
            return
        if entity_type is LOCATION and navigation.name == "Things":
            for thing_id in ids:
                await self._check_thing_owned(thing_id)
                await self._set_thing_locations(thing_id, [entity_id])
            return
        if entity_type is MULTI_DATASTREAM and navigation.name == "ObservedProperties":
            if not creating:
                raise BadRequest(
                    f"{where}: the ObservedProperties of a MultiDatastream are fixed at creation",
                    field=navigation.name,
                )
            await self._check_multi_shape(entity_id, len(ids), where)
            rows = [
                {"multi_datastream_id": entity_id, "observed_property_id": op, "rank": rank}
                for rank, op in enumerate(ids)
            ]
            if rows:
                await self.connection.execute(insert(multi_datastream_observed_properties), rows)
            return
        assert navigation.link_table and navigation.link_source and navigation.link_target
        link = BY_TABLE[navigation.link_table]
        for other in dict.fromkeys(ids):
            exists = await self.connection.scalar(
                select(func.count())
                .select_from(link)
                .where(
                    link.c[navigation.link_source] == entity_id,
                    link.c[navigation.link_target] == other,
                )
            )
            if not exists:
                await self.connection.execute(
                    insert(link).values(
                        {navigation.link_source: entity_id, navigation.link_target: other}
                    )
                )
        # a HistoricalLocation that gains Locations may be the one that moves its Thing
        if entity_type is HISTORICAL_LOCATION:
            await self._follow_latest_history(entity_id)
        elif navigation.target == HISTORICAL_LOCATION.name:
            for historical_id in dict.fromkeys(ids):
                await self._follow_latest_history(historical_id)

    async def _set_thing_locations(self, thing_id: int, location_ids: list[int]) -> None:
        location_ids = list(dict.fromkeys(location_ids))
        await self.connection.execute(
            delete(thing_locations).where(thing_locations.c.thing_id == thing_id)
        )
        if not location_ids:
            return
        await self.connection.execute(
            insert(thing_locations),
            [{"thing_id": thing_id, "location_id": lid} for lid in location_ids],
        )
        historical_id = (
            await self.connection.execute(
                insert(historical_locations)
                .values(time=self.now, thing_id=thing_id)
                .returning(historical_locations.c.id)
            )
        ).scalar_one()
        await self.connection.execute(
            insert(location_historical_locations),
            [{"location_id": lid, "historical_location_id": historical_id} for lid in location_ids],
        )
        self.written.append(Written(HISTORICAL_LOCATION, historical_id, "create"))

    async def _follow_latest_history(self, historical_id: int) -> None:
        """A HistoricalLocation that is the latest of its Thing (by time, then id) moves the
        Thing: its Locations become the HistoricalLocation's. An older one is history only.
        """
        table = historical_locations
        row = (
            await self.connection.execute(
                select(table.c.thing_id, table.c.time).where(table.c.id == historical_id)
            )
        ).one()
        later = await self.connection.scalar(
            select(table.c.id)
            .where(
                table.c.thing_id == row.thing_id,
                or_(
                    table.c.time > row.time,
                    and_(table.c.time == row.time, table.c.id > historical_id),
                ),
            )
            .limit(1)
        )
        if later is not None:
            return
        location_ids = list(
            await self.connection.scalars(
                select(location_historical_locations.c.location_id)
                .where(location_historical_locations.c.historical_location_id == historical_id)
                .order_by(location_historical_locations.c.location_id)
            )
        )
        if not location_ids:
            return  # no place to move to (yet): its Locations may be linked next
        await self.connection.execute(
            delete(thing_locations).where(thing_locations.c.thing_id == row.thing_id)
        )
        await self.connection.execute(
            insert(thing_locations),
            [{"thing_id": row.thing_id, "location_id": lid} for lid in location_ids],
        )
        self._feature_by_datastream.clear()  # generated features follow the new Location

    # ------------------------------------------------------------------ bulk observations

    async def create_observations(
        self, stream_type: EntityType, stream_id: int, components: list[str], rows: list[Any]
    ) -> list[int | None]:
        """Insert the rows of one DataArray group; a row that fails validation gives None.

        The rows that pass are written at once (COPY on PostgreSQL, one multi-row INSERT on
        SQLite), so a request of 10,000 readings costs a few statements, not 10,000 round
        trips.
        """
        (written,) = await self.create_observation_rows(
            components, [StreamRows(stream_type, stream_id, rows)]
        )
        return written.ids

    async def create_observation_rows(
        self, components: list[str], groups: list[StreamRows]
    ) -> list[StreamWritten]:
        """Insert DataArray rows of one shape for many streams; an answer per group, in order.

        `create_observations` for many streams at once: the streams are checked, their
        generated FeaturesOfInterest found and every valid row inserted with one statement
        each, so readings spread over a thousand Datastreams cost what readings of one do.
        """
        checked: dict[str, set[int]] = {}
        for group in groups:
            checked.setdefault(group.stream_type.name, set()).add(group.stream_id)
        widths: dict[int, int] = {}
        for type_name, stream_ids in checked.items():
            stream_type = BY_NAME[type_name]
            await self._check_streams_writable(stream_type, stream_ids)
            if stream_type is MULTI_DATASTREAM:
                widths = await self._multi_widths(stream_ids)
        foi_index = _component_index(components)
        answers: list[StreamWritten] = []
        valid_of: list[list[dict[str, Any]]] = []
        positions_of: list[list[int]] = []
        for group in groups:
            where = group.where
            base = group.link()
            width = None
            if group.stream_type is MULTI_DATASTREAM:
                width = widths.get(group.stream_id, 0)
            quick = None if width is not None else _quick_decoder(components, base, self.now)
            valid: list[dict[str, Any]] = []
            positions: list[int] = []
            for position, row in enumerate(group.rows):
                columns = quick(row) if quick is not None else None
                try:
                    if columns is None:
                        columns = base | self._data_array_row(components, row, foi_index, where)
                    if width is not None and (
                        not isinstance(columns.get("result_json"), list)
                        or len(columns["result_json"]) != width
                    ):
                        raise BadRequest(f"{where}: result must be an array of {width} values")
                    if foi_index is not None:
                        columns["feature_of_interest_id"] = await self._existing_id(
                            FEATURE_OF_INTEREST, row[foi_index], f"{where} row {position}"
                        )
                except BadRequest:
                    continue
                valid.append(columns)
                positions.append(position)
            answers.append(StreamWritten([None] * len(group.rows), []))
            valid_of.append(valid)
            positions_of.append(positions)
        if foi_index is None:
            await self._generated_features(groups, valid_of, answers)
        every = [columns for valid in valid_of for columns in valid]
        if not every:
            return answers
        keys = _union_keys(every)
        for columns in every:
            if len(columns) != len(keys):
                for key in keys:
                    columns.setdefault(key, None)
        if self.connection.dialect.name == "postgresql":
            ids = await self._copy_observations(every, sorted(keys))
        else:
            inserted = await self.connection.execute(
                insert(observations).returning(observations.c.id, sort_by_parameter_order=True),
                every,
            )
            ids = [entity_id for (entity_id,) in inserted.all()]
        self.written.extend(Written(OBSERVATION, entity_id, "create") for entity_id in ids)
        new_ids = iter(ids)  # in the order of `every`: group by group
        for group, valid, positions, answer in zip(
            groups, valid_of, positions_of, answers, strict=True
        ):
            if not valid:
                continue
            for position in positions:
                answer.ids[position] = next(new_ids)
            self._note_stream_rows((table_of(group.stream_type).name, group.stream_id), valid)
        return answers

    async def _check_streams_writable(self, stream_type: EntityType, stream_ids: set[int]) -> None:
        """`_existing_id` and `_check_create_allowed` of an Observation, for many streams of
        one type with one query."""
        where = f"CreateObservations/{stream_type.name}"
        table = table_of(stream_type)
        rows = await self.connection.execute(
            select(table.c.id, table.c.thing_id, things.c.owner_id)
            .join(things, things.c.id == table.c.thing_id)
            .where(table.c.id.in_(sorted(stream_ids)))
        )
        found: dict[int, int] = {}
        for stream_id, thing_id, owner_id in rows:
            found[stream_id] = thing_id
            self._thing_owners.setdefault(thing_id, owner_id)
        for stream_id in sorted(stream_ids - found.keys()):
            raise BadRequest(
                f"{where}: links to {stream_type.name} {stream_id}, which does not exist",
                field=where,
            )
        self._known.update((stream_type.table, stream_id) for stream_id in found)
        if self.principal.writes_all_of_hub:
            return
        if not self.principal.is_tenant:
            raise Forbidden(
                f"the role {self.principal.role.value!r} may not write SensorThings data"
            )
        for stream_id in sorted(found):
            await self._check_thing_owned(found[stream_id])

    async def _multi_widths(self, stream_ids: set[int]) -> dict[int, int]:
        """The number of ObservedProperties of each MultiDatastream, with one query."""
        links = multi_datastream_observed_properties.c
        rows = await self.connection.execute(
            select(links.multi_datastream_id, func.count())
            .where(links.multi_datastream_id.in_(sorted(stream_ids)))
            .group_by(links.multi_datastream_id)
        )
        return {stream_id: width for stream_id, width in rows}

    async def _generated_features(
        self,
        groups: list[StreamRows],
        valid_of: list[list[dict[str, Any]]],
        answers: list[StreamWritten],
    ) -> None:
        """Link the valid rows of each group to its stream's generated FeatureOfInterest.

        The Locations and the features already made from them are read for all streams
        at once; `_generated_feature` then finds them cached and only creates what is new.
        """
        wanted: dict[str, set[int]] = {}
        for group, valid in zip(groups, valid_of, strict=True):
            key = (table_of(group.stream_type).name, group.stream_id)
            if valid and key not in self._feature_by_datastream:
                wanted.setdefault(key[0], set()).add(group.stream_id)
        for table_name, stream_ids in wanted.items():
            await self._read_generated_features(BY_TABLE[table_name], stream_ids)
        for group, valid, answer in zip(groups, valid_of, answers, strict=True):
            if not valid:
                continue
            before = len(self.written)
            feature = await self._generated_feature(group.link(), group.where)
            answer.features.extend(self.written[before:])
            for columns in valid:
                columns["feature_of_interest_id"] = feature

    async def _read_generated_features(self, stream_table: Any, stream_ids: set[int]) -> None:
        """Cache the generated FeatureOfInterest of the streams whose Location has one."""
        first_location = (
            select(stream_table.c.id.label("stream_id"), func.min(locations.c.id).label("id"))
            .join(thing_locations, thing_locations.c.thing_id == stream_table.c.thing_id)
            .join(locations, locations.c.id == thing_locations.c.location_id)
            .where(stream_table.c.id.in_(sorted(stream_ids)))
            .group_by(stream_table.c.id)
            .subquery("first_location")
        )
        rows = await self.connection.execute(
            select(first_location.c.stream_id, func.min(features_of_interest.c.id))
            .join(
                features_of_interest,
                features_of_interest.c.location_id == first_location.c.id,
            )
            .group_by(first_location.c.stream_id)
        )
        for stream_id, feature_id in rows:
            self._feature_by_datastream[(stream_table.name, stream_id)] = feature_id

    async def _copy_observations(self, rows: list[dict[str, Any]], keys: list[str]) -> list[int]:
        """Write validated Observation rows (each holding every one of `keys`) by COPY in
        this transaction; return their ids. Columns outside `keys` are left NULL.

        Ids are reserved from the table's sequence first, because COPY returns nothing;
        COPY is what lets a 10,000-row DataArray cost about what the raw load costs.
        """
        ids: list[int] = list(
            await self.connection.scalars(
                select(func.nextval("observations_id_seq")).select_from(
                    func.generate_series(1, len(rows))
                )
            )
        )
        names = ["id", *keys]
        for entity_id, row in zip(ids, rows, strict=True):
            row["id"] = entity_id
        records = list(map(itemgetter(*names), rows))
        json_names = [name for name in names if isinstance(observations.c[name].type, JSON)]
        if any(row[name] is not None for name in json_names for row in rows):
            json_positions = {names.index(name) for name in json_names}
            records = [
                tuple(
                    orjson.dumps(value).decode()
                    if position in json_positions and value is not None
                    else value
                    for position, value in enumerate(record)
                )
                for record in records
            ]
        raw = await self.connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table("observations", records=records, columns=names)
        return ids

    def _data_array_row(
        self, components: list[str], row: Any, foi_index: int | None, where: str
    ) -> dict[str, Any]:
        if not isinstance(row, list) or len(row) != len(components):
            raise BadRequest(f"{where}: a dataArray row must have {len(components)} values")
        body = {
            name: value
            for index, (name, value) in enumerate(zip(components, row, strict=True))
            if index != foi_index and name != "id"
        }
        if "result" not in body:
            raise BadRequest(f"{where}: 'result' is a mandatory component")
        columns, _ = self._columns_and_links(OBSERVATION, body, where, replace=True)
        if "phenomenon_time_start" not in columns:
            columns["phenomenon_time_start"] = self.now
            columns["phenomenon_time_end"] = None
        return columns

    # ------------------------------------------------------------------ observations

    async def _generated_feature(self, columns: dict[str, Any], where: str) -> int:
        """The FeatureOfInterest made from the Thing's Location, reused while it is the same."""
        if columns.get("datastream_id") is not None:
            stream_table, key = datastreams, ("datastreams", columns["datastream_id"])
        else:
            stream_table, key = (
                multi_datastreams,
                ("multi_datastreams", columns["multi_datastream_id"]),
            )
        cached = self._feature_by_datastream.get(key)
        if cached is not None:
            return cached
        location = (
            await self.connection.execute(
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
        feature_id = await self.connection.scalar(
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
                await self.connection.execute(
                    insert(features_of_interest).values(values).returning(features_of_interest.c.id)
                )
            ).scalar_one()
            self.written.append(Written(FEATURE_OF_INTEREST, feature_id, "create"))
        self._feature_by_datastream[key] = feature_id
        return int(feature_id)

    async def _check_multi_result(self, columns: dict[str, Any], where: str) -> None:
        width = await self.connection.scalar(
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

    async def _check_multi_shape(self, entity_id: int, width: int, where: str) -> None:
        row = (
            await self.connection.execute(
                select(
                    multi_datastreams.c.unit_of_measurements,
                    multi_datastreams.c.multi_observation_data_types,
                ).where(multi_datastreams.c.id == entity_id)
            )
        ).one()
        if (
            width == 0
            or len(row.unit_of_measurements) != width
            or len(row.multi_observation_data_types) != width
        ):
            raise BadRequest(
                f"{where}: unitOfMeasurements, multiObservationDataTypes and ObservedProperties "
                f"must have the same length (got {len(row.unit_of_measurements)}, "
                f"{len(row.multi_observation_data_types)}, {width})",
                field="ObservedProperties",
            )

    def _note_stream_time(self, columns: dict[str, Any]) -> None:
        if columns.get("datastream_id") is not None:
            key = ("datastreams", columns["datastream_id"])
        else:
            key = ("multi_datastreams", columns["multi_datastream_id"])
        start = columns["phenomenon_time_start"]
        result_time = columns.get("result_time")
        end = columns.get("phenomenon_time_end") or start
        self._fold_stream_time(key, start, end, result_time, result_time)
        minute = rollups.minute_of(columns)  # rollups
        if minute is not None:
            self._rollup_minutes.add(minute)

    def _note_stream_rows(self, key: tuple[str, int], rows: list[dict[str, Any]]) -> None:
        """`_note_stream_time` for many new rows of one stream, folded a column at a time."""
        starts = [row["phenomenon_time_start"] for row in rows]
        ends = [row["phenomenon_time_end"] or row["phenomenon_time_start"] for row in rows]
        result_times = [row["result_time"] for row in rows if row.get("result_time") is not None]
        self._fold_stream_time(
            key,
            min(starts),
            max(ends),
            min(result_times, default=None),
            max(result_times, default=None),
        )
        if key[0] == datastreams.name:  # rollups: numeric results of single Datastreams
            numeric = (
                row["phenomenon_time_start"] for row in rows if row.get("result_number") is not None
            )
            self._rollup_minutes |= rollups.minutes_of(key[1], numeric)

    def _fold_stream_time(
        self,
        key: tuple[str, int],
        start: datetime,
        end: datetime,
        first_result: datetime | None,
        last_result: datetime | None,
    ) -> None:
        span = self._stream_times.setdefault(key, [start, end, first_result, last_result])
        span[0] = min(span[0], start) if span[0] else start
        span[1] = max(span[1], end) if span[1] else end
        if first_result is not None and last_result is not None:
            span[2] = min(span[2], first_result) if span[2] else first_result
            span[3] = max(span[3], last_result) if span[3] else last_result

    async def finish(self) -> None:
        """Fold the Observations written into their Datastreams' derived time ranges.

        One UPDATE for all streams of a table, run once per stream (executemany: one round
        trip), in id order: concurrent writers lock the stream rows in the same order.
        """
        by_table: dict[str, list[dict[str, Any]]] = {}
        for (table_name, stream_id), (start, end, r_start, r_end) in sorted(
            self._stream_times.items()
        ):
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
            await self.connection.execute(
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
        self._stream_times.clear()
        await self._refresh_rollups()  # rollups: in this transaction, before the commit

    async def recompute_stream_times(self, streams: Iterable[tuple[str, int]]) -> None:
        """Derive the time ranges again from scratch (after an Observation left a stream)."""
        for table_name, stream_id in streams:
            table = BY_TABLE[table_name]
            fk = (
                observations.c.datastream_id
                if table is datastreams
                else observations.c.multi_datastream_id
            )
            span = (
                await self.connection.execute(
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
            await self.connection.execute(
                update(table)
                .where(table.c.id == stream_id)
                .values(
                    phenomenon_time_start=span[0],
                    phenomenon_time_end=span[1],
                    result_time_start=span[2],
                    result_time_end=span[3],
                )
            )

    # ------------------------------------------------------------------ rollups

    async def _note_rollups(self, entity_type: EntityType, entity_id: int) -> None:
        """Remember the rollup buckets of the numeric Observations an entity change moves."""
        if entity_type is OBSERVATION:
            condition = observations.c.id == entity_id
        elif entity_type is FEATURE_OF_INTEREST:
            condition = observations.c.feature_of_interest_id == entity_id
        else:
            return  # Datastreams, Things: the rollups go with them by ON DELETE CASCADE
        self._rollup_minutes |= await rollups.numeric_minutes(self.connection, condition)

    async def _refresh_rollups(self) -> None:
        await rollups.refresh(self.connection, self._rollup_minutes)
        self._rollup_minutes.clear()

    # ------------------------------------------------------------------ update, delete

    async def update(
        self, entity_type: EntityType, entity_id: int, body: object, *, replace: bool
    ) -> None:
        """PATCH (`replace=False`) or PUT (`replace=True`) one entity, links included."""
        where = f"{entity_type.name}({entity_id})"
        if not isinstance(body, dict):
            raise BadRequest(f"{where}: expected a JSON object", field=where)
        await self._existing_id(entity_type, entity_id, where)
        if "@iot.id" in body and body["@iot.id"] != entity_id:
            raise BadRequest(f"{where}: @iot.id cannot be changed", field="@iot.id")
        await self._check_may_update(entity_type, entity_id)
        table = table_of(entity_type)
        if not replace and entity_type.find_property("encodingType") and "encodingType" not in body:
            # a new geometry is read with the encoding the entity already has
            current = await self.connection.scalar(
                select(table.c.encoding_type).where(table.c.id == entity_id)
            )
            body = {**body, "encodingType": current}
        columns, links = self._columns_and_links(entity_type, body, where, replace=replace)
        _refuse_inline_entities(links, where)
        if replace:
            for prop in entity_type.properties:
                if not prop.derived and prop.name not in body:
                    columns.update(to_columns(prop, None, body) if prop.nullable else {})
        old_streams = await self._observation_streams(entity_type, entity_id)
        if entity_type is OBSERVATION:
            await self._note_rollups(entity_type, entity_id)  # rollups: the buckets it leaves
        for navigation in entity_type.navigations:
            if navigation.source_fk is None or navigation.name not in links:
                continue
            value = links.pop(navigation.name)
            if value is None:
                raise BadRequest(
                    f"{where}: {navigation.name} cannot be unset", field=navigation.name
                )
            columns[navigation.source_fk] = await self.create(
                BY_NAME[navigation.target], value, nested=True, where=f"{where}/{navigation.name}"
            )
            if navigation.target == "Thing":
                await self._check_thing_owned(columns[navigation.source_fk])
        if entity_type is OBSERVATION and {"datastream_id", "multi_datastream_id"} & columns.keys():
            raise BadRequest(
                f"{where}: an Observation cannot move to another Datastream; delete and create it",
                field="Datastream",
            )
        if entity_type is LOCATION and "location" in columns:
            # a moved Location no longer describes the features generated from it
            await self.connection.execute(
                update(features_of_interest)
                .where(features_of_interest.c.location_id == entity_id)
                .values(location_id=None)
            )
        if columns:
            await self.connection.execute(
                update(table).where(table.c.id == entity_id).values(columns)
            )
        await self._write_to_many_links(entity_type, entity_id, links, where, creating=False)
        if entity_type is HISTORICAL_LOCATION:
            await self._follow_latest_history(entity_id)
        if entity_type is OBSERVATION:
            await self.recompute_stream_times(old_streams)
            await self._note_rollups(entity_type, entity_id)  # rollups: the buckets it enters
        self.written.append(Written(entity_type, entity_id, "update"))

    async def delete(self, entity_type: EntityType, entity_id: int) -> None:
        """Delete one entity; the database cascades to what cannot live without it."""
        where = f"{entity_type.name}({entity_id})"
        await self._existing_id(entity_type, entity_id, where)
        await self._check_may_update(entity_type, entity_id)
        streams = await self._observation_streams(entity_type, entity_id)
        await self._note_rollups(entity_type, entity_id)  # rollups: what the delete empties
        if entity_type is LOCATION:
            linked = select(location_historical_locations.c.historical_location_id).where(
                location_historical_locations.c.location_id == entity_id
            )
            await self.connection.execute(
                delete(historical_locations).where(historical_locations.c.id.in_(linked))
            )
        if entity_type is OBSERVED_PROPERTY:
            # a MultiDatastream without one of its ObservedProperties would break the size
            # constraint with its unitOfMeasurements: it goes too (its Observations by cascade)
            links = multi_datastream_observed_properties.c
            broken = list(
                await self.connection.scalars(
                    select(links.multi_datastream_id)
                    .where(links.observed_property_id == entity_id)
                    .order_by(links.multi_datastream_id)
                )
            )
            if broken:
                await self.connection.execute(
                    delete(multi_datastreams).where(multi_datastreams.c.id.in_(broken))
                )
                self.written.extend(Written(MULTI_DATASTREAM, i, "delete") for i in broken)
        table = table_of(entity_type)
        await self.connection.execute(delete(table).where(table.c.id == entity_id))
        await self.recompute_stream_times(streams)
        await self._refresh_rollups()  # rollups: a delete does not end with finish()
        self.written.append(Written(entity_type, entity_id, "delete"))

    async def link(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation, target_id: int
    ) -> None:
        """Add one link (`$ref` POST on a to-many, PUT on a to-one)."""
        where = f"{entity_type.name}({entity_id})/{navigation.name}/$ref"
        target = BY_NAME[navigation.target]
        await self._existing_id(target, target_id, where)
        if not navigation.to_many:
            await self.update(
                entity_type, entity_id, {navigation.name: {"@iot.id": target_id}}, replace=False
            )
            return
        await self._check_may_update(entity_type, entity_id)
        if navigation.target_fk is not None:
            await self._write_to_many_links(
                entity_type,
                entity_id,
                {navigation.name: [{"@iot.id": target_id}]},
                where,
                creating=False,
            )
        else:
            current = await self._linked_ids(entity_type, entity_id, navigation)
            await self._link(
                entity_type, entity_id, navigation, [*current, target_id], where, creating=False
            )
        self.written.append(Written(entity_type, entity_id, "update"))

    async def unlink(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation, target_id: int | None
    ) -> None:
        """Remove one link (`$ref` DELETE); only link-table links can go without a delete."""
        where = f"{entity_type.name}({entity_id})/{navigation.name}/$ref"
        if navigation.link_table is None or navigation.name == "ObservedProperties":
            raise BadRequest(
                f"{where}: this link is mandatory; link another entity or delete this one",
                field=navigation.name,
            )
        assert navigation.link_source and navigation.link_target and target_id is not None
        await self._check_may_update(entity_type, entity_id)
        link = BY_TABLE[navigation.link_table]
        removed = await self.connection.execute(
            delete(link).where(
                link.c[navigation.link_source] == entity_id,
                link.c[navigation.link_target] == target_id,
            )
        )
        if removed.rowcount == 0:
            raise NotFound(
                f"{entity_type.name}({entity_id}) has no link to {navigation.target}({target_id})"
            )
        if entity_type is HISTORICAL_LOCATION:
            await self._follow_latest_history(entity_id)
        self.written.append(Written(entity_type, entity_id, "update"))

    async def _linked_ids(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation
    ) -> list[int]:
        assert navigation.link_table and navigation.link_source and navigation.link_target
        link = BY_TABLE[navigation.link_table]
        rows = await self.connection.scalars(
            select(link.c[navigation.link_target]).where(
                link.c[navigation.link_source] == entity_id
            )
        )
        return list(rows)

    async def _observation_streams(
        self, entity_type: EntityType, entity_id: int
    ) -> list[tuple[str, int]]:
        """The streams whose derived times depend on this Observation or FeatureOfInterest."""
        if entity_type is OBSERVATION:
            condition = observations.c.id == entity_id
        elif entity_type is FEATURE_OF_INTEREST:
            condition = observations.c.feature_of_interest_id == entity_id
        else:
            return []
        rows = await self.connection.execute(
            select(observations.c.datastream_id, observations.c.multi_datastream_id)
            .where(condition)
            .distinct()
        )
        return [
            ("datastreams", r.datastream_id)
            if r.datastream_id is not None
            else ("multi_datastreams", r.multi_datastream_id)
            for r in rows
        ]

    # ------------------------------------------------------------------ checks

    async def _existing_id(self, entity_type: EntityType, raw: object, where: str) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadRequest(
                f"{where}: @iot.id must be an integer, got {raw!r}", field=f"{where}/@iot.id"
            )
        key = (entity_type.table, raw)
        if key in self._known:
            return raw
        table = table_of(entity_type)
        found = None
        if is_entity_id(raw):
            found = await self.connection.scalar(select(table.c.id).where(table.c.id == raw))
        if found is None:
            if where == f"{entity_type.name}({raw})":
                raise NotFound(f"no {entity_type.name} with id {raw}")
            raise BadRequest(
                f"{where}: links to {entity_type.name} {raw}, which does not exist",
                field=where,
            )
        self._known.add(key)
        return raw

    async def _check_create_allowed(
        self,
        entity_type: EntityType,
        columns: dict[str, Any],
        links: dict[str, Any],
        nested: bool,
    ) -> None:
        if self.principal.writes_all_of_hub:
            return
        if not self.principal.is_tenant:
            raise Forbidden(
                f"the role {self.principal.role.value!r} may not write SensorThings data"
            )
        if entity_type is THING or entity_type.name in _SHARED_CATALOGUE:
            return
        if entity_type in (DATASTREAM, MULTI_DATASTREAM, HISTORICAL_LOCATION):
            await self._check_thing_owned(columns["thing_id"])
            return
        if entity_type is OBSERVATION:
            for thing_id in await self._things_of_stream(columns):
                await self._check_thing_owned(thing_id)
            return
        if entity_type is LOCATION and (nested or links.get("Things")):
            return  # checked as each Thing is linked
        raise Forbidden(f"a tenant creates {entity_type.set_name} only under a Thing it owns")

    async def _things_of_stream(self, columns: dict[str, Any]) -> list[int]:
        if columns.get("datastream_id") is not None:
            table, stream_id = datastreams, columns["datastream_id"]
        else:
            table, stream_id = multi_datastreams, columns["multi_datastream_id"]
        return [await self._thing_id(table, stream_id)]

    async def _thing_id(self, table: Any, entity_id: int) -> int:
        thing_id: int = (
            await self.connection.execute(select(table.c.thing_id).where(table.c.id == entity_id))
        ).scalar_one()
        return thing_id

    async def _check_may_update(self, entity_type: EntityType, entity_id: int) -> None:
        if self.principal.writes_all_of_hub:
            return
        if not self.principal.is_tenant or entity_type.name in _SHARED_CATALOGUE:
            raise Forbidden(
                f"the role {self.principal.role.value!r} may not change {entity_type.set_name}"
            )
        for thing_id in await self._owning_things(entity_type, entity_id):
            await self._check_thing_owned(thing_id)

    async def _owning_things(self, entity_type: EntityType, entity_id: int) -> list[int]:
        if entity_type is THING:
            return [entity_id]
        if entity_type in (DATASTREAM, MULTI_DATASTREAM, HISTORICAL_LOCATION):
            table = table_of(entity_type)
            return [await self._thing_id(table, entity_id)]
        if entity_type is OBSERVATION:
            row = (
                await self.connection.execute(
                    select(observations.c.datastream_id, observations.c.multi_datastream_id).where(
                        observations.c.id == entity_id
                    )
                )
            ).one()
            return await self._things_of_stream(row._asdict())
        if entity_type is LOCATION:
            ids = list(
                await self.connection.scalars(
                    select(thing_locations.c.thing_id).where(
                        thing_locations.c.location_id == entity_id
                    )
                )
            )
            if not ids:
                raise Forbidden("a tenant may not change a Location that no Thing of its own uses")
            return ids
        raise Forbidden(f"a tenant may not change {entity_type.set_name}")

    async def _check_thing_owned(self, thing_id: int) -> None:
        if self.principal.writes_all_of_hub:
            return
        if thing_id not in self._thing_owners:
            self._thing_owners[thing_id] = await self.connection.scalar(
                select(things.c.owner_id).where(things.c.id == thing_id)
            )
        owner = self._thing_owners[thing_id]
        if owner is None or owner != self.principal.user_id:
            raise Forbidden(
                f"Thing {thing_id} belongs to another owner; a tenant writes only its own"
            )


DATA_ARRAY_COMPONENTS = frozenset(
    {
        "id",
        "phenomenonTime",
        "result",
        "resultTime",
        "resultQuality",
        "validTime",
        "parameters",
        "FeatureOfInterest/id",
    }
)


def _component_index(components: list[str]) -> int | None:
    """Check a DataArray's component names; the index of `FeatureOfInterest/id`, if any."""
    for name in components:
        if name not in DATA_ARRAY_COMPONENTS:
            raise BadRequest(
                f"unknown dataArray component {name!r}; expected some of "
                + ", ".join(sorted(DATA_ARRAY_COMPONENTS)),
                field="components",
            )
    if len(set(components)) != len(components):
        raise BadRequest("dataArray components must not repeat", field="components")
    return (
        components.index("FeatureOfInterest/id") if "FeatureOfInterest/id" in components else None
    )


#: components the fast path decodes; any other component sends the group the generic way
_QUICK_COMPONENTS = frozenset(
    {"id", "phenomenonTime", "result", "resultTime", "FeatureOfInterest/id"}
)


def _quick_decoder(
    components: list[str], base: dict[str, Any], now: datetime
) -> Callable[[object], dict[str, Any] | None] | None:
    """A decoder of the usual DataArray rows straight into the columns the generic path
    (`_data_array_row`) would give them; it answers None for any row it is unsure of
    (a bad or unusual value), which then goes the generic way and gets its exact error.

    Per-row validation through the entity registry was a fifth of a bulk request's time;
    the usual rows (an instant, a number, maybe a resultTime) need none of its generality.
    """
    if not set(components) <= _QUICK_COMPONENTS or "result" not in components:
        return None
    width = len(components)
    at_result = components.index("result")
    at_time = components.index("phenomenonTime") if "phenomenonTime" in components else None
    at_result_time = components.index("resultTime") if "resultTime" in components else None
    template = base | {"result_string": None, "result_json": None}
    if at_time is None:
        template.update(phenomenon_time_start=now, phenomenon_time_end=None)
    else:
        template["phenomenon_time_end"] = None

    def decode(row: object) -> dict[str, Any] | None:
        if type(row) is not list or len(row) != width:
            return None
        result = row[at_result]
        if type(result) is float and math.isfinite(result):
            columns = template | {"result_type": RESULT_FLOAT, "result_number": result}
        else:
            columns = template | result_columns(result)
        if at_time is not None:
            start = quick_instant(row[at_time])
            if start is None:
                return None
            columns["phenomenon_time_start"] = start
        if at_result_time is not None:
            result_time = quick_instant(row[at_result_time])
            if result_time is None:
                return None
            columns["result_time"] = result_time
        return columns

    return decode


def _union_keys(rows: list[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    return keys


def _refuse_inline_entities(links: dict[str, Any], where: str) -> None:
    """An update binds related entities by `{"@iot.id": n}` only (18-088 10.3): an entity
    given inline would be created (or silently ignored beside its id), so it is refused."""
    for name, value in links.items():
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, dict) and set(item) != {"@iot.id"}:
                place = f"{where}/{name}" + (f"[{index}]" if isinstance(value, list) else "")
                raise BadRequest(
                    f"{place}: an update may not carry related entities inline; bind an "
                    'existing one by {"@iot.id": <id>} or create it first',
                    field=name,
                )


def _back_link(navigation: Navigation, target: EntityType) -> Navigation:
    """The to-one link on `target` that a to-many `navigation` is the inverse of."""
    for candidate in target.navigations:
        if candidate.source_fk == navigation.target_fk:
            return candidate
    raise AssertionError(f"no inverse of {navigation.name}")  # pragma: no cover


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
