"""Bad requests that used to answer 500: each is now a 4xx naming the field or token.

Through HTTP on both backends; where only one database refused a query (PostgreSQL's
bigint and timestamp arithmetic, SQLite's parser stack) the other may answer it, but
neither answers 500.
"""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import Backend
from tests.hub.factories import make_datastream, thing


async def _count(client: httpx.AsyncClient, path: str) -> int:
    response = await client.get(path, params={"$count": "true", "$top": "0"})
    assert response.status_code == 200, response.text
    return int(response.json()["@iot.count"])


@pytest.mark.parametrize("datastream_id", ["9223372036854775808", "-9223372036854775809"])
async def test_aggregates_ids_outside_int64_are_refused(
    client: httpx.AsyncClient, datastream_id: str
) -> None:
    response = await client.get(f"/api/hub/datastreams/{datastream_id}/aggregates")
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "datastream_id"]


async def test_batch_depends_on_cycle_is_refused_before_anything_runs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    requests = [
        {"id": "a", "method": "post", "url": "Things", "body": thing("A"), "dependsOn": ["b"]},
        {"id": "b", "method": "post", "url": "Things", "body": thing("B"), "dependsOn": ["a"]},
    ]
    response = await client.post("/v1.1/$batch", json={"requests": requests}, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "dependsOn"
    assert "'b'" in response.json()["message"]
    assert await _count(client, "/v1.1/Things") == 0


async def test_batch_depends_on_an_earlier_atomicity_group(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    requests = [
        {"id": "a", "method": "post", "url": "Things", "body": {}, "atomicityGroup": "g"},
        {"id": "b", "method": "post", "url": "Things", "body": thing("B"), "dependsOn": ["g"]},
    ]
    response = await client.post("/v1.1/$batch", json={"requests": requests}, headers=admin)
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["responses"]] == [400, 424]


def _nested_multipart(levels: int) -> tuple[str, bytes]:
    body = b"GET Things HTTP/1.1\r\n\r\n"
    inner = b"--b0\r\nContent-Type: application/http\r\n\r\n" + body + b"\r\n--b0--\r\n"
    for level in range(1, levels):
        inner = (
            f"--b{level}\r\nContent-Type: multipart/mixed; boundary=b{level - 1}\r\n\r\n".encode()
            + inner
            + f"\r\n--b{level}--\r\n".encode()
        )
    return f"multipart/mixed; boundary=b{levels - 1}", inner


async def test_multipart_batch_nested_a_thousand_levels_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    content_type, body = _nested_multipart(1000)
    response = await client.post(
        "/v1.1/$batch", content=body, headers={**admin, "content-type": content_type}
    )
    assert response.status_code == 400, response.text
    assert "application/http" in response.json()["message"]


async def test_multipart_batch_of_ten_thousand_parts_is_refused_by_counting(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    part = b"--b\r\nContent-Type: application/http\r\n\r\nGET Things HTTP/1.1\r\n\r\n\r\n"
    body = part * 10_000 + b"--b--\r\n"
    started = time.perf_counter()
    response = await client.post(
        "/v1.1/$batch",
        content=body,
        headers={**admin, "content-type": "multipart/mixed; boundary=b"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "requests"
    assert time.perf_counter() - started < 0.5  # counted, not parsed: was 2.6 s


async def test_multipart_batch_still_runs(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    body = (
        b"preamble\r\n--b\r\nContent-Type: application/http\r\n\r\n"
        b"POST Things HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        b'{"name": "t", "description": "d"}\r\n'
        b"--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n"
        b"--c\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\n"
        b"GET Things HTTP/1.1\r\n\r\n\r\n--c--\r\n--b--\r\n"
    )
    response = await client.post(
        "/v1.1/$batch",
        content=body,
        headers={**admin, "content-type": 'multipart/mixed; boundary="b"'},
    )
    assert response.status_code == 200, response.text
    assert b"HTTP/1.1 201 Created" in response.content
    assert b"HTTP/1.1 200 OK" in response.content


@pytest.mark.parametrize(
    ("option", "text"),
    [
        ("$filter", "length(" + "concat(" * 95 + "'a'" + ",'b')" * 95 + ") gt 0"),
        ("$filter", "(" * 5_000),
        ("$orderby", ",".join(["name"] * 1000)),
        ("$orderby", ",".join(["name"] * 33)),
        ("$select", ",".join(["name"] * 1000)),
        ("$expand", "Datastreams($expand=Thing(" * 60 + "))" * 60),
    ],
)
async def test_query_size_and_depth_are_bounded(
    client: httpx.AsyncClient, admin: dict[str, str], option: str, text: str
) -> None:
    await make_datastream(client, admin)
    response = await client.get("/v1.1/Things", params={option: text})
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith(option) or response.json()["field"] == option


async def test_orderby_on_a_missing_nested_property_sorts(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for properties in ({"nosuch": 5}, {"nosuch": {"deeper": "x"}}, {"nosuch": [1]}, {}):
        body = thing("t", properties=properties)
        assert (await client.post("/v1.1/Things", json=body, headers=admin)).status_code == 201
    for order in ("properties/nosuch/deeper desc", "properties/nosuch asc"):
        response = await client.get("/v1.1/Things", params={"$orderby": order})
        assert response.status_code == 200, response.text
        assert len(response.json()["value"]) == 4


@pytest.mark.parametrize(
    "path", ["/v1.1//Things", "/v1.1/Things//", "/v1.1/Things(1)//Datastreams"]
)
async def test_empty_path_segments_are_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    if path.endswith("//"):
        assert response.status_code == 200  # a trailing slash names the same resource
        return
    assert response.status_code == 404, response.text
    assert "empty path segment" in response.json()["message"]


@pytest.mark.parametrize(
    "filter_text",
    [
        "id mul 9223372036854775807 gt 0",
        "id add 9223372036854775807 gt 0",
        "not " * 48 + "(id gt 0)",
        "phenomenonTime sub duration'P99999999D' lt now()",
        "phenomenonTime add duration'P99999999D' gt now()",
        "id div 0 eq 1",
    ],
)
async def test_arithmetic_the_database_refuses_is_a_bad_query(
    client: httpx.AsyncClient, admin: dict[str, str], backend: Backend, filter_text: str
) -> None:
    stream = await make_datastream(client, admin)
    url = f"/v1.1/Datastreams({stream})/Observations"
    reading = {"phenomenonTime": "2026-01-01T00:00:00Z", "result": 1}
    assert (await client.post(url, json=reading, headers=admin)).status_code == 201
    refused = 0
    for path in ("/v1.1/Observations", "/v1.1/Things"):
        if "phenomenonTime" in filter_text and path.endswith("Things"):
            continue
        response = await client.get(path, params={"$filter": filter_text})
        assert response.status_code in (200, 400), response.text
        if response.status_code == 400:
            assert response.json()["field"] == "$filter"
            refused += 1
    if backend.name == "postgresql" and ("sub duration" in filter_text or "add 92" in filter_text):
        assert refused, "PostgreSQL overflows bigint and timestamp arithmetic"


async def test_many_or_large_headers_are_refused(client: httpx.AsyncClient) -> None:
    many = await client.get("/v1.1/Things", headers={f"x-h{i}": "v" for i in range(1000)})
    assert many.status_code == 431, many.text
    assert "request headers" in many.json()["message"]
    large = await client.get("/v1.1/Things", headers={"x-big": "v" * 100_000})
    assert large.status_code == 431, large.text
    plain = await client.get("/v1.1/Things", headers={"x-small": "v" * 1000})
    assert plain.status_code == 200


async def test_feature_of_interest_without_observations_is_created(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Found by the fuzz stage: creating a FeatureOfInterest answered 500 (a hook read the
    phenomenonTime an Observation has)."""
    body = {
        "name": "plot",
        "description": "d",
        "encodingType": "application/geo+json",
        "feature": {"type": "Point", "coordinates": [106.6, 10.9]},
        "Observations": [],
    }
    response = await client.post("/v1.1/FeaturesOfInterest", json=body, headers=admin)
    assert response.status_code == 201, response.text
