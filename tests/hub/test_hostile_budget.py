"""The response budget: no read may cost unbounded memory.

A read's rows across all `$expand` levels, and the entities it writes out (a to-one
expansion shared by many parents counted once per parent), stay within
`max_response_entities`; past it the read is a 400 naming `$expand` and the limit, decided
before any JSON is written.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest

from cityhelix.app import create_app
from tests.conftest import ADMIN_TOKEN, Backend
from tests.hub.factories import make_datastream
from tests.hub.hostile_support import postgres_database, served_limited

NESTED = "Datastream($expand=Observations($top=10000))"
#: the served budget (empty: the default); CITYHELIX_MAX_RESPONSE_ENTITIES=10000000 shows
#: the failure the budget prevents
BUDGET_ENV: dict[str, str] = {}


async def _readings(client: httpx.AsyncClient, admin: dict[str, str], stream: int, n: int) -> None:
    rows = [[f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z", i] for i in range(n)]
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    assert response.status_code == 201, response.text


async def test_shared_expansions_count_once_per_parent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)
    await _readings(client, admin, stream, 400)
    response = await client.get("/v1.1/Observations", params={"$top": "400", "$expand": NESTED})
    assert response.status_code == 400, response.text[:300]
    document = response.json()
    assert document["field"] == "$expand"
    assert "100000" in document["message"] and "max_response_entities" in document["message"]
    small = await client.get(
        "/v1.1/Observations",
        params={"$top": "10", "$expand": "Datastream($expand=Observations($top=100))"},
    )
    assert small.status_code == 200, small.text[:300]
    assert len(small.json()["value"][0]["Datastream"]["Observations"]) == 100


async def test_rows_a_level_may_fetch_are_bounded_before_its_query(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for name in ("a", "b", "c"):
        await make_datastream(client, admin, name)
    # 3 Things x 100,000 Observations at most: refused before the Observations are read
    response = await client.get(
        "/v1.1/Things",
        params={"$expand": "Datastreams($expand=Observations($top=10000))", "$top": "30"},
    )
    assert response.status_code == 200, response.text[:300]  # 3 x 1 x 10,001 fits
    response = await client.get(
        "/v1.1/Datastreams",
        params={"$expand": "Thing($expand=Datastreams($expand=Observations($top=10000)))"},
    )
    assert response.status_code == 200, response.text[:300]


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('budget')}/hub.db"
        return
    with postgres_database() as (url, _dsn):
        yield url


def test_a_memory_bounded_server_survives_the_nested_expand(database_url: str) -> None:
    """Under 2 GB of address space, the request that grew the process past 3 GB is refused
    and the next read is answered within a second."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    env = {"CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN, **BUDGET_ENV}
    with served_limited(database_url, 2 * 1024**3, **env) as (base, process):

        async def seed() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                stream = await make_datastream(client, auth)
                await _readings(client, auth, stream, 2000)

        asyncio.run(seed())
        with httpx.Client(base_url=base, timeout=120) as http:
            try:
                hostile = http.get("/v1.1/Observations", params={"$top": "2000", "$expand": NESTED})
                assert hostile.status_code == 400, hostile.text[:300]
            except httpx.TransportError as error:
                raise AssertionError(f"the server died: {error}") from None
            started = time.monotonic()
            after = http.get("/v1.1/Things")
            assert after.status_code == 200
            assert time.monotonic() - started < 1.0
        assert process.poll() is None


@asynccontextmanager
async def _budget_client(backend: Backend, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on the test database with other budgets."""
    app = create_app(backend.settings.model_copy(update=settings), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_read_past_the_time_budget_is_a_400_naming_the_setting(
    client: httpx.AsyncClient, admin: dict[str, str], backend: Backend
) -> None:
    stream = await make_datastream(client, admin)
    await _readings(client, admin, stream, 20_000)
    # every row's arithmetic and a sort over 20,000 rows: far past a millisecond
    heavy = {
        "$filter": "result mul 3 add 1 gt 2 and round(result div 7) mul 7 ne result add 1000000",
        "$count": "true",
        "$orderby": "result desc",
        "$top": "1000",
    }
    async with _budget_client(backend, max_query_seconds=0.001) as limited:
        response = await limited.get("/v1.1/Observations", params=heavy)
        assert response.status_code == 400, response.text[:300]
        document = response.json()
        assert document["field"] == "$filter"
        assert "max_query_seconds" in document["message"] and "0.001 s" in document["message"]
    # the limit stays with the app that set it: the session's app reads the same query
    assert (await client.get("/v1.1/Observations", params=heavy)).status_code == 200


async def test_an_answer_past_the_byte_budget_is_a_400_naming_the_setting(
    client: httpx.AsyncClient, admin: dict[str, str], backend: Backend
) -> None:
    stream = await make_datastream(client, admin)
    await _readings(client, admin, stream, 100)
    async with _budget_client(backend, max_response_bytes=4096) as limited:
        response = await limited.get("/v1.1/Observations", params={"$top": "100"})
        assert response.status_code == 400, response.text[:300]
        document = response.json()
        assert document["field"] == "$top"
        assert "max_response_bytes" in document["message"] and "4096" in document["message"]
        small = await limited.get("/v1.1/Observations", params={"$top": "2"})
        assert small.status_code == 200, small.text[:300]
        assert len(small.json()["value"]) == 2
