"""Create, update and delete SensorThings entities, deep inserts included, in one transaction.

The caller owns the transaction: a `Writer` only issues statements on the connection it
is given, so a failed deep insert is rolled back whole by the caller. The writer knows no
entity type by name: it is driven by the registry (`hub.model`: properties, links,
tenancy), and what one type needs beside that is a hook registered for it (`hooks`;
the built-in ones in `entity_hooks` and `observation_hooks`, rollups from `hub.rollups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.auth.principal import Principal
from cityhelix.db.bulk_insert import insert_rows
from cityhelix.hub.errors import BadRequest, NotFound
from cityhelix.hub.model import BY_NAME, EntityType, Navigation, is_entity_id
from cityhelix.hub.query.compile import table_of
from cityhelix.hub.store.hooks import EntityHooks, hook_classes
from cityhelix.hub.store.tenancy import TenantRules
from cityhelix.hub.store.written import StreamRows, StreamWritten, Written, stream_link
from cityhelix.hub.tables import BY_TABLE
from cityhelix.hub.values import to_columns

__all__ = ["StreamRows", "StreamWritten", "Writer", "Written", "stream_link"]

HookT = TypeVar("HookT", bound=EntityHooks)


@dataclass
class Writer:
    """Writes entities on one connection inside the caller's transaction."""

    connection: AsyncConnection
    principal: Principal
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    written: list[Written] = field(default_factory=list)
    _known: set[tuple[str, int]] = field(default_factory=set)
    #: one instance of each hook class this writer used, in first-use order
    _hook_instances: dict[type[EntityHooks], EntityHooks] = field(default_factory=dict)
    _hooks_by_type: dict[str, tuple[EntityHooks, ...]] = field(default_factory=dict)
    _tenancy: TenantRules | None = None

    @property
    def tenancy(self) -> TenantRules:
        """The tenancy checks, made on first use (the member check has no connection)."""
        if self._tenancy is None:
            self._tenancy = TenantRules(self.connection, self.principal)
        return self._tenancy

    def hooks(self, entity_type: EntityType) -> tuple[EntityHooks, ...]:
        """This writer's instances of the hooks registered for `entity_type`."""
        found = self._hooks_by_type.get(entity_type.name)
        if found is None:
            instances = []
            for hook_class in hook_classes(entity_type):
                instance = self._hook_instances.get(hook_class)
                if instance is None:
                    instance = self._hook_instances[hook_class] = hook_class(self)
                instances.append(instance)
            found = self._hooks_by_type[entity_type.name] = tuple(instances)
        return found

    def hook(self, hook_class: type[HookT]) -> HookT:
        """This writer's instance of one hook class (made now if not used yet)."""
        instance = self._hook_instances.get(hook_class)
        if instance is None:
            instance = self._hook_instances[hook_class] = hook_class(self)
        assert isinstance(instance, hook_class)
        return instance

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
            return await self.existing_id(entity_type, body["@iot.id"], where)
        columns, links, hooks = await self._prepared(entity_type, body, nested, where)
        table = table_of(entity_type)
        entity_id: int = (
            await self.connection.execute(insert(table).values(columns).returning(table.c.id))
        ).scalar_one()
        await self._after_insert(entity_type, entity_id, columns, links, hooks, where)
        return entity_id

    async def create_many(
        self,
        entity_type: EntityType,
        bodies: Sequence[tuple[dict[str, Any], str]],
        *,
        nested: bool = False,
    ) -> list[tuple[int, list[Written]]]:
        """`create` of many top-level entities (body, where) with one bulk insert: the id
        of each and what it wrote (a generated FeatureOfInterest, then itself).

        For a $batch group's run of Observations, and a deep insert's inline ones (`nested`):
        a column a body leaves out is inserted as NULL, which holds for the Observation
        table (as for DataArray rows), not for every table.
        """
        prepared = []
        before: list[list[Written]] = []
        for body, where in bodies:
            first = len(self.written)
            prepared.append(await self._prepared(entity_type, body, nested, where))
            before.append(self.written[first:])
        rows = [columns for columns, _, _ in prepared]
        keys = sorted({key for columns in rows for key in columns})
        for columns in rows:
            for key in keys:
                columns.setdefault(key, None)
        ids = await insert_rows(self.connection, table_of(entity_type), rows, keys)
        answers = []
        for (columns, links, hooks), entity_id, (_, where), earlier in zip(
            prepared, ids, bodies, before, strict=True
        ):
            await self._after_insert(entity_type, entity_id, columns, links, hooks, where)
            answers.append((entity_id, [*earlier, Written(entity_type, entity_id, "create")]))
        return answers

    async def _prepared(
        self, entity_type: EntityType, body: dict[str, Any], nested: bool, where: str
    ) -> tuple[dict[str, Any], dict[str, Any], tuple[EntityHooks, ...]]:
        """The columns of a new entity (its to-one links created or checked), its to-many
        links, and its hooks, once every check before the insert has passed."""
        self.tenancy.check_catalogue(entity_type, nested=nested)
        columns, links = self._columns_and_links(
            entity_type, body, where, replace=True, nested=nested
        )
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
        hooks = self.hooks(entity_type)
        for hook in hooks:
            await hook.check_insert(entity_type, columns, links, where)
        _check_required_links(entity_type, columns, links, where)
        await self.tenancy.check_create(entity_type, columns, links, nested)
        self.tenancy.stamp_owner(entity_type, columns)
        return columns, links, hooks

    async def _after_insert(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        hooks: tuple[EntityHooks, ...],
        where: str,
    ) -> None:
        self._known.add((entity_type.table, entity_id))
        self.tenancy.note_created(entity_type, entity_id, columns)
        self.written.append(Written(entity_type, entity_id, "create"))
        for hook in hooks:
            await hook.inserted(entity_type, entity_id, columns)
        await self._write_to_many_links(entity_type, entity_id, links, where, creating=True)

    def _columns_and_links(
        self,
        entity_type: EntityType,
        body: dict[str, Any],
        where: str,
        *,
        replace: bool,
        nested: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Validate the members of `body`: property columns, and navigation values apart.
        A nested entity's bad value is named with its place in the deep insert
        (`Thing/Datastreams[0]/Observations[3]: phenomenonTime: ...`)."""
        columns: dict[str, Any] = {}
        links: dict[str, Any] = {}
        for key, value in body.items():
            if key.startswith("@iot.") or key.endswith("@iot.navigationLink"):
                continue
            prop = entity_type.find_property(key)
            if prop is not None:
                if not prop.derived:
                    try:
                        columns.update(to_columns(prop, value, body))
                    except BadRequest as error:
                        if not nested:
                            raise
                        raise BadRequest(f"{where}: {error.message}", field=error.field) from None
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
                # a Datastream's inline Observations (a day of history in a deep insert)
                # go in together, one statement for the run: one each was most of the time
                # of loading the demo province
                run: list[tuple[dict[str, Any], str]] = []
                for index, item in enumerate(items):
                    child_where = f"{where}/{name}[{index}]"
                    if isinstance(item, dict) and "@iot.id" in item:
                        await self._create_run(target, run)
                        child_id = await self.existing_id(target, item["@iot.id"], child_where)
                        await self._move(target, child_id, navigation.target_fk, entity_id)
                        continue
                    if not isinstance(item, dict):
                        raise BadRequest(f"{child_where}: expected a JSON object", field=name)
                    child = {**item, back.name: {"@iot.id": entity_id}}
                    if target.name == "Observation":
                        run.append((child, child_where))
                        continue
                    await self.create(target, child, nested=True, where=child_where)
                await self._create_run(target, run)
                continue
            ids = [
                await self.create(target, item, nested=True, where=f"{where}/{name}[{index}]")
                for index, item in enumerate(items)
            ]
            await self._link(entity_type, entity_id, navigation, ids, where, creating=creating)

    async def _create_run(
        self, entity_type: EntityType, run: list[tuple[dict[str, Any], str]]
    ) -> None:
        """`create_many` of the nested bodies gathered in `run` (a lone one by `create`:
        one statement, where a COPY takes two), which it then empties."""
        if len(run) == 1:
            ((body, where),) = run
            await self.create(entity_type, body, nested=True, where=where)
        elif run:
            await self.create_many(entity_type, run, nested=True)
        run.clear()

    async def _move(self, entity_type: EntityType, entity_id: int, fk: str, parent_id: int) -> None:
        """Move an existing entity under another parent (`Datastreams(2)` PATCHed with
        `{"Observations": [{"@iot.id": 5}]}`): an update of its foreign key."""
        await self.tenancy.check_change(entity_type, entity_id)
        hooks = self.hooks(entity_type)
        for hook in hooks:
            await hook.changing(entity_type, entity_id)
        table = table_of(entity_type)
        await self.connection.execute(
            update(table).where(table.c.id == entity_id).values({fk: parent_id})
        )
        for hook in hooks:
            await hook.changed(entity_type, entity_id)

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
        """Write link-table rows, or let a hook of the type write them its own way."""
        await self.tenancy.check_linked(entity_type, navigation, ids)
        hooks = self.hooks(entity_type)
        for hook in hooks:
            if await hook.write_link(
                entity_type, entity_id, navigation, ids, where, creating=creating
            ):
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
        for hook in hooks:
            await hook.linked(entity_type, entity_id, navigation, ids)

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
        """Insert DataArray rows of one shape for many streams; an answer per group, in order
        (the Observation's own bulk path: `observation_rows`)."""
        from cityhelix.hub.store.observation_rows import write_observation_rows

        return await write_observation_rows(self, components, groups)

    # ------------------------------------------------------------------ finish

    async def finish(self) -> None:
        """Run every hook's end-of-transaction work (derived times, rollups), in the order
        the hooks were first used: derived times before the rollups that read them."""
        for hook in list(self._hook_instances.values()):
            await hook.finish()

    # ------------------------------------------------------------------ update, delete

    async def update(
        self, entity_type: EntityType, entity_id: int, body: object, *, replace: bool
    ) -> None:
        """PATCH (`replace=False`) or PUT (`replace=True`) one entity, links included."""
        where = f"{entity_type.name}({entity_id})"
        if not isinstance(body, dict):
            raise BadRequest(f"{where}: expected a JSON object", field=where)
        await self.existing_id(entity_type, entity_id, where)
        if "@iot.id" in body and body["@iot.id"] != entity_id:
            raise BadRequest(f"{where}: @iot.id cannot be changed", field="@iot.id")
        await self.tenancy.check_change(entity_type, entity_id)
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
        hooks = self.hooks(entity_type)
        for hook in hooks:
            await hook.changing(entity_type, entity_id)
        for navigation in entity_type.navigations:
            if navigation.source_fk is None or navigation.name not in links:
                continue
            value = links.pop(navigation.name)
            if value is None:
                raise BadRequest(
                    f"{where}: {navigation.name} cannot be unset", field=navigation.name
                )
            target_id = await self.create(
                BY_NAME[navigation.target], value, nested=True, where=f"{where}/{navigation.name}"
            )
            columns[navigation.source_fk] = target_id
            await self.tenancy.check_linked(entity_type, navigation, [target_id])
        for hook in hooks:
            await hook.check_update(entity_type, entity_id, columns, links, where)
        if columns:
            await self.connection.execute(
                update(table).where(table.c.id == entity_id).values(columns)
            )
        await self._write_to_many_links(entity_type, entity_id, links, where, creating=False)
        for hook in hooks:
            await hook.changed(entity_type, entity_id)
        self.written.append(Written(entity_type, entity_id, "update"))

    async def delete(self, entity_type: EntityType, entity_id: int) -> None:
        """Delete one entity; the database cascades to what cannot live without it."""
        where = f"{entity_type.name}({entity_id})"
        await self.existing_id(entity_type, entity_id, where)
        await self.tenancy.check_change(entity_type, entity_id)
        hooks = self.hooks(entity_type)
        for hook in hooks:
            await hook.deleting(entity_type, entity_id)
        table = table_of(entity_type)
        await self.connection.execute(delete(table).where(table.c.id == entity_id))
        for hook in hooks:
            await hook.deleted(entity_type, entity_id)
        self.written.append(Written(entity_type, entity_id, "delete"))

    async def link(
        self, entity_type: EntityType, entity_id: int, navigation: Navigation, target_id: int
    ) -> None:
        """Add one link (`$ref` POST on a to-many, PUT on a to-one)."""
        where = f"{entity_type.name}({entity_id})/{navigation.name}/$ref"
        target = BY_NAME[navigation.target]
        await self.existing_id(target, target_id, where)
        if not navigation.to_many:
            await self.update(
                entity_type, entity_id, {navigation.name: {"@iot.id": target_id}}, replace=False
            )
            return
        await self.tenancy.check_change(entity_type, entity_id)
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
        """Remove one link (`$ref` DELETE); only link-table links can go without a delete,
        and not those that one side cannot lose (a MultiDatastream's ObservedProperties)."""
        where = f"{entity_type.name}({entity_id})/{navigation.name}/$ref"
        if navigation.link_table is None or _mandatory_link(navigation):
            raise BadRequest(
                f"{where}: this link is mandatory; link another entity or delete this one",
                field=navigation.name,
            )
        assert navigation.link_source and navigation.link_target and target_id is not None
        await self.tenancy.check_change(entity_type, entity_id)
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
        for hook in self.hooks(entity_type):
            await hook.linked(entity_type, entity_id, navigation, [target_id])
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

    # ------------------------------------------------------------------ checks

    async def existing_id(self, entity_type: EntityType, raw: object, where: str) -> int:
        """`raw` as the id of a stored `entity_type`; 404 (addressed) or 400 (linked) if none."""
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

    def note_known(self, entity_type: EntityType, entity_ids: Sequence[int]) -> None:
        """Entities proved to exist in this transaction (no need to look them up again)."""
        self._known.update((entity_type.table, entity_id) for entity_id in entity_ids)


def _check_required_links(
    entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
) -> None:
    """A new entity has every link the registry says it cannot exist without."""
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


def _mandatory_link(navigation: Navigation) -> bool:
    """A link-table link one of its two sides cannot lose (either direction)."""
    if navigation.required:
        return True
    target = BY_NAME[navigation.target]
    return any(
        inverse.required and inverse.link_table == navigation.link_table
        for inverse in target.navigations
    )


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


# the built-in hooks register themselves for their types on import
from cityhelix.hub.store import entity_hooks, observation_hooks, tasking_hooks  # noqa: E402, F401
