"""The writer's hooks keyed by entity type: what a new type (Tasking's) plugs in instead of
editing the writer. A hook registered for a type sees each write of it, through HTTP, with
the writer's own transaction: a hook that refuses undoes the whole request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.model import EntityType
from cityhelix.hub.store.hooks import EntityHooks, register_hooks, unregister_hooks
from tests.hub.factories import location, thing
from tests.hub.test_sta_write import post

pytestmark = pytest.mark.asyncio

CALLS: list[tuple[str, Any]] = []


class RecordingHooks(EntityHooks):
    """Records what the writer calls, and refuses a Thing named "refused"."""

    async def check_insert(
        self, entity_type: EntityType, columns: dict[str, Any], links: dict[str, Any], where: str
    ) -> None:
        CALLS.append(("check_insert", columns["name"]))
        if columns["name"] == "refused":
            raise BadRequest(f"{where}: refused by a hook", field="name")

    async def inserted(
        self, entity_type: EntityType, entity_id: int, columns: dict[str, Any]
    ) -> None:
        CALLS.append(("inserted", entity_id))

    async def changing(self, entity_type: EntityType, entity_id: int) -> None:
        CALLS.append(("changing", entity_id))

    async def changed(self, entity_type: EntityType, entity_id: int) -> None:
        CALLS.append(("changed", entity_id))

    async def deleting(self, entity_type: EntityType, entity_id: int) -> None:
        CALLS.append(("deleting", entity_id))

    async def deleted(self, entity_type: EntityType, entity_id: int) -> None:
        CALLS.append(("deleted", entity_id))

    async def finish(self) -> None:
        CALLS.append(("finish", None))


@pytest.fixture
def recording() -> Iterator[list[tuple[str, Any]]]:
    CALLS.clear()
    register_hooks(RecordingHooks, "Thing")
    try:
        yield CALLS
    finally:
        unregister_hooks(RecordingHooks, "Thing")


async def test_a_hook_registered_for_a_type_sees_every_write_of_it(
    client: httpx.AsyncClient, admin: dict[str, str], recording: list[tuple[str, Any]]
) -> None:
    thing_id = (await post(client, "/v1.1/Things", thing("hooked"), admin))["@iot.id"]
    assert recording == [("check_insert", "hooked"), ("inserted", thing_id), ("finish", None)]
    recording.clear()
    patched = await client.patch(f"/v1.1/Things({thing_id})", json={"name": "x"}, headers=admin)
    assert patched.status_code == 200
    assert recording == [("changing", thing_id), ("changed", thing_id), ("finish", None)]
    recording.clear()
    assert (await client.delete(f"/v1.1/Things({thing_id})", headers=admin)).status_code == 200
    assert recording == [("deleting", thing_id), ("deleted", thing_id)]


async def test_a_hook_that_refuses_undoes_the_whole_request(
    client: httpx.AsyncClient, admin: dict[str, str], recording: list[tuple[str, Any]]
) -> None:
    refused = await client.post("/v1.1/Things", json=thing("refused"), headers=admin)
    assert refused.status_code == 400 and refused.json()["field"] == "name"
    # inside a deep insert: the Location written before the refused Thing goes too
    deep = location("site") | {"Things": [thing("refused")]}
    response = await client.post("/v1.1/Locations", json=deep, headers=admin)
    assert response.status_code == 400
    assert (await client.get("/v1.1/Things")).json()["value"] == []
    assert (await client.get("/v1.1/Locations")).json()["value"] == []


async def test_an_unregistered_hook_is_no_longer_called(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    CALLS.clear()
    await post(client, "/v1.1/Things", thing("plain"), admin)
    assert CALLS == []
