"""Hooks of SensorThings Tasking (OGC 17-079r1): a TaskingCapability's parameters are a
SWE Common DataRecord, and a Task's parameters must fit its capability's record.

A Task without a `creationTime` gets the writer's time. A Task is checked after every
change that could break the fit (its own update, a move to another capability), so no
path through the writer stores a Task its capability would refuse.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cityhelix.hub.errors import NotFound
from cityhelix.hub.model import EntityType
from cityhelix.hub.store.hooks import EntityHooks, register_hooks
from cityhelix.hub.swe_common import check_data_record, check_values
from cityhelix.hub.tables import tasking_capabilities, tasks


class TaskingCapabilityRecord(EntityHooks):
    """A TaskingCapability's `taskingParameters` is a well-formed SWE Common DataRecord."""

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        check_data_record(columns.get("tasking_parameters"), where)

    async def check_update(
        self,
        entity_type: EntityType,
        entity_id: int,
        columns: dict[str, Any],
        links: dict[str, Any],
        where: str,
    ) -> None:
        if "tasking_parameters" in columns:
            check_data_record(columns["tasking_parameters"], where)


class TaskParameters(EntityHooks):
    """A Task's `taskingParameters` fit its TaskingCapability's DataRecord (400 naming the
    parameter otherwise); its `creationTime` defaults to now."""

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        if columns.get("creation_time") is None:
            columns["creation_time"] = self.writer.now
        capability_id = columns.get("tasking_capability_id")
        if capability_id is None:
            return  # the writer refuses a Task without its capability next
        check_values(await self._record(capability_id), columns.get("tasking_parameters"), where)

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        row = (
            await self.writer.connection.execute(
                select(tasks.c.tasking_capability_id, tasks.c.tasking_parameters).where(
                    tasks.c.id == entity_id
                )
            )
        ).one()
        record = await self._record(row.tasking_capability_id)
        check_values(record, row.tasking_parameters, f"Task({entity_id})")

    async def _record(self, capability_id: int) -> dict[str, Any]:
        record = await self.writer.connection.scalar(
            select(tasking_capabilities.c.tasking_parameters).where(
                tasking_capabilities.c.id == capability_id
            )
        )
        if record is None:
            raise NotFound(f"no TaskingCapability with @iot.id {capability_id}")
        assert isinstance(record, dict)
        return record


register_hooks(TaskingCapabilityRecord, "TaskingCapability")
register_hooks(TaskParameters, "Task")
