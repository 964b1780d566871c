"""A walk through the OGC SensorThings 1.1 Part 1 conformance classes (OGC 18-088 annex A).

Each test builds the same small data set and asks the questions an OGC test would,
checking exact answers: status codes, `@iot.count`, order, paging links. Both backends.
A.3 walks the filtering extension (every query option, each operator and function family,
nested `$expand`), A.6 the data array extension (GET `$resultFormat=dataArray` and POST
`CreateObservations`); the service root must announce exactly the classes walked here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from cityhelix.hub.http.api import TASKING_CONFORMANCE
from tests.hub.factories import MEASUREMENT, location, observed_property, sensor

pytestmark = pytest.mark.asyncio
SPEC = "http://www.opengis.net/spec/iot_sensing/1.1/req/"


async def city(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, Any]:
    """Two Things, three Datastreams, 12 Observations with known values and times."""
    ids: dict[str, Any] = {}
    for index, (name, district, lon) in enumerate(
        [("Station A", "Thu Dau Mot", 106.65), ("Station B", "Di An", 106.77)]
    ):
        body = {
            "name": name,
            "description": f"station {index}",
            "properties": {"district": district, "rank": index},
            "Locations": [location(f"{name} site", lon, 10.9 + index / 10)],
            "Datastreams": [
                {
                    "name": f"{name} {quantity}",
                    "description": quantity,
                    "observationType": MEASUREMENT,
                    "unitOfMeasurement": {"name": unit, "symbol": unit, "definition": "ucum"},
                    "Sensor": sensor(f"{name} sensor {quantity}"),
                    "ObservedProperty": observed_property(quantity),
                    "Observations": [
                        {"phenomenonTime": f"2026-11-01T0{h}:00:00Z", "result": value + h}
                        for h in range(4)
                    ],
                }
                for quantity, unit, value in (
                    [("PM2.5", "ug/m3", 10), ("NO2", "ug/m3", 40)]
                    if index == 0
                    else [("PM2.5", "ug/m3", 20)]
                )
            ],
        }
        created = await client.post("/v1.1/Things", json=body, headers=admin)
        assert created.status_code == 201
        ids[name] = created.json()["@iot.id"]
    return ids


async def test_a1_sensing_core(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await city(client, admin)
    root = (await client.get("/v1.1")).json()
    assert f"{SPEC}datamodel" in root["serverSettings"]["conformance"]
    expected = {
        "Things": 2,
        "Locations": 2,
        "HistoricalLocations": 2,
        "Sensors": 3,
        "ObservedProperties": 3,
        "Datastreams": 3,
        "Observations": 12,
        "FeaturesOfInterest": 2,
        "MultiDatastreams": 0,
        "TaskingCapabilities": 0,
        "Tasks": 0,
        "Actuators": 0,
    }
    for entry in root["value"]:
        page = (await client.get(entry["url"], params={"$count": "true"})).json()
        assert page["@iot.count"] == expected[entry["name"]], entry["name"]
        for entity in page["value"]:
            again = await client.get(entity["@iot.selfLink"])
            assert again.status_code == 200 and again.json() == entity
            for key, link in entity.items():
                if key.endswith("@iot.navigationLink"):
                    assert (await client.get(link)).status_code == 200, link


async def test_a2_create_update_delete(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    thing_url = f"/v1.1/Things({ids['Station B']})"
    patched = await client.patch(thing_url, json={"description": "moved"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["description"] == "moved"
    assert (await client.delete(thing_url, headers=admin)).status_code == 200
    assert (await client.get(thing_url)).status_code == 404
    counts = {
        s: (await client.get(f"/v1.1/{s}", params={"$count": "true", "$top": "0"})).json()[
            "@iot.count"
        ]
        for s in ("Things", "Datastreams", "Observations", "HistoricalLocations", "Locations")
    }
    assert counts == {
        "Things": 1,
        "Datastreams": 2,
        "Observations": 8,
        "HistoricalLocations": 1,
        "Locations": 2,
    }


async def test_a4_batch(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    body = {
        "requests": [
            {"id": "1", "method": "get", "url": f"Things({ids['Station A']})?$select=name"},
            {
                "id": "2",
                "method": "patch",
                "url": f"Things({ids['Station A']})",
                "body": {"name": "Station A2"},
                "atomicityGroup": "g",
            },
        ]
    }
    answers = (await client.post("/v1.1/$batch", json=body, headers=admin)).json()["responses"]
    assert [(a["id"], a["status"]) for a in answers] == [("1", 200), ("2", 200)]
    assert answers[0]["body"] == {"name": "Station A"}


async def test_a5_multidatastream(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    ids = await city(client, admin)
    body = {
        "name": "wind",
        "description": "wind",
        "unitOfMeasurements": [
            {"name": "m/s", "symbol": "m/s", "definition": "ucum"},
            {"name": "deg", "symbol": "deg", "definition": "ucum"},
        ],
        "multiObservationDataTypes": [MEASUREMENT, MEASUREMENT],
        "Thing": {"@iot.id": ids["Station A"]},
        "Sensor": sensor("anemometer"),
        "ObservedProperties": [observed_property("speed"), observed_property("direction")],
        "Observations": [{"phenomenonTime": "2026-11-01T00:00:00Z", "result": [3.5, 180]}],
    }
    created = await client.post("/v1.1/MultiDatastreams", json=body, headers=admin)
    assert created.status_code == 201
    url = created.json()["@iot.selfLink"]
    observations = (await client.get(f"{url}/Observations")).json()["value"]
    assert [o["result"] for o in observations] == [[3.5, 180]]
    listed = (await client.get(f"/v1.1/Things({ids['Station A']})/MultiDatastreams")).json()
    assert [m["name"] for m in listed["value"]] == ["wind"]


#: the classes walked in this module; MQTT's are announced only when MQTT runs (test_sta_read)
WALKED = [
    f"{SPEC}datamodel",
    f"{SPEC}resource-path/resource-path-to-entities",
    f"{SPEC}request-data",
    f"{SPEC}create-update-delete",
    # JSON Patch (18-088 10.3, RFC 6902): walked in test_sta_18088_faults
    f"{SPEC}create-update-delete/update-entity-jsonpatch",
    f"{SPEC}batch-request/batch-request",
    f"{SPEC}multi-datastream",
    f"{SPEC}data-array/data-array",
    # SensorThings Part 2, Tasking Core (OGC 17-079r1): walked in test_tasking
    *TASKING_CONFORMANCE,
]


async def test_service_root_announces_exactly_the_classes_walked(
    client: httpx.AsyncClient,
) -> None:
    root = (await client.get("/v1.1")).json()
    assert sorted(root["serverSettings"]["conformance"]) == sorted(WALKED)


async def _values(
    client: httpx.AsyncClient, url: str, params: dict[str, str], key: str
) -> list[Any]:
    response = await client.get(url, params=params)
    assert response.status_code == 200, f"{url} {params}: {response.text}"
    return [entity[key] for entity in response.json()["value"]]


def _query(link: str) -> tuple[str, dict[str, str]]:
    """A link as (address, parameters): the parameters' order does not matter."""
    parts = urlsplit(link)
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(parse_qsl(parts.query))


