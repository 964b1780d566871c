"""DataArrays both ways (OGC 18-088 clause 14.3): `GET ...Observations?$resultFormat=dataArray`
with exact answers, grouped by Datastream and MultiDatastream, with every query option that
applies; and `POST /CreateObservations` with per-row answers and bad bodies refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import bearer
from tests.hub.factories import (
    MEASUREMENT,
    full_thing,
    make_datastream,
    observed_property,
    sensor,
)
from tests.hub.test_sta_write import row_counts

pytestmark = pytest.mark.asyncio

OM_OBSERVATION = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Observation"


async def test_create_observations_refuses_the_rows_whose_result_misses_the_observation_type(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin, observation_type=MEASUREMENT)
    rows: list[list[Any]] = [
        ["2026-11-01T00:00:00Z", 1.5],
        ["2026-11-01T00:01:00Z", {"a": 1}],
        ["2026-11-01T00:02:00Z", [1, 2]],
        ["2026-11-01T00:03:00Z", 7],
    ]
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    answers = response.json()
    assert answers[1] == "error" and answers[2] == "error"
    stored = (await client.get(f"/v1.1/Datastreams({stream})/Observations")).json()["value"]
    assert sorted(o["result"] for o in stored) == [1.5, 7]


async def test_create_observations_answers_a_link_or_error_per_row(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)
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


async def test_create_observations_answers_rows_in_request_order_across_streams_and_shapes(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Groups of one shape are written together; the answers stay in the request's order."""
    first, second = await make_datastream(client, admin), await make_datastream(client, admin)

    def group(stream: int, components: list[str], rows: list[list[Any]]) -> dict[str, Any]:
        return {"Datastream": {"@iot.id": stream}, "components": components, "dataArray": rows}

    timed = ["phenomenonTime", "result"]
    body = [
        group(first, timed, [["2026-11-01T00:00:00Z", 1], ["2026-11-01T00:10:00Z", 2]]),
        group(second, ["result", "phenomenonTime"], [[3, "2026-11-01T00:00:00Z"]]),
        group(second, timed, [["2026-11-01T00:20:00Z", 4], ["bad time", 5]]),
        group(first, timed, [["2026-11-01T00:30:00Z", 6]]),
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    answers = response.json()
    assert len(answers) == 6 and answers[4] == "error"
    results, streams = [], []
    for link in answers[:4] + answers[5:]:
        results.append((await client.get(link)).json()["result"])
        streams.append((await client.get(f"{link}/Datastream")).json()["@iot.id"])
    assert results == [1, 2, 3, 4, 6]
    assert streams == [first, first, second, second, first]
    for stream, expected in ((first, [1, 2, 6]), (second, [3, 4])):
        listed = await client.get(
            f"/v1.1/Datastreams({stream})/Observations", params={"$orderby": "phenomenonTime"}
        )
        assert [o["result"] for o in listed.json()["value"]] == expected


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
    await make_datastream(client, admin)
    before = await row_counts(engine)
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 400, response.text
    after = await row_counts(engine)
    assert after == before


async def test_tenant_cannot_bulk_post_to_others_datastream(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str], engine: AsyncEngine
) -> None:
    stream = await make_datastream(client, admin)
    body = [{"Datastream": {"@iot.id": stream}, "components": ["result"], "dataArray": [[1], [2]]}]
    assert (await client.post("/v1.1/CreateObservations", json=body)).status_code == 401
    response = await client.post(
        "/v1.1/CreateObservations", json=body, headers=bearer(tokens["tenant"])
    )
    assert response.status_code == 403
    assert (await row_counts(engine))["observations"] == 0


ALL = ["id", "phenomenonTime", "resultTime", "result", "resultQuality", "validTime", "parameters"]


