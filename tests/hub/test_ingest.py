"""The batched ingest over HTTP, on both backends: batching, per-reading errors, back-pressure.

Concurrent POSTs of plain Observations go through `hub.ingest`; `GET /api/hub/ingest` shows
its counters. Every answer is checked against what the database holds, read back over HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from tests.conftest import Backend, bearer
from tests.hub.factories import make_datastream

pytestmark = pytest.mark.asyncio

Document = dict[str, Any]


def reading(result: float) -> Document:
    return {"phenomenonTime": "2026-11-23T08:00:00Z", "result": result}


async def post_all(
    client: httpx.AsyncClient, path: str, bodies: list[Document], headers: dict[str, str]
) -> list[httpx.Response]:
    """POST every body at once, each in its own request."""
    return list(
        await asyncio.gather(*(client.post(path, json=body, headers=headers) for body in bodies))
    )


async def stored_results(client: httpx.AsyncClient, stream_id: int) -> list[Any]:
    response = await client.get(
        f"/v1.1/Datastreams({stream_id})/Observations", params={"$top": "10000"}
    )
    assert response.status_code == 200, response.text
    return [observation["result"] for observation in response.json()["value"]]


async def ingest_status(client: httpx.AsyncClient, headers: dict[str, str]) -> Document:
    response = await client.get("/api/hub/ingest", headers=headers)
    assert response.status_code == 200, response.text
    status: Document = response.json()
    return status


async def test_ingest_status_shows_the_counters_and_settings(
    backend: Backend, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    status = await ingest_status(client, admin)
    counters = ("queued", "most_queued", "batches", "readings", "overloaded", "fallbacks")
    assert all(isinstance(status[name], int) and status[name] >= 0 for name in counters)
    assert status["queue_size"] == backend.settings.ingest_queue_size
    assert status["batch_size"] == backend.settings.ingest_batch_size
    assert status["batch_ms"] == backend.settings.ingest_batch_ms
    assert status["mqtt"] is None  # the test app runs without MQTT


@pytest.mark.parametrize("role", ["admin", "operator", "analyst"])
async def test_ingest_status_is_read_by_operations_roles(
    client: httpx.AsyncClient, tokens: dict[str, str], role: str
) -> None:
    response = await client.get("/api/hub/ingest", headers=bearer(tokens[role]))
    assert response.status_code == 200, response.text
    assert "readings" in response.json()


@pytest.mark.parametrize("role", ["department", "tenant", "public"])
async def test_ingest_status_is_refused_to_other_roles(
    client: httpx.AsyncClient, tokens: dict[str, str], role: str
) -> None:
    response = await client.get("/api/hub/ingest", headers=bearer(tokens[role]))
    assert response.status_code == 403
    assert role in response.json()["detail"]


async def test_ingest_status_needs_credentials(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/api/hub/ingest")
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    unknown = await client.get("/api/hub/ingest", headers=bearer("no-such-token"))
    assert unknown.status_code == 401
    assert "token" in unknown.json()["detail"]


async def test_concurrent_posts_are_written_in_fewer_transactions_than_requests(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    before = await ingest_status(client, admin)
    results = [float(n) for n in range(60)]
    path = f"/v1.1/Datastreams({stream_id})/Observations"
    responses = await post_all(client, path, [reading(r) for r in results], admin)
    assert [r.status_code for r in responses] == [201] * len(results)
    after = await ingest_status(client, admin)
    assert after["readings"] - before["readings"] == len(results)
    assert 1 <= after["batches"] - before["batches"] < len(results)
    for result, response in zip(results, responses, strict=True):
        assert response.json()["result"] == result
        fetched = await client.get(response.headers["Location"])
        assert fetched.status_code == 200, fetched.text
        assert fetched.json()["result"] == result
        assert fetched.json()["@iot.id"] == response.json()["@iot.id"]
    assert sorted(await stored_results(client, stream_id)) == results


async def test_readings_named_by_a_datastream_link_are_batched_too(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(client, admin)
    before = await ingest_status(client, admin)
    bodies = [{**reading(n), "Datastream": {"@iot.id": stream_id}} for n in range(20)]
    responses = await post_all(client, "/v1.1/Observations", bodies, admin)
    assert [r.status_code for r in responses] == [201] * len(bodies)
    after = await ingest_status(client, admin)
    assert after["readings"] - before["readings"] == len(bodies)
    assert sorted(await stored_results(client, stream_id)) == list(range(20))


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        # refused at the edge, before it is queued
        ({"phenomenonTime": "yesterday", "result": -1}, "phenomenonTime"),
        ({"phenomenonTime": "2026-11-23T08:00:00Z", "result": -1, "colour": "red"}, "colour"),
        # passes the edge, refused by the database inside its batch
        ({**reading(-1), "FeatureOfInterest": {"@iot.id": 999_999}}, "FeatureOfInterest"),
    ],
    ids=["bad-time", "unknown-member", "missing-feature"],
)
async def test_a_bad_reading_among_good_ones_gets_its_own_error_and_the_others_are_written(
    client: httpx.AsyncClient, admin: dict[str, str], bad: Document, named: str
) -> None:
    stream_id = await make_datastream(client, admin)
    goods = [reading(n) for n in range(10)]
    bodies = [*goods[:5], bad, *goods[5:]]
    path = f"/v1.1/Datastreams({stream_id})/Observations"
    responses = await post_all(client, path, bodies, admin)
    refused = responses[5]
    assert refused.status_code == 400, refused.text
    assert named in refused.json()["message"]
    assert [r.status_code for r in responses[:5] + responses[6:]] == [201] * 10
    assert sorted(await stored_results(client, stream_id)) == list(range(10))


@pytest.fixture
async def tiny_queue(backend: Backend, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a second app on the same database whose ingest queue holds one reading.

    Its batches gather for a whole second, so concurrent readings find the queue full.
    """
    settings = backend.settings.model_copy(update={"ingest_queue_size": 1, "ingest_batch_ms": 1000})
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_full_queue_answers_503_with_retry_after_and_writes_only_what_got_201(
    tiny_queue: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream_id = await make_datastream(tiny_queue, admin)
    path = f"/v1.1/Datastreams({stream_id})/Observations"
    responses = await post_all(tiny_queue, path, [reading(n) for n in range(40)], admin)
    codes = [response.status_code for response in responses]
    assert set(codes) <= {201, 503}, codes
    accepted = [n for n, code in enumerate(codes) if code == 201]
    refused = [response for response in responses if response.status_code == 503]
    assert accepted, "no reading got through"
    assert refused, "the queue of one never filled"
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        error = response.json()
        assert error["code"] == 503
        assert "retry" in error["message"]
    assert sorted(await stored_results(tiny_queue, stream_id)) == accepted
    status = await ingest_status(tiny_queue, admin)
    assert status["overloaded"] == len(refused)
    assert status["most_queued"] == 1
    assert status["queue_size"] == 1