#: the polygon around Station A's site only
AROUND_A = "geography'POLYGON((106.6 10.85, 106.7 10.85, 106.7 10.95, 106.6 10.95, 106.6 10.85))'"


@pytest.mark.parametrize(
    ("url", "condition", "expected"),
    [
        # comparison, logical and arithmetic operators, grouping
        ("Observations", "result ge 12 and result lt 22", [12, 13, 20, 21]),
        ("Observations", "not (result le 40) or result eq 10", [10, 41, 42, 43]),
        (
            "Observations",
            "(result gt 20 or result lt 11) and result ne 43",
            [10, 21, 22, 23, 40, 41, 42],
        ),
        (
            "Observations",
            "result add 5 eq 15 or result sub 1 eq 19 or result mul 2 eq 84",
            [10, 20, 42],
        ),
        ("Observations", "result div 4 eq 10.75 or result mod 10 eq 3", [13, 23, 43]),
        # string functions
        ("Things", "substringof('B', name)", ["Station B"]),
        ("Things", "startswith(name, 'Station') and endswith(name, 'A')", ["Station A"]),
        ("Things", "contains(description, '1')", ["Station B"]),
        ("Things", "length(name) eq 9 and indexof(name, 'B') eq 9", ["Station B"]),
        (
            "Things",
            "substring(name, 8) eq 'A' and substring(name, 0, 7) eq 'Station'",
            ["Station A"],
        ),
        (
            "Things",
            "tolower(name) eq 'station b' or toupper(name) eq 'STATION A'",
            ["Station A", "Station B"],
        ),
        (
            "Things",
            "trim(concat(' ', name)) eq 'Station A' or concat(name, '!') eq 'Station B!'",
            ["Station A", "Station B"],
        ),
        # date and time functions
        ("Observations", "hour(phenomenonTime) eq 2", [12, 22, 42]),
        (
            "Observations",
            "year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 11"
            " and day(phenomenonTime) eq 1 and result lt 11",
            [10],
        ),
        (
            "Observations",
            "minute(phenomenonTime) eq 0 and second(phenomenonTime) eq 0"
            " and fractionalseconds(phenomenonTime) eq 0 and hour(phenomenonTime) eq 3",
            [13, 23, 43],
        ),
        (
            "Observations",
            "date(phenomenonTime) eq 2026-11-01 and time(phenomenonTime) lt 01:00:00",
            [10, 20, 40],
        ),
        (
            "Observations",
            "totaloffsetminutes(phenomenonTime) eq 0 and phenomenonTime ge 2026-11-01T03:00:00Z",
            [13, 23, 43],
        ),
        (
            "Observations",
            "phenomenonTime lt now() and phenomenonTime gt mindatetime()"
            " and phenomenonTime lt maxdatetime() and result ge 43",
            [43],
        ),
        # math functions
        ("Observations", "floor(result div 4) eq 3", [12, 13]),
        ("Observations", "ceiling(result div 10) eq 5", [41, 42, 43]),
        ("Observations", "round(result div 4) eq 5", [20, 21]),
        # geospatial functions
        (
            "Locations",
            "geo.distance(location, geography'POINT(106.65 10.9)') lt 0.01",
            ["Station A site"],
        ),
        ("Locations", f"geo.intersects(location, {AROUND_A})", ["Station A site"]),
        ("Locations", "geo.length(location) eq 0", ["Station A site", "Station B site"]),
        ("Locations", f"st_within(location, {AROUND_A})", ["Station A site"]),
        ("Locations", f"st_disjoint(location, {AROUND_A})", ["Station B site"]),
        # paths: JSON properties, to-one and to-many links
        ("Things", "properties/district eq 'Di An' or properties/rank lt 0", ["Station B"]),
        ("Things", "Datastreams/name eq 'Station A NO2'", ["Station A"]),
        ("Observations", "Datastream/ObservedProperty/name eq 'NO2'", [40, 41, 42, 43]),
        ("Observations", "Datastream/Thing/name eq 'Station B'", [20, 21, 22, 23]),
    ],
)
async def test_a3_filter_operators_and_functions(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    url: str,
    condition: str,
    expected: list[Any],
) -> None:
    await city(client, admin)
    key = "result" if url == "Observations" else "name"
    params = {"$filter": condition, "$orderby": key, "$count": "true"}
    page = (await client.get(f"/v1.1/{url}", params=params)).json()
    assert [entity[key] for entity in page["value"]] == expected
    assert page["@iot.count"] == len(expected)


