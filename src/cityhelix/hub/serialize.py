"""Entities as SensorThings JSON: properties, `@iot.id`, `@iot.selfLink`, navigation links and
expanded links inline (with their `@iot.count`, `@iot.nextLink`). Driven by the registry, so
every entity type is written by the same few lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityhelix.hub.model import EntityType, Kind
from cityhelix.hub.values import from_row


def self_link(base_url: str, entity_type: EntityType, entity_id: int) -> str:
    return f"{base_url}/{entity_type.set_name}({entity_id})"


@dataclass(frozen=True)
class ExpandedLink:
    """What `$expand` found behind one navigation link of one entity."""

    #: the entities (a to-many link), the entity or None (a to-one link)
    value: list[dict[str, Any]] | dict[str, Any] | None
    to_many: bool
    count: int | None = None
    next_link: str | None = None


def entity_json(
    entity_type: EntityType,
    row: Any,
    base_url: str,
    *,
    select: frozenset[str] | None = None,
    expanded: Mapping[str, ExpandedLink] | None = None,
) -> dict[str, Any]:
    """One entity as JSON; `select` limits the members written (None: all of them), and
    `expanded` links are written inline whatever `select` says (expansion comes after it)."""
    link = self_link(base_url, entity_type, row.id)
    document: dict[str, Any] = {}

    def wanted(name: str) -> bool:
        return select is None or name in select

    if wanted("@iot.id"):
        document["@iot.id"] = row.id
    if wanted("@iot.selfLink"):
        document["@iot.selfLink"] = link
    for prop in entity_type.properties:
        if not wanted(prop.name):
            continue
        value = from_row(prop, row)
        # optional members without a value are left out, except those the standard
        # defines as present-but-null (an Observation's resultTime)
        optional = not prop.required and prop.kind is not Kind.INSTANT
        if value is None and optional and select is None:
            continue
        document[prop.name] = value
    for navigation in entity_type.navigations:
        key = f"{navigation.name}@iot.navigationLink"
        if navigation.source_fk is not None and getattr(row, navigation.source_fk, 1) is None:
            continue  # an Observation of a Datastream has no MultiDatastream to link to
        if select is None or key in select or navigation.name in select:
            document[key] = f"{link}/{navigation.name}"
    for name, found in (expanded or {}).items():
        if found.count is not None:
            document[f"{name}@iot.count"] = found.count
        if found.next_link is not None:
            document[f"{name}@iot.nextLink"] = found.next_link
        document[name] = found.value
    return document
