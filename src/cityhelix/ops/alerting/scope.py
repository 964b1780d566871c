"""What the alerting part knows of the hub, read through `hub.service` only and cached:
a Datastream's Thing and ObservedProperty, a Thing's place, the Things of a district or a
polygon. Forgotten on the hub's Datastream/Thing/Location events, so a Datastream that
enters a rule's scope is covered without editing the rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EntityEvent
from cityhelix.hub import service as hub
from cityhelix.ops.alerting.rules import Rule

#: Things named in one `$filter` (bounded: each is one bound parameter)
_IDS_PER_FILTER = 100
_MAX = 10_000


@dataclass(frozen=True)
class DatastreamFacts:
    id: int
    thing_id: int | None
    observed_property_id: int | None


@dataclass(frozen=True)
class Place:
    """Where a Thing is: its first Location's point [lon, lat] and its district."""

    location: list[float] | None
    district: str | None


async def read_document(engine: AsyncEngine, path: str, params: dict[str, str]) -> dict[str, Any]:
    """The hub's JSON of a GET on `path` with `params`, through its service."""
    return await hub.read_document(engine, path, params, max_rows=_MAX)


def _point(geometry: object) -> list[float] | None:
    if not isinstance(geometry, dict):
        return None
    try:
        centre = shape(geometry).representative_point()
    except (ValueError, TypeError, AttributeError, IndexError):
        return None
    return [round(centre.x, 7), round(centre.y, 7)]


class HubView:
    """Cached answers of the hub's service for rule scopes; one per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._datastreams: dict[int, DatastreamFacts | None] = {}
        self._places: dict[int, Place] = {}
        #: per district / polygon rule: the Things within it
        self._areas: dict[str, frozenset[int]] = {}

    def forget(self, event: EntityEvent) -> None:
        """Drop what `event` may have changed (a hub write of a Datastream, Thing, Location)."""
        if event.pillar != "hub":
            return
        if event.entity_type == "Datastream":
            if event.action == "create" and isinstance(event.payload.get("thing_id"), int):
                self._datastreams[event.id] = DatastreamFacts(
                    event.id, event.payload["thing_id"], event.payload.get("observed_property_id")
                )
            else:
                self._datastreams.pop(event.id, None)
        elif event.entity_type in ("Thing", "Location", "HistoricalLocation"):
            self._places.clear()
            self._areas.clear()

    async def datastream(self, datastream_id: int) -> DatastreamFacts | None:
        """The Datastream's links, None when it does not exist."""
        if datastream_id not in self._datastreams:
            try:
                document = await read_document(
                    self.engine,
                    f"/Datastreams({datastream_id})",
                    {
                        "$select": "id",
                        "$expand": "Thing($select=id),ObservedProperty($select=id)",
                    },
                )
            except hub.HubError:
                self._datastreams[datastream_id] = None
            else:
                self._datastreams[datastream_id] = DatastreamFacts(
                    datastream_id,
                    (document.get("Thing") or {}).get("@iot.id"),
                    (document.get("ObservedProperty") or {}).get("@iot.id"),
                )
        return self._datastreams[datastream_id]

    async def place(self, thing_id: int | None) -> Place:
        if thing_id is None:
            return Place(None, None)
        if thing_id not in self._places:
            try:
                document = await read_document(
                    self.engine,
                    f"/Things({thing_id})",
                    {"$select": "id,properties", "$expand": "Locations($select=location)"},
                )
            except hub.HubError:
                return Place(None, None)
            properties = document.get("properties") or {}
            district = properties.get("district") if isinstance(properties, dict) else None
            located = [item.get("location") for item in document.get("Locations") or ()]
            self._places[thing_id] = Place(
                _point(located[0]) if located else None,
                district if isinstance(district, str) else None,
            )
        return self._places[thing_id]

    async def things_in(self, rule: Rule) -> frozenset[int] | None:
        """The Things of a district or polygon rule (None: the rule's scope is not an area)."""
        scope = rule.scope
        if scope.district is None and scope.polygon is None:
            return None
        # by the area itself: unsaved rules (preview) have no id of their own
        if scope.district is not None:
            key = f"d:{scope.district}"
        else:
            key = "p:" + json.dumps(scope.polygon, sort_keys=True)
        if key not in self._areas:
            if scope.district is not None:
                found = await hub.things_in_district(self.engine, scope.district)
            else:
                found = await hub.things_within(self.engine, shape(scope.polygon))
            self._areas[key] = frozenset(thing.id for thing in found)
        return self._areas[key]

    async def covers(self, rule: Rule, datastream_id: int, thing_id: int | None) -> bool:
        """Whether a reading of `datastream_id` (on `thing_id`) is in the rule's scope now."""
        scope = rule.scope
        if scope.datastream_ids:
            return datastream_id in scope.datastream_ids
        if scope.observed_property_id is not None:
            facts = await self.datastream(datastream_id)
            return facts is not None and facts.observed_property_id == scope.observed_property_id
        things = await self.things_in(rule)
        return things is not None and thing_id in things

    async def datastreams_of(self, rule: Rule) -> list[int]:
        """Every Datastream in the rule's scope now (preview, stale checks), at most 10,000."""
        scope = rule.scope
        if scope.datastream_ids:
            return list(scope.datastream_ids)
        if scope.observed_property_id is not None:
            found = await read_document(
                self.engine,
                f"/ObservedProperties({scope.observed_property_id})/Datastreams",
                {"$select": "id", "$top": str(_MAX)},
            )
            return [item["@iot.id"] for item in found.get("value", ())]
        things = sorted(await self.things_in(rule) or ())
        return await self._datastreams_of_things(things)

    async def _datastreams_of_things(self, things: Iterable[int]) -> list[int]:
        ids: list[int] = []
        chosen = list(things)
        for start in range(0, len(chosen), _IDS_PER_FILTER):
            part = chosen[start : start + _IDS_PER_FILTER]
            condition = " or ".join(f"Thing/id eq {int(thing)}" for thing in part)
            found = await read_document(
                self.engine,
                "/Datastreams",
                {"$select": "id", "$filter": condition, "$top": str(_MAX)},
            )
            ids.extend(item["@iot.id"] for item in found.get("value", ()))
            if len(ids) >= _MAX:
                break
        return sorted(ids)[:_MAX]