async def test_a3_order_paging_and_option_order(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await city(client, admin)
    things = await _values(client, "/v1.1/Things", {"$orderby": "name desc"}, "name")
    assert things == ["Station B", "Station A"]
    streams = await _values(
        client, "/v1.1/Datastreams", {"$orderby": "Thing/name desc,name"}, "name"
    )
    assert streams == ["Station B PM2.5", "Station A NO2", "Station A PM2.5"]
    # $filter, then $count, then $orderby, then $skip, then $top
    params = {"$filter": "result gt 11", "$orderby": "result desc", "$skip": "1", "$top": "2"}
    page = (await client.get("/v1.1/Observations", params={**params, "$count": "true"})).json()
    assert page["@iot.count"] == 10
    assert [o["result"] for o in page["value"]] == [42, 41]
    assert _query(page["@iot.nextLink"]) == (
        "http://testserver/v1.1/Observations",
        {**params, "$skip": "3", "$count": "true"},
    )
    params = {"$orderby": "result", "$top": "5", "$skip": "2", "$count": "true"}
    page = (await client.get("/v1.1/Observations", params=params)).json()
    assert page["@iot.count"] == 12
    assert [o["result"] for o in page["value"]] == [12, 13, 20, 21, 22]
    assert page["@iot.nextLink"] == (
        "http://testserver/v1.1/Observations?$orderby=result&$top=5&$skip=7&$count=true"
    )
    last = (await client.get(page["@iot.nextLink"])).json()
    assert set(last) == {"@iot.count", "value"} and last["@iot.count"] == 12
    assert [o["result"] for o in last["value"]] == [23, 40, 41, 42, 43]
    uncounted = (await client.get("/v1.1/Things", params={"$count": "false"})).json()
    assert set(uncounted) == {"value"}


async def test_a3_select_and_nested_expand(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await city(client, admin)
    a, b = ids["Station A"], ids["Station B"]
    selected = (
        await client.get(
            "/v1.1/Things", params={"$orderby": "name desc", "$select": "@iot.id,name,Locations"}
        )
    ).json()
    assert selected == {
        "value": [
            {
                "@iot.id": thing_id,
                "name": name,
                "Locations@iot.navigationLink": f"http://testserver/v1.1/Things({thing_id})/Locations",
            }
            for thing_id, name in ((b, "Station B"), (a, "Station A"))
        ]
    }
    expanded = (
        await client.get(
            "/v1.1/Things",
            params={"$orderby": "name", "$select": "name", "$expand": "Locations($select=name)"},
        )
    ).json()
    assert expanded == {
        "value": [
            {"name": "Station A", "Locations": [{"name": "Station A site"}]},
            {"name": "Station B", "Locations": [{"name": "Station B site"}]},
        ]
    }
    nested = (
        await client.get(
            "/v1.1/Things",
            params={
                "$filter": "name eq 'Station A'",
                "$select": "name",
                "$expand": "Datastreams($orderby=name;$select=name;$expand=Observations("
                "$orderby=result desc;$top=2;$select=result;$count=true))",
            },
        )
    ).json()
    (station,) = nested["value"]
    links = [_query(s.pop("Observations@iot.nextLink")) for s in station["Datastreams"]]
    assert station == {
        "name": "Station A",
        "Datastreams": [
            {
                "name": "Station A NO2",
                "Observations@iot.count": 4,
                "Observations": [{"result": 43}, {"result": 42}],
            },
            {
                "name": "Station A PM2.5",
                "Observations@iot.count": 4,
                "Observations": [{"result": 13}, {"result": 12}],
            },
        ],
    }
    for (address, params), name in zip(links, ["Station A NO2", "Station A PM2.5"], strict=True):
        assert params == {
            "$orderby": "result desc",
            "$select": "result",
            "$count": "true",
            "$top": "2",
            "$skip": "2",
        }
        rest = (await client.get(address, params=params)).json()
        assert rest["@iot.count"] == 4 and len(rest["value"]) == 2, name
    upward = (
        await client.get(
            "/v1.1/Observations",
            params={
                "$filter": "result eq 23",
                "$select": "result",
                "$expand": "Datastream($select=name;$expand=Thing($select=name))",
            },
        )
    ).json()
    assert upward == {
        "value": [
            {
                "result": 23,
                "Datastream": {"name": "Station B PM2.5", "Thing": {"name": "Station B"}},
            }
        ]
    }
    as_path = await client.get("/v1.1/Things", params={"$expand": "Datastreams/Sensor"})
    as_nested = await client.get("/v1.1/Things", params={"$expand": "Datastreams($expand=Sensor)"})
    assert as_path.json() == as_nested.json()
    sensors = [d["Sensor"]["name"] for t in as_path.json()["value"] for d in t["Datastreams"]]
    assert sorted(sensors) == [
        "Station A sensor NO2",
        "Station A sensor PM2.5",
        "Station B sensor PM2.5",
    ]


async def _stream_ids(client: httpx.AsyncClient) -> dict[str, int]:
    streams = (await client.get("/v1.1/Datastreams")).json()["value"]
    return {stream["name"]: stream["@iot.id"] for stream in streams}


async def test_a6_data_array_read(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await city(client, admin)
    stream = (await _stream_ids(client))["Station B PM2.5"]
    observations = (
        await client.get(f"/v1.1/Datastreams({stream})/Observations", params={"$orderby": "id"})
    ).json()["value"]
    document = (
        await client.get(
            f"/v1.1/Datastreams({stream})/Observations",
            params={"$resultFormat": "dataArray", "$select": "id,phenomenonTime,result"},
        )
    ).json()
    assert document == {
        "value": [
            {
                "Datastream@iot.navigationLink": f"http://testserver/v1.1/Datastreams({stream})",
                "components": ["id", "phenomenonTime", "result"],
                "dataArray@iot.count": 4,
                "dataArray": [
                    [o["@iot.id"], f"2026-11-01T0{hour}:00:00Z", 20 + hour]
                    for hour, o in enumerate(observations)
                ],
            }
        ]
    }
    # the OGC test's request: every component by default, a count and a next page
    params = {"$count": "true", "$top": "3", "$resultFormat": "dataArray"}
    paged = (await client.get("/v1.1/Observations", params=params)).json()
    plain = (await client.get("/v1.1/Observations", params={"$top": "3"})).json()["value"]
    assert paged["@iot.count"] == 12
    assert paged["@iot.nextLink"] == (
        "http://testserver/v1.1/Observations?$count=true&$top=3&$resultFormat=dataArray&$skip=3"
    )
    rows = [row for group in paged["value"] for row in group["dataArray"]]
    assert rows == [
        [
            o["@iot.id"],
            o["phenomenonTime"],
            o["resultTime"],
            o["result"],
            None,
            None,
            None,
        ]
        for o in plain
    ]
    for group in paged["value"]:
        assert group["components"] == [
            "id",
            "phenomenonTime",
            "resultTime",
            "result",
            "resultQuality",
            "validTime",
            "parameters",
        ]
        assert group["dataArray@iot.count"] == len(group["dataArray"])


async def test_a6_data_array_create(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await city(client, admin)
    streams = await _stream_ids(client)
    a_pm, b_pm = streams["Station A PM2.5"], streams["Station B PM2.5"]
    first = (
        await client.get(
            f"/v1.1/Datastreams({a_pm})/Observations",
            params={"$top": "1", "$expand": "FeatureOfInterest($select=id)"},
        )
    ).json()["value"][0]
    feature = first["FeatureOfInterest"]["@iot.id"]
    body = [
        {
            "Datastream": {"@iot.id": a_pm},
            "components": ["phenomenonTime", "result", "FeatureOfInterest/id"],
            "dataArray@iot.count": 2,
            "dataArray": [
                ["2010-12-23T10:20:00-07:00", 20, feature],
                ["2010-12-23T10:21:00-07:00", 30, "probablyNotAValidId"],
            ],
        },
        {
            "Datastream": {"@iot.id": b_pm},
            "components": ["phenomenonTime", "result"],
            "dataArray@iot.count": 2,
            "dataArray": [["2010-12-23T10:20:00-07:00", 65], ["2010-12-23T10:21:00-07:00", 60]],
        },
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text
    answers = response.json()
    assert len(answers) == 4 and answers[1] == "error"
    prefix = "http://testserver/v1.1/Observations("
    assert all(a.startswith(prefix) and a.endswith(")") for a in answers if a != "error")
    created = [int(a.removeprefix(prefix).removesuffix(")")) for a in answers if a != "error"]
    linked = (await client.get(f"{answers[0]}/FeatureOfInterest")).json()
    assert linked["@iot.id"] == feature
    read_back = (
        await client.get(
            "/v1.1/Observations",
            params={
                "$resultFormat": "dataArray",
                "$filter": "year(phenomenonTime) eq 2010",
                "$orderby": "phenomenonTime,result desc",
                "$select": "id,phenomenonTime,result",
                "$count": "true",
            },
        )
    ).json()
    assert read_back == {
        "@iot.count": 3,
        "value": [
            {
                "Datastream@iot.navigationLink": f"http://testserver/v1.1/Datastreams({b_pm})",
                "components": ["id", "phenomenonTime", "result"],
                "dataArray@iot.count": 2,
                "dataArray": [
                    [created[1], "2010-12-23T17:20:00Z", 65],
                    [created[2], "2010-12-23T17:21:00Z", 60],
                ],
            },
            {
                "Datastream@iot.navigationLink": f"http://testserver/v1.1/Datastreams({a_pm})",
                "components": ["id", "phenomenonTime", "result"],
                "dataArray@iot.count": 1,
                "dataArray": [[created[0], "2010-12-23T17:20:00Z", 20]],
            },
        ],
    }
