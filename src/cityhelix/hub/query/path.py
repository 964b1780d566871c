"""Parse a SensorThings resource path (`/Things(1)/Datastreams`, `/Things(1)/name/$value`).

The result is a list of steps through the entity registry; `store` compiles it to SQL.
Every unknown name is a 404 naming the segment, as the standard treats paths as resources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cityhelix.hub.errors import BadRequest, NotFound
from cityhelix.hub.model import BY_NAME, BY_SET, EntityType, Navigation, Property, is_entity_id

_SEGMENT = re.compile(r"^(?P<name>[A-Za-z@.$][A-Za-z0-9_@.]*)(?:\((?P<key>[^()]*)\))?$")


@dataclass(frozen=True)
class Step:
    """One entity hop: the type reached, the id given (if any) and the link used to get here."""

    entity_type: EntityType
    id: int | None
    via: Navigation | None


@dataclass(frozen=True)
class ResourcePath:
    """A resolved resource path: entity steps, then optionally a property, `$value`, `$ref`."""

    steps: tuple[Step, ...]
    prop: Property | None = None
    value: bool = False
    ref: bool = False

    @property
    def target(self) -> EntityType:
        return self.steps[-1].entity_type

    @property
    def is_collection(self) -> bool:
        last = self.steps[-1]
        if last.id is not None:
            return False
        return last.via is None or last.via.to_many

    @property
    def parent(self) -> Step | None:
        """The step before the last one, when the last was reached through a link."""
        return self.steps[-2] if len(self.steps) > 1 else None


def _entity_id(raw: str, segment: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise NotFound(f"no entity with id {raw!r} in {segment!r}: ids are integers") from None
    if not is_entity_id(value):
        raise NotFound(f"no entity with id {value} in {segment!r}")
    return value


def parse_path(path: str) -> ResourcePath:
    """Resolve `path` (relative to the version root, no query string) against the registry."""
    stripped = path.strip("/")
    if not stripped:
        raise BadRequest("empty resource path")
    parts = stripped.split("/")
    if "" in parts:
        # `Things//Datastreams` is no resource: its selfLinks would name another URL
        raise NotFound(f"empty path segment in {path[:80]!r}; remove the doubled '/'")
    steps: list[Step] = []
    prop: Property | None = None
    value = ref = False
    for part in parts:
        match = _SEGMENT.match(part)
        if match is None:
            raise NotFound(f"invalid path segment {part!r}")
        name, key = match["name"], match["key"]
        if value or ref:
            raise NotFound(f"nothing may follow $value or $ref, got {part!r}")
        if prop is not None:
            if name == "$value" and key is None:
                value = True
                continue
            raise NotFound(f"only $value may follow a property, got {part!r}")
        if not steps:
            entity_type = BY_SET.get(name)
            if entity_type is None:
                raise NotFound(f"unknown entity set {name!r}")
            entity_id = _entity_id(key, part) if key is not None else None
            steps.append(Step(entity_type, entity_id, None))
            continue
        current = steps[-1]
        collection = current.id is None and (current.via is None or current.via.to_many)
        if name == "$ref" and key is None:
            ref = True
            continue
        if collection:
            raise NotFound(f"{part!r} cannot follow a collection; address one entity first")
        navigation = current.entity_type.find_navigation(name)
        if navigation is not None:
            target = BY_NAME[navigation.target]
            if key is not None and not navigation.to_many:
                raise NotFound(f"{name!r} is a single entity; it takes no id")
            entity_id = _entity_id(key, part) if key is not None else None
            steps.append(Step(target, entity_id, navigation))
            continue
        found = current.entity_type.find_property(name)
        if found is None or key is not None:
            raise NotFound(f"{current.entity_type.name} has no property or link {name!r}")
        prop = found
    return ResourcePath(tuple(steps), prop, value, ref)
