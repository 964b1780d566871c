"""The read path's shortcuts answer exactly as the long way did, on both backends.

A GET checks the ids of its path only when its query finds nothing, and `geo.distance(...)
lt x` adds a condition the spatial index serves (PostGIS `ST_DWithin`, SQLite's bounding
box widened by x): both must keep every 404 and every row of the plain definitions.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.hub.factories import full_thing, location, thing

pytestmark = pytest.mark.asyncio

ORIGIN = "geography'POINT(0 0)'"


async def _create(client: httpx.AsyncClient, admin: dict[str, str], url: str, body: Any) -> int:
    response = await client.post(url, json=body, headers=admin)
    assert response.status_code == 201, response.text
    return int(response.json()["@iot.id"])


async def test_an_empty_page_still_says_which_id_on_the_path_is_missing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first = await _create(client, admin, "/v1.1/Things", full_thing("first", observations=3))
    second = await _create(client, admin, "/v1.1/Things", thing("second"))
    streams = (await client.get(f"/v1.1/Things({first})/Datastreams")).json()["value"]
    stream = streams[0]["@iot.id"]
    missing = {
        "/v1.1/Datastreams(999999)/Observations": {"$filter": "result gt 0"},
        f"/v1.1/Things({second})/Datastreams({stream})/Observations": {},
        f"/v1.1/Things({second})/Datastreams({stream})": {},
        f"/v1.1/Things({second})/Datastreams({stream})/Sensor": {},
        "/v1.1/Things(999999)/Datastreams": {"$count": "true", "$skip": "5"},
    }
    for url, params in missing.items():
        response = await client.get(url, params=params)
        assert response.status_code == 404, url
        assert response.json()["code"] == 404
    empty = {
        f"/v1.1/Datastreams({stream})/Observations": {"$filter": "result gt 1000"},
        f"/v1.1/Things({first})/Datastreams({stream})/Observations": {"$skip": "50"},
        f"/v1.1/Things({second})/Datastreams": {"$count": "true"},
    }
    for url, params in empty.items():
        response = await client.get(url, params=params)
        assert response.status_code == 200, url
        assert response.json()["value"] == []
    counted = await client.get(
        f"/v1.1/Datastreams({stream})/Observations", params={"$count": "true", "$skip": "50"}
    )
    assert counted.json() == {"@iot.count": 3, "value": []}


def _polygon(name: str, ring: list[list[float]]) -> dict[str, Any]:
    return {
        "name": name,
        "description": name,
        "encodingType": "application/geo+json",
        "location": {"type": "Polygon", "coordinates": [ring]},
    }


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # A lies 5 from the origin, B's nearest edge 5 (its centre 6), C 50
        (f"geo.distance(location, {ORIGIN}) lt 5", []),
        (f"geo.distance(location, {ORIGIN}) le 5", ["A", "B"]),
        (f"geo.distance(location, {ORIGIN}) lt 5.5", ["A", "B"]),
        (f"geo.distance(location, {ORIGIN}) lt 100", ["A", "B", "C"]),
        (f"geo.distance(location, {ORIGIN}) lt -1", []),
        (f"geo.distance({ORIGIN}, location) le 5 and name ne 'A'", ["B"]),
        (f"5.5 gt geo.distance(location, {ORIGIN})", ["A", "B"]),
        # the negated distance is no distance: nothing narrows it to "within -10"
        (f"-geo.distance(location, {ORIGIN}) lt -10", ["C"]),
        (f"geo.distance(location, {ORIGIN}) add 1 le 6", ["A", "B"]),
        (f"geo.distance(location, {ORIGIN}) gt 5", ["C"]),
    ],
)
async def test_geo_distance_below_a_limit_keeps_exactly_the_rows_within_it(
    client: httpx.AsyncClient, admin: dict[str, str], condition: str, expected: list[str]
) -> None:
    await _create(client, admin, "/v1.1/Locations", location("A", 3, 4))
    square = [[5.0, -1.0], [7.0, -1.0], [7.0, 1.0], [5.0, 1.0], [5.0, -1.0]]
    await _create(client, admin, "/v1.1/Locations", _polygon("B", square))
    await _create(client, admin, "/v1.1/Locations", location("C", 30, 40))
    response = await client.get("/v1.1/Locations", params={"$filter": condition})
    assert response.status_code == 200, response.text
    assert [row["name"] for row in response.json()["value"]] == expected
