"""Ids beyond the 64-bit range name nothing: 404 or 400 like any missing id, never a 500.

The drivers fail on such an integer (SQLite: OverflowError; asyncpg: out of range) rather
than find no row, so the hub must not hand one to them.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.hub.factories import full_thing
from tests.hub.test_sta_write import row_counts

pytestmark = pytest.mark.asyncio
HUGE = 2**64 + 5


@pytest.mark.parametrize(
    "path",
    [f"/v1.1/Things({HUGE})", f"/v1.1/Datastreams({HUGE})/Observations", f"/v1.1/Things({2**63})"],
)
async def test_a_huge_id_in_the_path_is_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404, response.text


async def test_huge_ids_in_bodies_are_400_and_write_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).status_code == 201
    before = await row_counts(engine)
    link = {"@iot.id": HUGE}
    requests = [
        ("/v1.1/Observations", {"result": 1, "Datastream": link}),
        ("/v1.1/Things", {"name": "t", "description": "d", "Locations": [link]}),
        ("/v1.1/Things(1)/Locations/$ref", link),
        (
            "/v1.1/CreateObservations",
            [{"Datastream": link, "components": ["result"], "dataArray": [[1]]}],
        ),
    ]
    for path, body in requests:
        response = await client.post(path, json=body, headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["message"]
    assert await row_counts(engine) == before


async def test_the_nul_character_is_400_wherever_it_comes(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    assert (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).status_code == 201
    before = await row_counts(engine)
    found = await client.get("/v1.1/Things", params={"$filter": "name eq 'a\x00b'"})
    assert found.status_code == 400, found.text
    assert "NUL" in found.json()["message"]
    for body in (
        {"name": "a\x00b", "description": "d"},
        {**full_thing(), "properties": {"k\x00": 1}},
    ):
        response = await client.post("/v1.1/Things", json=body, headers=admin)
        assert response.status_code == 400, response.text
        assert "NUL" in response.json()["message"]
    # the text "\u0000" spelled out (an escaped backslash) is an ordinary string
    spelled = await client.post(
        "/v1.1/Things", json={"name": "a\\u0000b", "description": "d"}, headers=admin
    )
    assert spelled.status_code == 201, spelled.text
    assert spelled.json()["name"] == "a\\u0000b"
    after = await row_counts(engine)
    assert after["things"] == before["things"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
