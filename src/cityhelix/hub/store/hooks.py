"""Per-type side effects of writes, as hooks keyed by entity type (FROST-Server's plugins).

The writer inserts, updates, deletes and links any entity the same way; what one type
needs beside that (a generated FeatureOfInterest, a Datastream's derived times, a Thing's
HistoricalLocations, rollups) is an `EntityHooks` subclass registered for the type. Each
Writer makes its own instance of every hook class it uses, so a hook may keep state for
one transaction and finish it in `finish`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cityhelix.hub.model import EntityType, Navigation

if TYPE_CHECKING:
    from cityhelix.hub.store.write import Writer


class EntityHooks:
    """No-op hooks; a subclass overrides the points it needs. `writer` is the one writing.

    Every method gets the entity type it is called for, so one class may serve a few
    types (an Observation's and a FeatureOfInterest's effects on derived times).
    """

    def __init__(self, writer: Writer) -> None:
        self.writer = writer

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        """Before an insert: fill defaults and generated links, refuse what breaks a rule."""

    async def inserted(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        """After an insert (its to-many links follow)."""

    async def rows_inserted(
        self, stream_type: EntityType, stream_id: int, rows: list[dict[str, Any]]
    ) -> None:
        """After a bulk insert of Observations of one stream (CreateObservations, ingest);
        a large group's rows come in slices, a call each: fold what each call brings."""

    async def check_update(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        where: str,
    ) -> None:
        """Before an update's statement: refuse what breaks a rule, undo what it outdates."""

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        """Before an update (or a move to another parent): remember what it affects."""

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        """After an update or a move: bring what it affects in step."""

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        """Before a delete: remember what it affects, remove what must go with it."""

    async def deleted(self, entity_type: EntityType, entity_id: int) -> None:
        """After a delete (the database's cascades done): bring what it affected in step."""

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
        """Write a link-table link in a way of the type's own; True when done (else generic)."""
        return False

    async def linked(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation, ids: Sequence[int]
    ) -> None:
        """After link-table rows of `navigation` changed (added or removed)."""

    async def finish(self) -> None:
        """Before the commit: write what was gathered over the transaction."""


_REGISTERED: dict[str, list[type[EntityHooks]]] = {}


def register_hooks(hooks: type[EntityHooks], *type_names: str) -> None:
    """Call `hooks` for writes of the named entity types, after those registered before."""
    for name in type_names:
        classes = _REGISTERED.setdefault(name, [])
        if hooks not in classes:
            classes.append(hooks)


def unregister_hooks(hooks: type[EntityHooks], *type_names: str) -> None:
    """Stop calling `hooks` for the named types (Writers made before keep theirs)."""
    for name in type_names:
        classes = _REGISTERED.get(name, [])
        if hooks in classes:
            classes.remove(hooks)


def hook_classes(entity_type: EntityType) -> tuple[type[EntityHooks], ...]:
    """The hook classes of `entity_type`, in registration order."""
    return tuple(_REGISTERED.get(entity_type.name, ()))