async def _station(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """One Thing, two Datastreams with interleaved hourly readings and a MultiDatastream.

    Answers the ids: streams `pm` and `no2`, `wind` and each stream's Observation ids in time
    order (`obs[name]`), read back through the API so both backends' ids are right.
    """
    thing = full_thing(observations=0)
    thing["Datastreams"] = [
        {
            **thing["Datastreams"][0],
            "name": name,
            "Sensor": sensor(f"{name} sensor"),
            "ObservedProperty": observed_property(name),
            "Observations": [
                {"phenomenonTime": f"2026-11-01T0{hour}:{minute}:00Z", "result": value + hour}
                for hour in range(3)
            ],
        }
        for name, minute, value in (("pm", "00", 10), ("no2", "30", 40))
    ]
    thing["Datastreams"][0]["Observations"][0]["resultTime"] = "2026-11-01T00:00:05Z"
    thing["Datastreams"][0]["Observations"][0]["parameters"] = {"flag": "calibrated"}
    created = (await client.post("/v1.1/Things", json=thing, headers=admin)).json()
    wind = {
        "name": "wind",
        "description": "wind",
        "unitOfMeasurements": [
            {"name": "m/s", "symbol": "m/s", "definition": "ucum"},
            {"name": "deg", "symbol": "deg", "definition": "ucum"},
        ],
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
        "Thing": {"@iot.id": created["@iot.id"]},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [observed_property("speed"), observed_property("direction")],
        "Observations": [
            {"phenomenonTime": "2026-11-01T00:15:00Z", "result": [3.5, 180]},
            {
                "phenomenonTime": "2026-11-01T01:15:00Z/2026-11-01T01:45:00Z",
                "result": [4.0, 190],
            },
        ],
    }
    posted = await client.post("/v1.1/MultiDatastreams", json=wind, headers=admin)
    assert posted.status_code == 201, posted.text
    ids: dict[str, Any] = {"wind": posted.json()["@iot.id"], "obs": {}}
    streams = (await client.get(f"/v1.1/Things({created['@iot.id']})/Datastreams")).json()
    for stream in streams["value"]:
        ids[stream["name"]] = stream["@iot.id"]
    for name, url in (
        ("pm", f"Datastreams({ids['pm']})"),
        ("no2", f"Datastreams({ids['no2']})"),
        ("wind", f"MultiDatastreams({ids['wind']})"),
    ):
        listed = await client.get(f"/v1.1/{url}/Observations", params={"$orderby": "id"})
        ids["obs"][name] = [o["@iot.id"] for o in listed.json()["value"]]
    return ids


def _link(set_name: str, entity_id: int) -> str:
    return f"http://testserver/v1.1/{set_name}({entity_id})"


async def test_datastream_observations_as_a_data_array(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _station(client, admin)
    pm = ids["obs"]["pm"]
    response = await client.get(
        f"/v1.1/Datastreams({ids['pm']})/Observations", params={"$resultFormat": "dataArray"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "value": [
            {
                "Datastream@iot.navigationLink": _link("Datastreams", ids["pm"]),
                "components": ALL,
                "dataArray@iot.count": 3,
                "dataArray": [
                    [
                        pm[0],
                        "2026-11-01T00:00:00Z",
                        "2026-11-01T00:00:05Z",
                        10,
                        None,
                        None,
                        {"flag": "calibrated"},
                    ],
                    [pm[1], "2026-11-01T01:00:00Z", None, 11, None, None, None],
                    [pm[2], "2026-11-01T02:00:00Z", None, 12, None, None, None],
                ],
            }
        ]
    }


async def test_observations_are_grouped_by_datastream_and_multidatastream(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _station(client, admin)
    pm, no2, wind = ids["obs"]["pm"], ids["obs"]["no2"], ids["obs"]["wind"]
    params = {
        "$resultFormat": "dataArray",
        "$select": "result,id,phenomenonTime",
        "$orderby": "phenomenonTime desc",
        "$count": "true",
    }
    document = (await client.get("/v1.1/Observations", params=params)).json()
    components = ["result", "id", "phenomenonTime"]
    # groups in the order their first Observation comes, rows in the asked order
    assert document == {
        "@iot.count": 8,
        "value": [
            {
                "Datastream@iot.navigationLink": _link("Datastreams", ids["no2"]),
                "components": components,
                "dataArray@iot.count": 3,
                "dataArray": [
                    [42, no2[2], "2026-11-01T02:30:00Z"],
                    [41, no2[1], "2026-11-01T01:30:00Z"],
                    [40, no2[0], "2026-11-01T00:30:00Z"],
                ],
            },
            {
                "Datastream@iot.navigationLink": _link("Datastreams", ids["pm"]),
                "components": components,
                "dataArray@iot.count": 3,
                "dataArray": [
                    [12, pm[2], "2026-11-01T02:00:00Z"],
                    [11, pm[1], "2026-11-01T01:00:00Z"],
                    [10, pm[0], "2026-11-01T00:00:00Z"],
                ],
            },
            {
                "MultiDatastream@iot.navigationLink": _link("MultiDatastreams", ids["wind"]),
                "components": components,
                "dataArray@iot.count": 2,
                "dataArray": [
                    [[4.0, 190], wind[1], "2026-11-01T01:15:00Z/2026-11-01T01:45:00Z"],
                    [[3.5, 180], wind[0], "2026-11-01T00:15:00Z"],
                ],
            },
        ],
    }
    multi = await client.get(
        f"/v1.1/MultiDatastreams({ids['wind']})/Observations",
        params={"$resultFormat": "dataArray", "$select": "result"},
    )
    assert multi.json()["value"] == [
        {
            "MultiDatastream@iot.navigationLink": _link("MultiDatastreams", ids["wind"]),
            "components": ["result"],
            "dataArray@iot.count": 2,
            "dataArray": [[[3.5, 180]], [[4.0, 190]]],
        }
    ]


async def test_data_array_pages_filter_and_count_like_a_plain_read(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await _station(client, admin)
    pm, no2 = ids["obs"]["pm"], ids["obs"]["no2"]
    params = {
        "$resultFormat": "dataArray",
        "$filter": "result gt 10 and Datastream/name ne 'wind'",
        "$orderby": "phenomenonTime",
        "$select": "id,result",
        "$count": "true",
        "$top": "3",
    }
    first = (await client.get("/v1.1/Observations", params=params)).json()
    assert first["@iot.count"] == 5
    assert first["value"] == [
        {
            "Datastream@iot.navigationLink": _link("Datastreams", ids["no2"]),
            "components": ["id", "result"],
            "dataArray@iot.count": 2,
            "dataArray": [[no2[0], 40], [no2[1], 41]],
        },
        {
            "Datastream@iot.navigationLink": _link("Datastreams", ids["pm"]),
            "components": ["id", "result"],
            "dataArray@iot.count": 1,
            "dataArray": [[pm[1], 11]],
        },
    ]
    assert "$resultFormat=dataArray" in first["@iot.nextLink"]
    second = (await client.get(first["@iot.nextLink"])).json()
    assert second == {
        "@iot.count": 5,
        "value": [
            {
                "Datastream@iot.navigationLink": _link("Datastreams", ids["pm"]),
                "components": ["id", "result"],
                "dataArray@iot.count": 1,
                "dataArray": [[pm[2], 12]],
            },
            {
                "Datastream@iot.navigationLink": _link("Datastreams", ids["no2"]),
                "components": ["id", "result"],
                "dataArray@iot.count": 1,
                "dataArray": [[no2[2], 42]],
            },
        ],
    }
    empty = await client.get(
        f"/v1.1/Datastreams({ids['pm']})/Observations",
        params={"$resultFormat": "dataArray", "$top": "0", "$count": "true"},
    )
    assert empty.json() == {"@iot.count": 3, "value": []}


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/v1.1/Things", {}, "$resultFormat"),
        ("/v1.1/Observations({pm})", {}, "$resultFormat"),
        ("/v1.1/Observations({pm})/result", {}, "$resultFormat"),
        ("/v1.1/Observations/$ref", {}, "$resultFormat"),
        ("/v1.1/Observations", {"$expand": "Datastream"}, "$expand"),
        ("/v1.1/Observations", {"$select": "Datastream"}, "Datastream"),
        ("/v1.1/Observations", {"$select": "FeatureOfInterest/id"}, "FeatureOfInterest/id"),
        ("/v1.1/Observations", {"$select": "colour"}, "colour"),
    ],
)
async def test_impossible_data_array_reads_are_400_naming_the_option(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    url: str,
    params: dict[str, str],
    field: str,
) -> None:
    ids = await _station(client, admin)
    response = await client.get(
        url.format(pm=ids["obs"]["pm"][0]), params={"$resultFormat": "dataArray", **params}
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert field in response.json()["message"]


async def test_unknown_result_format_is_400(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1.1/Observations", params={"$resultFormat": "csv"})
    assert response.status_code == 400
    assert "$resultFormat" in response.json()["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"$orderby": "result desc", "$top": "4", "$skip": "1"},
        {"$orderby": "Datastream/name,phenomenonTime desc", "$top": "5"},
        {"$filter": "phenomenonTime lt 2026-11-01T02:00:00Z", "$orderby": "phenomenonTime"},
        {"$filter": "FeatureOfInterest/name ne 'nowhere'", "$skip": "6"},
    ],
)
async def test_data_array_holds_the_plain_page_grouped(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str]
) -> None:
    """Whatever the options, a DataArray page is the plain page's Observations, grouped."""
    await _station(client, admin)
    expand = "Datastream($select=id),MultiDatastream($select=id)"
    plain = (await client.get("/v1.1/Observations", params={**params, "$expand": expand})).json()
    expected: dict[str, dict[str, Any]] = {}
    for observation in plain["value"]:
        kind = "Datastream" if "Datastream" in observation else "MultiDatastream"
        link = _link(f"{kind}s", observation[kind]["@iot.id"])
        group = expected.setdefault(
            link,
            {
                f"{kind}@iot.navigationLink": link,
                "components": ["id", "result"],
                "dataArray@iot.count": 0,
                "dataArray": [],
            },
        )
        group["dataArray"].append([observation["@iot.id"], observation["result"]])
        group["dataArray@iot.count"] += 1
    document = (
        await client.get(
            "/v1.1/Observations",
            params={**params, "$resultFormat": "dataArray", "$select": "id,result"},
        )
    ).json()
    assert document["value"] == list(expected.values())
    assert ("@iot.nextLink" in document) == ("@iot.nextLink" in plain)


async def test_unusual_data_array_rows_are_read_as_a_plain_post_reads_them(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Rows the bulk fast path declines (offsets, intervals, odd types) get the generic
    path's answer: a link when the standard accepts them, "error" when it does not."""
    stream = await make_datastream(client, admin)
    # a generic OM_Observation stream takes results of any JSON type (a Measurement would not)
    generic = {"observationType": OM_OBSERVATION}
    patched = await client.patch(f"/v1.1/Datastreams({stream})", json=generic, headers=admin)
    assert patched.status_code == 200, patched.text
    rows: list[Any] = [
        ["2026-11-01T00:00:00+07:00", 1.5, "2026-11-01T00:00:00Z"],
        ["2026-11-01T01:00:00Z/2026-11-01T01:10:00Z", 2, None],
        ["2026-11-01T02:00:00", 3, None],  # no offset
        ["2026-11-01T03:00:00Z", {"a": 1}, None],
        ["2026-11-01T04:00:00Z", True, " 2026-11-01T04:00:00Z"],
        [None, 4, None],
        ["2026-11-01T05:00:00Z", "offline", 12],  # resultTime not a string
        "not a row",
        ["2026-11-01T06:00:00Z", 5],
    ]
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result", "resultTime"],
            "dataArray": rows,
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    answers = response.json()
    assert [a == "error" for a in answers] == [False, False, True, False, False] + [True] * 4
    stored = [(await client.get(answers[i])).json() for i in (0, 1, 3, 4)]
    assert [(o["phenomenonTime"], o["result"], o["resultTime"]) for o in stored] == [
        ("2026-10-31T17:00:00Z", 1.5, "2026-11-01T00:00:00Z"),
        ("2026-11-01T01:00:00Z/2026-11-01T01:10:00Z", 2, None),
        ("2026-11-01T03:00:00Z", {"a": 1}, None),
        ("2026-11-01T04:00:00Z", True, "2026-11-01T04:00:00Z"),
    ]
    ds = (await client.get(f"/v1.1/Datastreams({stream})")).json()
    assert ds["phenomenonTime"] == "2026-10-31T17:00:00Z/2026-11-01T04:00:00Z"
    assert ds["resultTime"] == "2026-11-01T00:00:00Z/2026-11-01T04:00:00Z"


@pytest.mark.parametrize("count", ["true", "false"])
async def test_data_array_of_a_missing_datastream_is_404(
    client: httpx.AsyncClient, admin: dict[str, str], count: str
) -> None:
    await _station(client, admin)
    response = await client.get(
        "/v1.1/Datastreams(999999)/Observations",
        params={"$resultFormat": "dataArray", "$count": count},
    )
    assert response.status_code == 404
    assert response.json()["message"] == "Datastreams(999999) not found"
