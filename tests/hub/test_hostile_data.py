"""Hostile writes that used to poison the data hub: times the databases cannot hold, JSON
too deep to be written back, updates that skipped the checks of a create.

Each case runs through HTTP on both backends; what is refused writes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from tests.conftest import ADMIN_TOKEN, POSTGRES_ADMIN_DSN
from tests.hub.factories import location, make_datastream, observed_property, sensor, thing
from tests.served import served

OM = "http://www.opengis.net/def/observationType/OGC-OM/2.0/"


def _nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


async def _count(client: httpx.AsyncClient, path: str) -> int:
    response = await client.get(path, params={"$count": "true", "$top": "0"})
    assert response.status_code == 200, response.text
    return int(response.json()["@iot.count"])


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00Z",  # a client's "minimum date": -infinity to asyncpg
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59Z",  # a month whose partition would end in year 10000
        "9999-12-31T23:59:59.999999Z",  # infinity to asyncpg
        "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
    ],
)
async def test_times_the_hub_cannot_store_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str], moment: str
) -> None:
    stream = await make_datastream(client, admin)
    for field in ("phenomenonTime", "resultTime"):
        body = {"phenomenonTime": "2026-01-01T00:00:00Z", "result": 1}
        body[field] = moment
        response = await client.post(
            f"/v1.1/Datastreams({stream})/Observations", json=body, headers=admin
        )
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field
        assert "outside the times the hub stores" in response.json()["message"]
    interval = {"phenomenonTime": f"2026-01-01T00:00:00Z/{moment}", "result": 1}
    response = await client.post(
        f"/v1.1/Datastreams({stream})/Observations", json=interval, headers=admin
    )
    assert response.status_code == 400, response.text
    data_array = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result"],
            "dataArray": [[moment, 1]],
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=data_array, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json() == ["error"]
    assert await _count(client, "/v1.1/Observations") == 0


async def test_years_before_1000_are_written_back_with_four_digits(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)
    response = await client.post(
        f"/v1.1/Datastreams({stream})/Observations",
        json={"phenomenonTime": "0500-03-01T10:00:00Z", "result": 1},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    assert response.json()["phenomenonTime"] == "0500-03-01T10:00:00Z"
    read = await client.get(response.headers["location"])
    assert read.json()["phenomenonTime"] == "0500-03-01T10:00:00Z"


@pytest.mark.parametrize("levels", [65, 253, 400])
async def test_json_deeper_than_the_limit_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, admin: dict[str, str], levels: int
) -> None:
    body = thing("deep", properties=_nested(levels))
    response = await client.post("/v1.1/Things", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert "deeper than 64 levels" in response.json()["message"]
    assert await _count(client, "/v1.1/Things") == 0
    listing = await client.get("/v1.1/Things")
    assert listing.status_code == 200


async def test_json_patch_cannot_build_a_value_deeper_than_the_limit(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Each operation's value is shallow enough; their sum is not."""
    created = await client.post(
        "/v1.1/Things", json=thing("t", properties=_nested(40)), headers=admin
    )
    assert created.status_code == 201, created.text
    path = "/properties" + "/a" * 38
    patch = [{"op": "add", "path": path + "/b", "value": _nested(40)}]
    response = await client.patch(
        created.headers["location"],
        content=orjson.dumps(patch),
        headers={**admin, "content-type": "application/json-patch+json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "properties"
    assert (await client.get("/v1.1/Things")).status_code == 200


async def test_the_deepest_accepted_value_reads_back_with_expansions(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """What is accepted is readable, inside the deepest $expand the parser takes."""
    stream = await make_datastream(client, admin)
    things = (await client.get("/v1.1/Things")).json()["value"]
    patched = await client.patch(
        f"/v1.1/Things({things[0]['@iot.id']})",
        json={"properties": _nested(63)},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    expand = "Thing"
    for _ in range(15):
        expand = f"Datastreams($expand=Thing($expand={expand}))"
    response = await client.get(f"/v1.1/Datastreams({stream})", params={"$expand": expand})
    assert response.status_code in (200, 400), response.text
    assert (await client.get("/v1.1/Things")).status_code == 200


async def _multi_datastream(client: httpx.AsyncClient, admin: dict[str, str]) -> str:
    unit = {"name": "degree Celsius", "symbol": "degC", "definition": "ucum:Cel"}
    body = thing(
        "weather",
        MultiDatastreams=[
            {
                "name": "weather",
                "description": "temperature and humidity",
                "unitOfMeasurements": [unit, unit],
                "multiObservationDataTypes": [OM + "OM_Measurement"] * 2,
                "Sensor": sensor(),
                "ObservedProperties": [observed_property("T"), observed_property("RH")],
            }
        ],
    )
    created = await client.post("/v1.1/Things", json=body, headers=admin)
    assert created.status_code == 201, created.text
    listing = await client.get("/v1.1/MultiDatastreams")
    return f"/v1.1/MultiDatastreams({listing.json()['value'][0]['@iot.id']})"


async def test_multi_datastream_update_keeps_one_unit_per_observed_property(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    url = await _multi_datastream(client, admin)
    unit = {"name": "kelvin", "symbol": "K", "definition": "ucum:K"}
    for change, field in (
        ({"unitOfMeasurements": [unit, unit, unit]}, "unitOfMeasurements"),
        ({"multiObservationDataTypes": [OM + "OM_Measurement"]}, "multiObservationDataTypes"),
    ):
        response = await client.patch(url, json=change, headers=admin)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == field
    same = await client.patch(url, json={"unitOfMeasurements": [unit, unit]}, headers=admin)
    assert same.status_code == 200, same.text
    assert len((await client.get(url)).json()["unitOfMeasurements"]) == 2


async def test_results_are_checked_against_the_stream_type_on_create_and_update(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)  # an OM_Measurement stream
    url = f"/v1.1/Datastreams({stream})/Observations"
    for result in ([1, 2], {"a": 1}, [[1]], []):
        body = {"phenomenonTime": "2026-01-01T00:00:00Z", "result": result}
        response = await client.post(url, json=body, headers=admin)
        assert response.status_code == 400, (result, response.text)
        assert response.json()["field"] == "result"
    ok = await client.post(url, json={"result": 12.5}, headers=admin)
    assert ok.status_code == 201, ok.text
    response = await client.patch(ok.headers["location"], json={"result": [1, 2]}, headers=admin)
    assert response.status_code == 400, response.text
    assert (await client.get(ok.headers["location"])).json()["result"] == 12.5
    batch = {
        "requests": [
            {
                "id": "1",
                "method": "post",
                "url": f"Datastreams({stream})/Observations",
                "body": {"result": [3]},
            }
        ]
    }
    answered = await client.post("/v1.1/$batch", json=batch, headers=admin)
    assert answered.json()["responses"][0]["status"] == 400
    assert await _count(client, "/v1.1/Observations") == 1


async def _insert_infinite_rows(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        stream = await connection.fetchval("SELECT min(id) FROM datastreams")
        feature = await connection.fetchval("SELECT min(id) FROM features_of_interest")
        for moment in ("-infinity", "infinity", "0001-01-01 00:00:00+00"):
            await connection.execute(
                "INSERT INTO observations (phenomenon_time_start, result_type, result_number,"
                " datastream_id, feature_of_interest_id)"
                " VALUES ($1::text::timestamptz, 1, 1, $2, $3)",
                moment,
                stream,
                feature,
            )
    finally:
        await connection.close()


def test_postgresql_serve_starts_whatever_rows_exist() -> None:
    """Rows of -infinity and infinity (written before the hub refused such times, or by
    hand) no longer stop `serve` at its partition maintenance."""

    async def database(statement: str) -> None:
        admin = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            await admin.execute(statement)
        finally:
            await admin.close()

    name = f"cityhelix_hostile_{uuid.uuid4().hex[:8]}"
    asyncio.run(database(f'CREATE DATABASE "{name}"'))
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    url = f"postgresql+asyncpg://{host_part}/{name}"
    env = {"CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN}
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    try:
        with served(url, **env) as base:
            stream = thing(
                "t",
                Datastreams=[
                    {
                        "name": "d",
                        "description": "d",
                        "observationType": OM + "OM_Measurement",
                        "unitOfMeasurement": {"name": "n", "symbol": "s", "definition": "d"},
                        "Sensor": sensor(),
                        "ObservedProperty": observed_property(),
                    }
                ],
                Locations=[location()],
            )
            assert httpx.post(f"{base}/v1.1/Things", json=stream, headers=auth).is_success
            reading = {"result": 1, "Datastream": {"@iot.id": 1}}
            assert httpx.post(f"{base}/v1.1/Observations", json=reading, headers=auth).is_success
        asyncio.run(_insert_infinite_rows(f"postgresql://{host_part}/{name}"))
        with served(url, **env) as base:
            listing = httpx.get(f"{base}/v1.1/Observations", params={"$count": "true"})
            assert listing.status_code == 200, listing.text
            assert listing.json()["@iot.count"] == 4
    finally:
        asyncio.run(database(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
