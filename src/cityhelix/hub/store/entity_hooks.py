"""Hooks of the Thing, Location, HistoricalLocation, MultiDatastream and ObservedProperty.

A Thing's Locations are replaced, not added to, and each new set is historised; a
HistoricalLocation made by hand that is its Thing's latest moves the Thing; a
MultiDatastream's ObservedProperties are fixed at creation, in the order given, as many
as its units; an ObservedProperty takes along the MultiDatastreams it is part of.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import (
    COMPLEX_OBSERVATION,
    HISTORICAL_LOCATION,
    MULTI_DATASTREAM,
    EntityType,
    Navigation,
)
from cityhelix.hub.store.hooks import EntityHooks, register_hooks
from cityhelix.hub.store.written import Written
from cityhelix.hub.tables import (
    historical_locations,
    location_historical_locations,
    multi_datastream_observed_properties,
    multi_datastreams,
    thing_locations,
)


async def set_thing_locations(hooks: EntityHooks, thing_id: int, location_ids: list[int]) -> None:
    """A Thing's Locations become `location_ids`, and a HistoricalLocation records it."""
    writer = hooks.writer
    connection = writer.connection
    location_ids = list(dict.fromkeys(location_ids))
    await connection.execute(delete(thing_locations).where(thing_locations.c.thing_id == thing_id))
    if not location_ids:
        return
    await connection.execute(
        insert(thing_locations),
        [{"thing_id": thing_id, "location_id": lid} for lid in location_ids],
    )
    historical_id = (
        await connection.execute(
            insert(historical_locations)
            .values(time=writer.now, thing_id=thing_id)
            .returning(historical_locations.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(location_historical_locations),
        [{"location_id": lid, "historical_location_id": historical_id} for lid in location_ids],
    )
    writer.written.append(Written(HISTORICAL_LOCATION, historical_id, "create"))


class ThingLocations(EntityHooks):
    """`Thing.Locations` written: the Thing's Locations replaced and historised."""

    async def write_link(
        self,
        entity_type: EntityType,
        entity_id: int,
        navigation: Navigation,
        ids: list[int],
        where: str,
        *,
        creating: bool,
    ) -> bool:
        if navigation.name != "Locations":
            return False
        await set_thing_locations(self, entity_id, ids)
        return True


class LocationThings(EntityHooks):
    """`Location.Things` written: each Thing moves to the Location. A deleted Location takes
    the HistoricalLocations that name it."""

    async def write_link(
        self,
        entity_type: EntityType,
        entity_id: int,
        navigation: Navigation,
        ids: list[int],
        where: str,
        *,
        creating: bool,
    ) -> bool:
        if navigation.name != "Things":
            return False
        for thing_id in ids:
            await set_thing_locations(self, thing_id, [entity_id])
        return True

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        linked = select(location_historical_locations.c.historical_location_id).where(
            location_historical_locations.c.location_id == entity_id
        )
        await self.writer.connection.execute(
            delete(historical_locations).where(historical_locations.c.id.in_(linked))
        )


class LatestHistoricalLocation(EntityHooks):
    """A HistoricalLocation that is the latest of its Thing (by time, then id) moves the
    Thing: its Locations become the HistoricalLocation's. An older one is history only."""

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        if entity_type is HISTORICAL_LOCATION:
            await self.follow(entity_id)

    async def linked(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation, ids: Sequence[int]
    ) -> None:
        if entity_type is HISTORICAL_LOCATION:
            await self.follow(entity_id)
        elif navigation.target == HISTORICAL_LOCATION.name:  # from the Location's side
            for historical_id in dict.fromkeys(ids):
                await self.follow(historical_id)

    async def follow(self, historical_id: int) -> None:
        connection = self.writer.connection
        table = historical_locations
        row = (
            await connection.execute(
                select(table.c.thing_id, table.c.time).where(table.c.id == historical_id)
            )
        ).one()
        later = await connection.scalar(
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
            await connection.scalars(
                select(location_historical_locations.c.location_id)
                .where(location_historical_locations.c.historical_location_id == historical_id)
                .order_by(location_historical_locations.c.location_id)
            )
        )
        if not location_ids:
            return  # no place to move to (yet): its Locations may be linked next
        await connection.execute(
            delete(thing_locations).where(thing_locations.c.thing_id == row.thing_id)
        )
        await connection.execute(
            insert(thing_locations),
            [{"thing_id": row.thing_id, "location_id": lid} for lid in location_ids],
        )


class MultiDatastreamShape(EntityHooks):
    """A MultiDatastream is a complex observation by default; its ObservedProperties are
    given at creation, kept in that order, one per unit of measurement."""

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        columns.setdefault("observation_type", COMPLEX_OBSERVATION)

    async def check_update(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        where: str,
    ) -> None:
        """An update keeps the shape a create had to have: as many units and data types as
        ObservedProperties (these cannot change, so the arrays cannot either in length)."""
        if not {"unit_of_measurements", "multi_observation_data_types"} & columns.keys():
            return
        links_c = multi_datastream_observed_properties.c
        width = await self.writer.connection.scalar(
            select(func.count()).where(links_c.multi_datastream_id == entity_id)
        )
        await self._check_width(entity_id, int(width or 0), where, columns)

    async def write_link(
        self,
        entity_type: EntityType,
        entity_id: int,
        navigation: Navigation,
        ids: list[int],
        where: str,
        *,
        creating: bool,
    ) -> bool:
        if navigation.link_order is None:
            return False
        if not creating:
            raise BadRequest(
                f"{where}: the ObservedProperties of a MultiDatastream are fixed at creation",
                field=navigation.name,
            )
        await self._check_width(entity_id, len(ids), where)
        assert navigation.link_source and navigation.link_target
        rows = [
            {
                navigation.link_source: entity_id,
                navigation.link_target: linked,
                navigation.link_order: rank,
            }
            for rank, linked in enumerate(ids)
        ]
        if rows:
            await self.writer.connection.execute(insert(multi_datastream_observed_properties), rows)
        return True

    async def _check_width(
        self, entity_id: int, width: int, where: str, changes: dict[str, Any] | None = None
    ) -> None:
        row = (
            await self.writer.connection.execute(
                select(
                    multi_datastreams.c.unit_of_measurements,
                    multi_datastreams.c.multi_observation_data_types,
                ).where(multi_datastreams.c.id == entity_id)
            )
        ).one()
        changes = changes or {}
        units = changes.get("unit_of_measurements", row.unit_of_measurements) or []
        data_types = (
            changes.get("multi_observation_data_types", row.multi_observation_data_types) or []
        )
        if width == 0 or len(units) != width or len(data_types) != width:
            field = "ObservedProperties"
            if len(units) != width and "unit_of_measurements" in changes:
                field = "unitOfMeasurements"
            elif "multi_observation_data_types" in changes:
                field = "multiObservationDataTypes"
            raise BadRequest(
                f"{where}: unitOfMeasurements, multiObservationDataTypes and ObservedProperties "
                f"must have the same length (got {len(units)}, {len(data_types)}, {width})",
                field=field,
            )


class ObservedPropertyRemoval(EntityHooks):
    """A MultiDatastream without one of its ObservedProperties would break the pairing with
    its units: deleting an ObservedProperty deletes those MultiDatastreams (their
    Observations go by cascade)."""

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        links = multi_datastream_observed_properties.c
        connection = self.writer.connection
        broken = list(
            await connection.scalars(
                select(links.multi_datastream_id)
                .where(links.observed_property_id == entity_id)
                .order_by(links.multi_datastream_id)
            )
        )
        if broken:
            await connection.execute(
                delete(multi_datastreams).where(multi_datastreams.c.id.in_(broken))
            )
            self.writer.written.extend(Written(MULTI_DATASTREAM, i, "delete") for i in broken)


register_hooks(ThingLocations, "Thing")
register_hooks(LocationThings, "Location")
register_hooks(LatestHistoricalLocation, "HistoricalLocation", "Location")
register_hooks(MultiDatastreamShape, "MultiDatastream")
register_hooks(ObservedPropertyRemoval, "ObservedProperty")
