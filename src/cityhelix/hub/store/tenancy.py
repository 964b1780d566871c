"""Who may write what: a tenant writes only its own Things and what hangs under them.

Driven by the registry's `Tenancy` of each type (the links from an entity to its owning
Thing), so every type is checked by the same few functions and a new type only states
its owner in `hub.model`. Staff roles write everything; other roles write nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.auth.principal import Principal
from cityhelix.hub.errors import Forbidden
from cityhelix.hub.model import BY_NAME, OWNER_TYPE, EntityType, Navigation
from cityhelix.hub.query.compile import steps_condition, table_of
from cityhelix.hub.query.path import Step

_OWNER_COLUMN: str = OWNER_TYPE.tenancy.owner_column or ""
assert _OWNER_COLUMN, "the registry names no owner column"


class TenantRules:
    """The tenancy checks of one Writer, with the owners it read cached for its transaction."""

    def __init__(self, connection: AsyncConnection, principal: Principal) -> None:
        self.connection = connection
        self.principal = principal
        #: owner entity id -> the tenant owning it (None: staff only)
        self.owners: dict[int, int | None] = {}

    # ------------------------------------------------------------------ creating

    def check_catalogue(self, entity_type: EntityType, *, nested: bool) -> None:
        """A tenant creates a shared catalogue entity only inside a deep insert."""
        if self.principal.is_tenant and entity_type.tenancy.shared and not nested:
            raise Forbidden(f"a tenant creates {entity_type.set_name} only inside a Thing it owns")

    def stamp_owner(self, entity_type: EntityType, columns: dict[str, Any]) -> None:
        """A Thing a tenant creates is the tenant's."""
        column = entity_type.tenancy.owner_column
        if column is not None and self.principal.is_tenant:
            columns[column] = self.principal.user_id

    def note_created(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        column = entity_type.tenancy.owner_column
        if column is not None:
            self.owners[entity_id] = columns.get(column)

    async def check_create(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], nested: bool
    ) -> None:
        """May the principal create this entity, linked as `columns` and `links` say?"""
        if self.principal.writes_all_of_hub:
            return
        self._refuse_non_tenant()
        tenancy = entity_type.tenancy
        if tenancy.shared or () in tenancy.paths:
            return  # catalogue (checked by check_catalogue), or a new Thing of its own
        for path in tenancy.paths:
            first = _navigation(entity_type, path[0])
            if first.source_fk is not None:
                linked = columns.get(first.source_fk)
                if linked is None:
                    continue  # the other alternative (a MultiDatastream's Observation)
                await self.check_owned(
                    await self._owners_from(BY_NAME[first.target], linked, path[1:])
                )
                return
            if nested or links.get(first.name):
                return  # a to-many owner link: checked as each owner is linked
        raise Forbidden(f"a tenant creates {entity_type.set_name} only under a Thing it owns")

    # ------------------------------------------------------------------ changing

    async def check_change(self, entity_type: EntityType, entity_id: int) -> None:
        """May the principal change (update, link, delete) this stored entity?"""
        if self.principal.writes_all_of_hub:
            return
        tenancy = entity_type.tenancy
        if not self.principal.is_tenant or tenancy.shared:
            raise Forbidden(
                f"the role {self.principal.role.value!r} may not change {entity_type.set_name}"
            )
        owners: list[int] = []
        for path in tenancy.paths:
            owners += await self._owners_from(entity_type, entity_id, path)
        if not owners:
            raise Forbidden(
                f"a tenant may not change a {entity_type.name} that no Thing of its own uses"
            )
        await self.check_owned(owners)

    async def check_linked(
        self, entity_type: EntityType, navigation: Navigation, target_ids: Iterable[int]
    ) -> None:
        """Linking along an owner link (a Location to Things, a Datastream to another Thing)
        needs the linked owners to be the principal's too."""
        if self.principal.writes_all_of_hub:
            return
        for path in entity_type.tenancy.paths:
            if path and path[0] == navigation.name:
                target = BY_NAME[navigation.target]
                for target_id in target_ids:
                    await self.check_owned(await self._owners_from(target, target_id, path[1:]))

    async def check_owned(self, owner_ids: Iterable[int]) -> None:
        """Every one of `owner_ids` (Things) belongs to the principal."""
        if self.principal.writes_all_of_hub:
            return
        for owner_id in owner_ids:
            if owner_id not in self.owners:
                table = table_of(OWNER_TYPE)
                self.owners[owner_id] = await self.connection.scalar(
                    select(table.c[_OWNER_COLUMN]).where(table.c.id == owner_id)
                )
            owner = self.owners[owner_id]
            if owner is None or owner != self.principal.user_id:
                raise Forbidden(
                    f"{OWNER_TYPE.name} {owner_id} belongs to another owner; "
                    "a tenant writes only its own"
                )

    def refuse_non_tenant(self) -> None:
        """Staff write everything, tenants their own; any other role writes nothing."""
        if not self.principal.writes_all_of_hub:
            self._refuse_non_tenant()

    def _refuse_non_tenant(self) -> None:
        if not self.principal.is_tenant:
            raise Forbidden(
                f"the role {self.principal.role.value!r} may not write SensorThings data"
            )

    async def _owners_from(
        self, entity_type: EntityType, entity_id: int, path: tuple[str, ...]
    ) -> list[int]:
        """The owner ids reached from one entity along `path` (navigation names)."""
        if not path:
            return [entity_id]
        steps = [Step(entity_type, entity_id, None)]
        for name in path:
            navigation = _navigation(steps[-1].entity_type, name)
            steps.append(Step(BY_NAME[navigation.target], None, navigation))
        table = table_of(OWNER_TYPE)
        rows = await self.connection.execute(
            select(table.c.id, table.c[_OWNER_COLUMN]).where(steps_condition(tuple(steps)))
        )
        found = []
        for owner_id, owner in rows:
            self.owners.setdefault(owner_id, owner)
            found.append(owner_id)
        return found


def _navigation(entity_type: EntityType, name: str) -> Navigation:
    navigation = entity_type.find_navigation(name)
    assert navigation is not None, f"{entity_type.name} has no link {name!r}"
    return navigation
