"""Who may write what: the 401/403 matrix of the SensorThings API, tenants included."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.conftest import bearer
from tests.hub.factories import datastream, full_thing, location, observed_property, sensor, thing

pytestmark = pytest.mark.asyncio

WRITES = [
    ("POST", "/v1.1/Things"),
    ("PATCH", "/v1.1/Things(1)"),
    ("PUT", "/v1.1/Things(1)"),
    ("DELETE", "/v1.1/Things(1)"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
async def test_writes_without_or_with_unknown_token_are_401(
    client: httpx.AsyncClient, method: str, url: str
) -> None:
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Token abc"}):
        response = await client.request(method, url, json=thing(), headers=headers)
        assert response.status_code == 401, (method, url, headers)
        assert response.json()["code"] == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("role", ["department", "analyst", "public"])
async def test_roles_without_hub_rights_get_403(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str], role: str
) -> None:
    existing = (await client.post("/v1.1/Things", json=thing(), headers=admin)).json()
    headers = bearer(tokens[role])
    assert (await client.post("/v1.1/Things", json=thing(), headers=headers)).status_code == 403
    url = existing["@iot.selfLink"]
    assert (await client.patch(url, json={"name": "x"}, headers=headers)).status_code == 403
    assert (await client.put(url, json=thing(), headers=headers)).status_code == 403
    assert (await client.delete(url, headers=headers)).status_code == 403
    assert (await client.get(url, headers=headers)).status_code == 200


@pytest.mark.parametrize("role", ["admin", "operator"])
async def test_admin_and_operator_write_everything(
    client: httpx.AsyncClient, tokens: dict[str, str], role: str
) -> None:
    headers = bearer(tokens[role])
    created = await client.post("/v1.1/Things", json=full_thing(), headers=headers)
    assert created.status_code == 201
    assert (await client.post("/v1.1/Sensors", json=sensor(), headers=headers)).status_code == 201
    url = created.json()["@iot.selfLink"]
    assert (await client.patch(url, json={"name": "y"}, headers=headers)).status_code == 200
    assert (await client.delete(url, headers=headers)).status_code == 200


async def test_tenant_writes_its_own_things_and_what_hangs_under_them(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    mine = bearer(tokens["tenant"])
    created = await client.post("/v1.1/Things", json=full_thing(), headers=mine)
    assert created.status_code == 201
    thing_id = created.json()["@iot.id"]
    streams = (await client.get(f"/v1.1/Things({thing_id})/Datastreams")).json()["value"]
    stream_url = streams[0]["@iot.selfLink"]
    observation = await client.post(f"{stream_url}/Observations", json={"result": 5}, headers=mine)
    assert observation.status_code == 201
    assert (await client.patch(stream_url, json={"name": "mine"}, headers=mine)).status_code == 200
    more = datastream(
        "second", Thing={"@iot.id": thing_id}, Sensor=sensor(), ObservedProperty=observed_property()
    )
    assert (await client.post("/v1.1/Datastreams", json=more, headers=mine)).status_code == 201
    nested = await client.post(
        f"/v1.1/Things({thing_id})/Datastreams",
        json=datastream("third", Sensor={"@iot.id": 1}, ObservedProperty={"@iot.id": 1}),
        headers=mine,
    )
    assert nested.status_code == 201
    moved = await client.post(
        f"/v1.1/Things({thing_id})/Locations", json=location("Ben Cat"), headers=mine
    )
    assert moved.status_code == 201
    assert (
        await client.delete(observation.json()["@iot.selfLink"], headers=mine)
    ).status_code == 200
    assert (await client.delete(created.json()["@iot.selfLink"], headers=mine)).status_code == 200


async def test_tenant_cannot_touch_another_owners_things(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    staff_thing = (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).json()
    other = (
        await client.post(
            "/v1.1/Things", json=full_thing("theirs"), headers=bearer(tokens["tenant2"])
        )
    ).json()
    mine = bearer(tokens["tenant"])
    for victim in (staff_thing, other):
        url = victim["@iot.selfLink"]
        assert (await client.patch(url, json={"name": "hijack"}, headers=mine)).status_code == 403
        assert (await client.delete(url, headers=mine)).status_code == 403
        stream = (await client.get(f"{url}/Datastreams")).json()["value"][0]
        posted = await client.post(
            f"{stream['@iot.selfLink']}/Observations", json={"result": 1}, headers=mine
        )
        assert posted.status_code == 403
        linked = datastream(
            "sneaky",
            Thing={"@iot.id": victim["@iot.id"]},
            Sensor={"@iot.id": 1},
            ObservedProperty={"@iot.id": 1},
        )
        assert (
            await client.post("/v1.1/Datastreams", json=linked, headers=mine)
        ).status_code == 403
        assert (
            await client.post(f"{url}/Locations", json=location(), headers=mine)
        ).status_code == 403
    assert (await client.post("/v1.1/Sensors", json=sensor(), headers=mine)).status_code == 403
    assert (
        await client.patch("/v1.1/Sensors(1)", json={"name": "x"}, headers=mine)
    ).status_code == 403
    names = {t["name"] for t in (await client.get("/v1.1/Things")).json()["value"]}
    assert "hijack" not in names


async def test_basic_auth_with_name_and_token_is_accepted(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    good = base64.b64encode(f"user-operator:{tokens['operator']}".encode()).decode()
    response = await client.post(
        "/v1.1/Things", json=thing(), headers={"Authorization": f"Basic {good}"}
    )
    assert response.status_code == 201
    wrong_name = base64.b64encode(f"user-tenant:{tokens['operator']}".encode()).decode()
    refused = await client.post(
        "/v1.1/Things", json=thing(), headers={"Authorization": f"Basic {wrong_name}"}
    )
    assert refused.status_code == 401
