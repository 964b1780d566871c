"""Smaller faults under hostile input: media types, foreign `$ref` links, the audit of the
admin token sent through Basic, per-client rate limits (429 with Retry-After), and
validation messages that reveal no source file paths."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

import cityhelix
from cityhelix.app import create_app
from cityhelix.auth.tables import audit_log
from tests.conftest import ADMIN_TOKEN, Backend
from tests.hub.factories import location, thing


async def test_a_body_in_another_media_type_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for media_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        response = await client.post(
            "/v1.1/Things",
            content=b'{"name": "t", "description": "d"}',
            headers={**admin, "content-type": media_type},
        )
        assert response.status_code == 415, response.text
        assert media_type in response.json()["message"]
    listing = await client.get("/v1.1/Things", params={"$count": "true"})
    assert listing.json()["@iot.count"] == 0


async def test_a_ref_naming_another_server_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    made = await client.post("/v1.1/Things", json=thing(), headers=admin)
    place = await client.post("/v1.1/Locations", json=location(), headers=admin)
    assert made.status_code == place.status_code == 201
    thing_url = made.headers["location"]
    place_id = place.json()["@iot.id"]
    for link in (
        f"http://evil.example/v1.1/Locations({place_id})",
        f"https://testserver/v1.1/Locations({place_id})",
        f"//evil.example/v1.1/Locations({place_id})",
    ):
        response = await client.post(
            f"{thing_url}/Locations/$ref", json={"@iot.selfLink": link}, headers=admin
        )
        assert response.status_code == 400, (link, response.text)
        assert response.json()["field"] == "@iot.selfLink"
    assert (await client.get(f"{thing_url}/Locations")).json()["value"] == []
    for link in (f"http://testserver/v1.1/Locations({place_id})", f"/v1.1/Locations({place_id})"):
        response = await client.post(
            f"{thing_url}/Locations/$ref", json={"@iot.selfLink": link}, headers=admin
        )
        assert response.status_code == 200, (link, response.text)


async def test_basic_admin_token_is_audited_as_its_owner(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    credentials = base64.b64encode(f"mallory:{ADMIN_TOKEN}".encode()).decode()
    response = await client.post(
        "/v1.1/Things", json=thing(), headers={"Authorization": f"Basic {credentials}"}
    )
    assert response.status_code == 201, response.text
    async with engine.connect() as connection:
        names = set(await connection.scalars(select(audit_log.c.user_name)))
    assert names == {"admin"}


@pytest.fixture
async def limited(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """An app of tight limits on the test database: 5 anonymous reads, then 1 every 100 s
    (a loaded machine's slow reads must not earn a token back within the test); 3 refused
    credentials, then 1 a minute."""
    settings = backend.settings.model_copy(
        update={
            "rate_anonymous_reads_per_second": 0.01,
            "rate_anonymous_reads_burst": 5,
            "rate_auth_failures_per_minute": 1.0,
            "rate_auth_failures_burst": 3,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_anonymous_reads_are_rate_limited_per_client(limited: httpx.AsyncClient) -> None:
    answers = [(await limited.get("/v1.1/Things")).status_code for _ in range(8)]
    assert answers[:5] == [200] * 5
    assert 429 in answers[5:]
    refused = await limited.get("/v1.1/Things")
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "anonymous reads" in refused.json()["message"]
    plain = await limited.get("/api/hub/datastreams/1/aggregates")
    assert plain.status_code == 429 and "detail" in plain.json()
    # an authenticated read is not an anonymous one
    signed = await limited.get("/v1.1/Things", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert signed.status_code == 200


async def test_failed_authentications_are_rate_limited_per_client(
    limited: httpx.AsyncClient,
) -> None:
    bad = {"Authorization": "Bearer not-a-token-of-anyone-0000"}
    answers = [(await limited.post("/v1.1/Things", json=thing(), headers=bad)) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [401] * 3
    assert answers[3].status_code == answers[4].status_code == 429
    assert int(answers[4].headers["retry-after"]) >= 1
    # while the bucket is empty, even the right token waits: guessing is slow for everyone
    good = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await limited.post("/v1.1/Things", json=thing(), headers=good)).status_code == 429


#: requests whose parameters or bodies fail validation, on every flavour of the hub's routes
_MALFORMED = [
    ("GET", "/api/hub/datastreams/abc/aggregates", None),
    ("GET", "/api/hub/datastreams/9223372036854775808/aggregates", None),
    ("GET", "/api/hub/datastreams/1/aggregates?interval=2y&start=yesterday", None),
    ("GET", "/v1.1/Things?$top=abc", None),
    ("GET", "/v1.1/Things?$filter=name eq", None),
    ("POST", "/v1.1/Things", b"{not json"),
    ("POST", "/v1.1/$batch", b'{"requests": [{"id": 1}]}'),
    ("POST", "/v1.1/CreateObservations", b"[1, 2"),
    ("PATCH", "/v1.1/Things(1)", b"[]"),
]


@pytest.mark.parametrize(("method", "url", "body"), _MALFORMED)
async def test_validation_messages_reveal_no_source_paths(
    client: httpx.AsyncClient, admin: dict[str, str], method: str, url: str, body: bytes | None
) -> None:
    headers = {**admin, "Content-Type": "application/json"} if body is not None else admin
    response = await client.request(method, url, content=body, headers=headers)
    assert 400 <= response.status_code < 500, response.text[:300]
    source = str(Path(cityhelix.__file__).resolve().parent.parent)
    for revealing in (source, ".py", 'File "', "site-packages", "Traceback"):
        assert revealing not in response.text, (revealing, response.text[:500])
