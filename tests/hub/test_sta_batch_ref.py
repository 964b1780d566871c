"""`$batch` (JSON, with atomicity groups and `$id` references) and `$ref` links."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.hub.factories import datastream, full_thing, location, observed_property, sensor, thing
from tests.hub.test_sta_write import row_counts

pytestmark = pytest.mark.asyncio


async def test_batch_runs_requests_and_resolves_references(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {
        "requests": [
            {"id": "t1", "method": "post", "url": "Things", "body": thing("batch thing")},
            {"id": "l1", "method": "post", "url": "$t1/Locations", "body": location()},
            {"id": "g1", "method": "get", "url": "$t1?$select=name"},
            {"id": "bad", "method": "get", "url": "Things(999999)"},
        ]
    }
    response = await client.post("/v1.1/$batch", json=body, headers=admin)
    assert response.status_code == 200
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert answers["t1"]["status"] == 201
    thing_url = answers["t1"]["headers"]["location"]
    assert answers["l1"]["status"] == 201
    assert answers["g1"]["status"] == 200 and answers["g1"]["body"]["name"] == "batch thing"
    assert answers["bad"]["status"] == 404
    locations = (await client.get(f"{thing_url}/Locations")).json()["value"]
    assert [loc["name"] for loc in locations] == ["Thu Dau Mot"]


async def test_batch_atomicity_group_is_all_or_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    before = await row_counts(engine)
    body = {
        "requests": [
            {
                "id": "a",
                "method": "post",
                "url": "Things",
                "body": thing("A"),
                "atomicityGroup": "g",
            },
            {
                "id": "b",
                "method": "post",
                "url": "Sensors",
                "body": sensor(),
                "atomicityGroup": "g",
            },
            {
                "id": "c",
                "method": "post",
                "url": "Things",
                "body": {"nom": "x"},
                "atomicityGroup": "g",
            },
            {"id": "d", "method": "post", "url": "Things", "body": thing("D"), "dependsOn": ["c"]},
        ]
    }
    response = await client.post("/v1.1/$batch", json=body, headers=admin)
    answers = {r["id"]: r for r in response.json()["responses"]}
    assert {answers[k]["status"] for k in "abc"} == {400}
    assert answers["d"]["status"] == 424
    after = await row_counts(engine)
    after["audit_log"] = before["audit_log"]
    assert after == before
    ok = {
        "requests": [
            {
                "id": "t",
                "method": "post",
                "url": "Things",
                "body": thing("T"),
                "atomicityGroup": "g",
            },
            {
                "id": "ds",
                "method": "post",
                "url": "Datastreams",
                "atomicityGroup": "g",
                "body": datastream(
                    Thing={"@iot.id": "$t"}, Sensor=sensor(), ObservedProperty=observed_property()
                ),
            },
        ]
    }
    answers = (await client.post("/v1.1/$batch", json=ok, headers=admin)).json()["responses"]
    assert [a["status"] for a in answers] == [201, 201]
    assert (await row_counts(engine))["datastreams"] == 1


async def test_batch_needs_auth_for_writes_and_rejects_malformed(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = {"requests": [{"id": "t", "method": "post", "url": "Things", "body": thing()}]}
    assert (await client.post("/v1.1/$batch", json=body)).status_code == 401
    for bad in (
        {"requests": "x"},
        {"requests": [{"id": 1, "method": "get", "url": "Things"}]},
        {"requests": [{"id": "a", "method": "fly", "url": "Things"}]},
    ):
        assert (await client.post("/v1.1/$batch", json=bad, headers=admin)).status_code == 400


async def test_ref_read_link_and_unlink(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    created = (await client.post("/v1.1/Things", json=full_thing(), headers=admin)).json()
    thing_url = created["@iot.selfLink"]
    refs = (await client.get(f"{thing_url}/Datastreams/$ref")).json()
    assert list(refs["value"][0]) == ["@iot.selfLink"]
    extra = (await client.post("/v1.1/Locations", json=location("Ben Cat"), headers=admin)).json()
    linked = await client.post(
        f"{thing_url}/Locations/$ref", json={"@iot.selfLink": extra["@iot.selfLink"]}, headers=admin
    )
    assert linked.status_code == 200
    names = sorted(
        loc["name"] for loc in (await client.get(f"{thing_url}/Locations")).json()["value"]
    )
    assert names == ["Ben Cat", "Thu Dau Mot"]
    unlinked = await client.delete(f"{thing_url}/Locations({extra['@iot.id']})/$ref", headers=admin)
    assert unlinked.status_code == 200
    names = [loc["name"] for loc in (await client.get(f"{thing_url}/Locations")).json()["value"]]
    assert names == ["Thu Dau Mot"]
    assert (await client.get(extra["@iot.selfLink"])).status_code == 200  # unlinked, not deleted
    stream = refs["value"][0]["@iot.selfLink"]
    other = (await client.post("/v1.1/Things", json=thing("other"), headers=admin)).json()
    moved = await client.put(
        f"{stream}/Thing/$ref", json={"@iot.id": other["@iot.id"]}, headers=admin
    )
    assert moved.status_code == 200
    assert (await client.get(f"{stream}/Thing")).json()["name"] == "other"
    mandatory = await client.delete(f"{stream}/Thing/$ref", headers=admin)
    assert mandatory.status_code == 400
    dangling = await client.post(
        f"{thing_url}/Locations/$ref", json={"@iot.id": 999999}, headers=admin
    )
    assert dangling.status_code == 400


MULTIPART_BATCH = (
    "--batch_1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n\r\n"
    "GET Things?$count=true HTTP/1.1\r\n"
    "Host: testserver\r\n\r\n\r\n"
    "--batch_1\r\n"
    "Content-Type: multipart/mixed; boundary=changeset_1\r\n\r\n"
    "--changeset_1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n\r\n"
    "POST Things HTTP/1.1\r\n"
    "Host: testserver\r\n"
    "Content-Type: application/json\r\n\r\n"
    '{"name": "multipart thing", "description": "via changeset"}\r\n'
    "--changeset_1\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 2\r\n\r\n"
    "POST $1/Locations HTTP/1.1\r\n"
    "Host: testserver\r\n"
    "Content-Type: application/json\r\n\r\n"
    '{"name": "spot", "encodingType": "application/geo+json", '
    '"location": {"type": "Point", "coordinates": [106.7, 11.0]}}\r\n'
    "--changeset_1--\r\n"
    "--batch_1--\r\n"
)


async def test_multipart_batch_with_changeset(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await client.post(
        "/v1.1/$batch",
        content=MULTIPART_BATCH.encode(),
        headers=admin | {"Content-Type": "multipart/mixed; boundary=batch_1"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/mixed; boundary=")
    text = response.text
    assert text.count("HTTP/1.1 200 OK") == 1 and text.count("HTTP/1.1 201 Created") == 2
    assert "Content-ID: 1" in text and "Content-ID: 2" in text
    things = (await client.get("/v1.1/Things")).json()["value"]
    assert [t["name"] for t in things] == ["multipart thing"]
    located = (await client.get(f"{things[0]['@iot.selfLink']}/Locations")).json()["value"]
    assert [loc["name"] for loc in located] == ["spot"]
