"""Entities as SensorThings JSON: properties, `@iot.id`, `@iot.selfLink`, navigation links and
expanded links inline (with their `@iot.count`, `@iot.nextLink`). Driven by the registry, so
every entity type is written by the same few lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityhelix.hub.model import EntityType, Kind, Property
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


@dataclass(frozen=True)
class _Layout:
    """What `entity_json` writes for one entity type, worked out once, not once per row."""

    #: (property, whether it is left out when it has no value)
    properties: tuple[tuple[Property, bool], ...]
    #: (navigation name, `<name>@iot.navigationLink`, `/<name>`, the row's foreign key)
    navigations: tuple[tuple[str, str, str, str | None], ...]


_LAYOUTS: dict[str, _Layout] = {}


def _layout(entity_type: EntityType) -> _Layout:
    layout = _LAYOUTS.get(entity_type.name)
    if layout is None:
        layout = _LAYOUTS[entity_type.name] = _Layout(
            # optional members without a value are left out, except those the standard
            # defines as present-but-null (an Observation's resultTime)
            tuple(
                (p, not p.required and p.kind is not Kind.INSTANT) for p in entity_type.properties
            ),
            tuple(
                (n.name, f"{n.name}@iot.navigationLink", f"/{n.name}", n.source_fk)
                for n in entity_type.navigations
            ),
        )
    return layout


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
    layout = _layout(entity_type)
    link = self_link(base_url, entity_type, row.id)
    document: dict[str, Any] = {}
    if select is None or "@iot.id" in select:
        document["@iot.id"] = row.id
    if select is None or "@iot.selfLink" in select:
        document["@iot.selfLink"] = link
    for prop, optional in layout.properties:
        if select is not None and prop.name not in select:
            continue
        value = from_row(prop, row)
        if value is None and optional and select is None:
            continue
        document[prop.name] = value
    for name, key, suffix, source_fk in layout.navigations:
        if source_fk is not None and getattr(row, source_fk, 1) is None:
            continue  # an Observation of a Datastream has no MultiDatastream to link to
        if select is None or key in select or name in select:
            document[key] = link + suffix
    for name, found in (expanded or {}).items():
        if found.count is not None:
            document[f"{name}@iot.count"] = found.count
        if found.next_link is not None:
            document[f"{name}@iot.nextLink"] = found.next_link
        document[name] = found.value
    return document
