"""POST /CreateObservations with DataArray groups: per-row answers, bad rows refused."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import bearer
from tests.hub.factories import full_thing
from tests.hub.test_sta_write import row_counts

pytestmark = pytest.mark.asyncio


async def _stream(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    created = (
        await client.post("/v1.1/Things", json=full_thing(observations=0), headers=headers)
    ).json()
    streams = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()
    return int(streams["value"][0]["@iot.id"])


async def test_create_observations_answers_a_link_or_error_per_row(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await _stream(client, admin)
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result", "resultTime"],
            "dataArray": [
                ["2026-11-01T00:00:00Z", 20, "2026-11-01T00:00:05Z"],
                ["not a time", 21, None],
                ["2026-11-01T00:20:00Z", 22.5, None],
                ["2026-11-01T00:30:00Z"],
            ],
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201
    answers = response.json()
    assert answers[1] == "error" and answers[3] == "error"
    assert answers[0].startswith("http://testserver/v1.1/Observations(")
    first = (await client.get(answers[0])).json()
    assert first["result"] == 20 and first["resultTime"] == "2026-11-01T00:00:05Z"
    third = (await client.get(answers[2])).json()
    assert third["result"] == 22.5 and third["phenomenonTime"] == "2026-11-01T00:20:00Z"
    listed = (
        await client.get(f"/v1.1/Datastreams({stream})/Observations", params={"$count": "true"})
    ).json()
    assert listed["@iot.count"] == 2
    foi = {
        (await client.get(f"{a}/FeatureOfInterest")).json()["@iot.id"]
        for a in (answers[0], answers[2])
    }
    assert len(foi) == 1
    ds = (await client.get(f"/v1.1/Datastreams({stream})")).json()
    assert ds["phenomenonTime"] == "2026-11-01T00:00:00Z/2026-11-01T00:20:00Z"


@pytest.mark.parametrize(
    "body",
    [
        {"Datastream": {"@iot.id": 1}},
        [{"components": ["result"], "dataArray": [[1]]}],
        [{"Datastream": {"@iot.id": 1}, "components": ["result", "colour"], "dataArray": [[1, 2]]}],
        [{"Datastream": {"@iot.id": 1}, "components": "result", "dataArray": [[1]]}],
        [{"Datastream": {"@iot.id": 999999}, "components": ["result"], "dataArray": [[1]]}],
    ],
)
async def test_malformed_create_observations_is_400_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, body: object
) -> None:
    await _stream(client, admin)
    before = await row_counts(engine)
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 400, response.text
    after = await row_counts(engine)
    assert after == before


async def test_tenant_cannot_bulk_post_to_others_datastream(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await _stream(client, admin)
    body = [{"Datastream": {"@iot.id": stream}, "components": ["result"], "dataArray": [[1], [2]]}]
    assert (await client.post("/v1.1/CreateObservations", json=body)).status_code == 401
    response = await client.post(
        "/v1.1/CreateObservations", json=body, headers=bearer(tokens["tenant"])
    )
    assert response.status_code == 403
    assert (await row_counts(engine))["observations"] == 0
