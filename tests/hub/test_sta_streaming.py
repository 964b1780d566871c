"""Large collection answers stream chunk by chunk (issue 17), on both backends.

A page of more than `STREAM_CHUNK` entities is sent as it is made: the same entities as
small pages, `@iot.count` first, the nextLink after `value`; a later chunk past the byte
or entity budget ends the page early with a nextLink that continues exactly there; a
served process's memory grows far less than the answer; a client that goes away or a
database that fails mid-answer leaves no connection behind and no complete-looking body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import asyncpg
import httpx
import pytest

from cityhelix.app import create_app
from cityhelix.hub.store.read import STREAM_CHUNK
from tests.conftest import ADMIN_TOKEN, POSTGRES_ADMIN_DSN, Backend
from tests.hub.factories import make_datastream
from tests.hub.hostile_support import postgres_database, served_limited

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: Observations of the in-process tests: two and a half chunks
ROWS = 2 * STREAM_CHUNK + STREAM_CHUNK // 2


async def _readings(client: httpx.AsyncClient, stream: int, n: int) -> None:
    rows = [
        [f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", i] for i in range(n)
    ]
    body = [
        {
            "Datastream": {"@iot.id": stream},
            "components": ["phenomenonTime", "result"],
            "dataArray": rows,
        }
    ]
    response = await client.post("/v1.1/CreateObservations", json=body, headers=AUTH)
    assert response.status_code == 201, response.text[:300]


async def _seed(client: httpx.AsyncClient, n: int = ROWS) -> int:
    stream = await make_datastream(client, AUTH)
    await _readings(client, stream, n)
    return stream


async def _paged(client: httpx.AsyncClient, top: int, **params: str) -> list[dict[str, Any]]:
    """Every Observation read in pages of `top` (each built whole), by $skip."""
    entities: list[dict[str, Any]] = []
    while True:
        response = await client.get(
            "/v1.1/Observations", params={**params, "$top": str(top), "$skip": str(len(entities))}
        )
        assert response.status_code == 200, response.text[:300]
        assert "content-length" in response.headers  # a small page is built whole
        page = response.json()["value"]
        entities.extend(page)
        if len(page) < top:
            return entities


async def _followed(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> list[Any]:
    """The entities of every page from `url`, following `@iot.nextLink`; each page's body."""
    bodies: list[dict[str, Any]] = []
    response = await client.get(url, params=params)
    while True:
        assert response.status_code == 200, response.text[:300]
        bodies.append(response.json())
        link = bodies[-1].get("@iot.nextLink")
        if link is None:
            return bodies
        response = await client.get(link)


def _paging(link: str) -> tuple[int, int]:
    """The `$skip` and `$top` of a nextLink."""
    params = dict(parse_qsl(urlsplit(link).query))
    return int(params["$skip"]), int(params["$top"])


