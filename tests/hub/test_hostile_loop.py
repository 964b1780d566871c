"""No single request holds the event loop: while a large request runs on a served process,
small reads are answered (issue 17: the parse of a large body, its rows' validation, the
documents and the JSON of a large answer run off the loop or in slices)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.hub.factories import make_datastream
from tests.hub.hostile_support import data_array_body, postgres_database, served_limited

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: rows of the large request: a body of about 1.5 MB
ROWS = 50_000


@pytest.fixture(params=["sqlite", "postgresql"], scope="module")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('loop')}/hub.db"
        return
    with postgres_database() as (url, _dsn):
        yield url


async def _reads_answered_during(base: str, large: httpx.Request) -> tuple[int, httpx.Response]:
    """How many small GETs were answered while `large` ran, and its answer."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=300) as large_client,
        httpx.AsyncClient(base_url=base, timeout=300) as small_client,
    ):
        running = asyncio.create_task(large_client.send(large))
        answered = 0
        while not running.done():
            small = await small_client.get("/v1.1/Things", params={"$top": "1"})
            assert small.status_code == 200, small.text
            if not running.done():
                answered += 1
        return answered, await running


def test_small_reads_answer_while_a_large_write_and_a_large_read_run(database_url: str) -> None:
    env = {"CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN, "CITYHELIX_RATE_ANONYMOUS_READS_PER_SECOND": "0"}
    with served_limited(database_url, **env) as (base, _process):

        async def run() -> None:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                stream = await make_datastream(client, AUTH)
            write = httpx.Request(
                "POST",
                f"{base}/v1.1/CreateObservations",
                content=data_array_body(stream, ROWS),
                headers={**AUTH, "Content-Type": "application/json"},
            )
            answered, response = await _reads_answered_during(base, write)
            assert response.status_code == 201, response.text[:300]
            assert answered >= 1
            read = httpx.Request(
                "GET",
                f"{base}/v1.1/Observations",
                params={"$top": "10000", "$expand": "Datastream,FeatureOfInterest"},
            )
            answered, response = await _reads_answered_during(base, read)
            assert response.status_code == 200, response.text[:300]
            assert len(response.json()["value"]) == 10_000
            assert answered >= 1

        asyncio.run(run())
