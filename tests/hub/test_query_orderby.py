"""`$orderby` over HTTP on both backends: several keys, directions, JSON paths, to-one links,
functions, nulls, code-point string order and stable paging through ties."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.hub.factories import thing
from tests.hub.test_query_filter import DI_AN, GAUGE, TDM, get_all, names, results, seed

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize(
    ("orderby", "expected"),
    [
        ("name", [GAUGE, DI_AN, TDM]),
        ("name desc", [TDM, DI_AN, GAUGE]),
        ("properties/level desc", [DI_AN, TDM, GAUGE]),  # null last when descending
        ("properties/level", [GAUGE, TDM, DI_AN]),  # null first when ascending
        ("properties/district desc,name", [TDM, GAUGE, DI_AN]),
        ("length(name) desc", [GAUGE, DI_AN, TDM]),
        ("description desc", [TDM, DI_AN, GAUGE]),
        ("@iot.id desc", [GAUGE, DI_AN, TDM]),
        ("geo.distance(Locations/location, geography'POINT(0 0)')", None),
    ],
)
async def test_order_things(
    client: httpx.AsyncClient, admin: dict[str, str], orderby: str, expected: list[str] | None
) -> None:
    await seed(client, admin)
    response = await client.get("/v1.1/Things", params={"$orderby": orderby})
    if expected is None:  # a to-many path cannot give one sort key per Thing
        assert response.status_code == 400
        assert "Locations" in response.json()["message"]
        return
    assert await names(client, "/v1.1/Things", **{"$orderby": orderby}) == expected


@pytest.mark.parametrize(
    ("orderby", "filter_", "expected"),
    [
        ("result desc", "result ge 0", [40, 36.5, 12, 5, 1.5, 1.25]),
        ("result", "result ge 0", [1.25, 1.5, 5, 12, 36.5, 40]),
        ("result", "result ge 'a'", ["high", "low"]),
        ("phenomenonTime desc", "result lt 13", [1.5, 12, 1.25, 5]),  # ties: id desc
        (
            "Datastream/name desc,phenomenonTime",
            None,
            [1.25, 1.5, 5, 12, 40, 36.5, "high", "low", {"pm25": 50, "pm10": 80}, True],
        ),
        (
            "Datastream/Thing/properties/level,result desc",
            "result ge 0",
            [1.5, 1.25, 40, 36.5, 12, 5],
        ),
        ("hour(phenomenonTime) desc,result", "result ge 0", [36.5, 1.5, 40, 12, 1.25, 5]),
        (
            "result/pm10 desc,@iot.id",
            "result/pm10 ne null or result eq 'low'",
            [{"pm25": 50, "pm10": 80}, "low"],
        ),
    ],
)
async def test_order_observations(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    orderby: str,
    filter_: str | None,
    expected: list[Any],
) -> None:
    await seed(client, admin)
    params = {"$orderby": orderby}
    if filter_ is not None:
        params["$filter"] = filter_
    assert await results(client, **params) == expected


async def test_order_by_distance_from_a_point(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    near_gauge = "geo.distance(location, geography'POINT(106.80 11.05)')"
    assert await names(client, "/v1.1/Locations", **{"$orderby": near_gauge}) == [
        "Tan Uyen bridge",
        "Di An market",
        "TDM kerbside",
    ]
    assert await names(client, "/v1.1/Locations", **{"$orderby": f"{near_gauge} desc"}) == [
        "TDM kerbside",
        "Di An market",
        "Tan Uyen bridge",
    ]


async def test_strings_sort_by_code_point_on_both_backends(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for name in ("b", "Á", "a", "B", "ă", "Z"):
        await client.post("/v1.1/Things", json=thing(name), headers=admin)
    assert await names(client, "/v1.1/Things", **{"$orderby": "name"}) == [
        "B",
        "Z",
        "a",
        "b",
        "Á",
        "ă",
    ]
    found = await names(client, "/v1.1/Things", **{"$filter": "name gt 'Z'", "$orderby": "name"})
    assert found == ["a", "b", "Á", "ă"]


async def test_paging_through_ties_is_stable_and_complete(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = []
    for i in range(9):
        body = thing(f"T{i}")
        body["properties"] = {"group": i % 2}
        created.append((await client.post("/v1.1/Things", json=body, headers=admin)).json())
    for direction in ("", " desc"):
        params = {"$orderby": f"properties/group{direction}", "$top": "2"}
        entities = await get_all(client, "/v1.1/Things", **params)
        ids = [e["@iot.id"] for e in entities]
        assert len(ids) == 9 and len(set(ids)) == 9
        groups = [e["properties"]["group"] for e in entities]
        assert groups == sorted(groups, reverse=bool(direction))
        for group in (0, 1):  # ties keep the id order, in the key's direction
            in_group = [e["@iot.id"] for e in entities if e["properties"]["group"] == group]
            assert in_group == sorted(in_group, reverse=bool(direction))


@pytest.mark.parametrize(
    ("url", "orderby", "token"),
    [
        ("/v1.1/Things", "Datastreams/name", "Datastreams/name"),
        ("/v1.1/Things", "nosuch", "nosuch"),
        ("/v1.1/Locations", "location", "location"),
        ("/v1.1/Things", "name eq", None),
        ("/v1.1/Things", "year(name)", "name"),
    ],
)
async def test_bad_orderby_is_400(
    client: httpx.AsyncClient, url: str, orderby: str, token: str | None
) -> None:
    response = await client.get(url, params={"$orderby": orderby})
    assert response.status_code == 400, response.text
    if token is not None:
        assert token in response.json()["message"]