@asynccontextmanager
async def _app_client(backend: Backend, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app on the test database with other budgets."""
    app = create_app(backend.settings.model_copy(update=settings), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_a_streamed_answer_holds_the_entities_of_small_pages(
    client: httpx.AsyncClient,
) -> None:
    await _seed(client)
    expand = {"$expand": "Datastream($select=name;$expand=Thing($select=name))"}
    response = await client.get(
        "/v1.1/Observations", params={"$top": str(ROWS), "$count": "true", **expand}
    )
    assert response.status_code == 200, response.text[:300]
    # sent as it was made: no length known in advance
    assert "content-length" not in response.headers
    assert response.text.startswith(f'{{"@iot.count":{ROWS},"value":[{{"@iot.id":1,')
    streamed = response.json()
    assert list(streamed) == ["@iot.count", "value"]
    assert streamed["value"] == await _paged(client, STREAM_CHUNK // 2, **expand)
    assert streamed["value"][-1]["Datastream"]["Thing"]["name"] == "Air station 1"
    assert [entity["@iot.id"] for entity in streamed["value"]] == list(range(1, ROWS + 1))


async def test_the_next_link_of_a_streamed_page_comes_after_its_value(
    client: httpx.AsyncClient,
) -> None:
    await _seed(client)
    top = STREAM_CHUNK + STREAM_CHUNK // 2
    response = await client.get(
        "/v1.1/Observations", params={"$top": str(top), "$select": "id,result"}
    )
    assert response.status_code == 200, response.text[:300]
    assert "content-length" not in response.headers
    document = response.json()
    assert list(document) == ["value", "@iot.nextLink"]
    assert _paging(document["@iot.nextLink"]) == (top, top)
    assert response.text.endswith(f'"@iot.nextLink":"{document["@iot.nextLink"]}"}}')
    rest = (await client.get(document["@iot.nextLink"])).json()
    assert "@iot.nextLink" not in rest
    ids = [entity["@iot.id"] for entity in document["value"] + rest["value"]]
    assert ids == list(range(1, ROWS + 1))


async def test_a_chunk_past_the_byte_budget_ends_the_page_where_the_next_link_goes_on(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    await _seed(client)
    params = {"$top": str(ROWS), "$expand": "Datastream($select=name)"}
    whole = await client.get("/v1.1/Observations", params=params)
    assert whole.status_code == 200
    # the first chunk fits (two fifths of the answer), the third does not
    budget = len(whole.content) * 3 // 5
    async with _app_client(backend, max_response_bytes=budget) as limited:
        bodies = await _followed(limited, "/v1.1/Observations", params)
        first = (await limited.get("/v1.1/Observations", params=params)).content
    assert len(first) <= budget
    assert len(bodies) == 2
    stopped = len(bodies[0]["value"])
    assert STREAM_CHUNK < stopped < 2 * STREAM_CHUNK
    assert _paging(bodies[0]["@iot.nextLink"]) == (stopped, ROWS - stopped)
    entities = [entity for body in bodies for entity in body["value"]]
    assert entities == whole.json()["value"]  # every entity once, in order
    # a first chunk past the budget is refused before the first byte, as a whole answer is
    async with _app_client(backend, max_response_bytes=budget // 10) as limited:
        response = await limited.get("/v1.1/Observations", params=params)
    assert response.status_code == 400
    document = response.json()
    assert document["field"] == "$top" and "max_response_bytes" in document["message"]
    assert "would be at least" in document["message"]  # its first chunk's bytes


async def test_a_chunk_past_the_entity_budget_ends_the_page_where_the_next_link_goes_on(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    await _seed(client)
    # each Observation writes out two entities (itself and its Datastream): 5,000 in all
    params = {"$top": str(ROWS), "$count": "true", "$expand": "Datastream"}
    budget = 3 * STREAM_CHUNK
    async with _app_client(backend, max_response_entities=budget) as limited:
        bodies = await _followed(limited, "/v1.1/Observations", params)
    stopped = budget // 2
    assert [len(body["value"]) for body in bodies] == [stopped, ROWS - stopped]
    assert [body["@iot.count"] for body in bodies] == [ROWS, ROWS]
    assert _paging(bodies[0]["@iot.nextLink"]) == (stopped, ROWS - stopped)
    ids = [entity["@iot.id"] for body in bodies for entity in body["value"]]
    assert ids == list(range(1, ROWS + 1))
    # a first chunk past the budget (2,000 entities) is refused before the first byte
    async with _app_client(backend, max_response_entities=STREAM_CHUNK) as limited:
        response = await limited.get("/v1.1/Observations", params=params)
    assert response.status_code == 400
    document = response.json()
    assert document["field"] == "$expand" and "max_response_entities" in document["message"]


# -- served processes: the bytes on the wire, the memory, the connection ------------------


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('streaming')}/hub.db"
        return
    with postgres_database() as (url, _dsn):
        yield url


#: Observations of the served tests, and the bytes of their Datastream's properties: each
#: Observation expanded with its Datastream writes them out again, so the answer (about
#: 180 MB) is far larger than the page's rows (a few MB), which stay held to its end
SERVED_ROWS = 20_000
PROPERTY_BYTES = 8_000
SERVED_ENV = {
    "CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN,
    "CITYHELIX_PILLARS": "hub",
    "CITYHELIX_MAX_TOP": str(SERVED_ROWS),
    "CITYHELIX_RATE_ANONYMOUS_READS_PER_SECOND": "0",
    "CITYHELIX_DATABASE_POOL_SIZE": "1",
}
LARGE = {"$top": str(SERVED_ROWS), "$expand": "Datastream"}


async def _seed_served(base: str) -> None:
    """The large answer's data, once per database (the served tests share it)."""
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        if (await client.get("/v1.1/Observations", params={"$top": "1"})).json()["value"]:
            return
        stream = await make_datastream(client, AUTH)
        patched = await client.patch(
            f"/v1.1/Datastreams({stream})",
            json={"properties": {"notes": "n" * PROPERTY_BYTES}},
            headers=AUTH,
        )
        assert patched.status_code == 200, patched.text[:300]
        await _readings(client, stream, SERVED_ROWS)


def _memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_a_large_answer_streams_in_far_less_memory_than_its_size(database_url: str) -> None:
    """The served process's peak resident size grows by less than a third of the answer.

    Built whole, the answer's bytes alone (about 180 MB, plus the encoder's buffer) are
    more than it; streamed, the growth is the page's rows (20,000, a few MB), one chunk's
    documents and bytes (about 8 MB, with the copies the transport makes) and the
    allocator's slack. The peak is the kernel's VmHWM, reset before the GET.
    """
    with served_limited(database_url, **SERVED_ENV) as (base, process):
        asyncio.run(_seed_served(base))
        with httpx.Client(base_url=base, timeout=300) as http:
            # warm: the first read of each kind imports and caches what later reads reuse
            assert http.get("/v1.1/Observations", params={**LARGE, "$top": "2000"}).is_success
            Path(f"/proc/{process.pid}/clear_refs").write_text("5")  # reset VmHWM
            before = _memory_kib(process.pid, "VmRSS")
            received, start, end = 0, b"", b""
            with http.stream("GET", "/v1.1/Observations", params=LARGE) as response:
                assert response.status_code == 200
                assert response.headers.get("transfer-encoding") == "chunked"
                assert "content-length" not in response.headers
                for piece in response.iter_bytes():
                    start = start or piece[:100]
                    end = (end + piece)[-200:]
                    received += len(piece)
            peak = _memory_kib(process.pid, "VmHWM")
    assert start.startswith(b'{"value":[{"@iot.id":1,')
    assert end.endswith(b"}}]}")  # complete: no nextLink, every entity written
    assert received > SERVED_ROWS * PROPERTY_BYTES
    growth = (peak - before) * 1024
    assert growth < received / 3, f"grew {growth / 2**20:.0f} MiB for {received / 2**20:.0f} MiB"


def test_a_client_that_leaves_mid_answer_gives_the_connection_back(database_url: str) -> None:
    """With two database connections in all, three answers abandoned after their first
    bytes leave both free: the reads after them are answered."""
    with served_limited(database_url, **SERVED_ENV) as (base, _process):
        asyncio.run(_seed_served(base))
        for _ in range(3):
            with (
                httpx.Client(base_url=base, timeout=60) as http,
                http.stream("GET", "/v1.1/Observations", params=LARGE) as response,
            ):
                assert response.status_code == 200
                assert "content-length" not in response.headers
                assert next(response.iter_bytes()).startswith(b'{"value":[')
        with httpx.Client(base_url=base, timeout=20) as http:
            for _ in range(3):
                small = http.get("/v1.1/Observations", params={**LARGE, "$top": "10"})
                assert small.status_code == 200, small.text[:300]


async def _end_database_sessions(database: str) -> int:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        ended: int = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
        return ended
    finally:
        await connection.close()


def test_a_database_failing_mid_answer_breaks_the_body_off() -> None:
    """PostgreSQL ends the stream's session after its first bytes: the next chunk's query
    fails, and the client sees an incomplete chunked body, not a short valid answer."""
    with (
        postgres_database() as (url, _dsn),
        served_limited(url, **SERVED_ENV) as (base, process),
    ):
        asyncio.run(_seed_served(base))
        received = 0
        with (
            httpx.Client(base_url=base, timeout=60) as http,
            http.stream("GET", "/v1.1/Observations", params=LARGE) as response,
        ):
            assert response.status_code == 200
            pieces = response.iter_bytes()
            received += len(next(pieces))
            # the answer is 180 MB: the server is far from its end, waiting on this client
            assert asyncio.run(_end_database_sessions(url.rsplit("/", 1)[1])) >= 1
            with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
                for piece in pieces:
                    received += len(piece)
        assert received < SERVED_ROWS * PROPERTY_BYTES
        assert process.poll() is None
        with httpx.Client(base_url=base, timeout=20) as http:
            answers = [http.get("/v1.1/Things").status_code for _ in range(4)]
        assert answers[-1] == 200  # a dead pooled session fails one read at most
