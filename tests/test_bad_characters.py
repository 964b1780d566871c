"""Text no database can hold (NUL, unpaired surrogates) is refused at the edge of the
pillars' JSON APIs with a 400 naming the parameter or field, nothing written (issue 17:
schemathesis found 500s on PostgreSQL)."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from tests.conftest import bearer

pytestmark = pytest.mark.asyncio

NUL = "a\x00b"
SURROGATE = "a\ud800b"


async def _audited(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count: int = (
            await connection.execute(select(func.count()).select_from(audit_log))
        ).scalar_one()
    return count


async def _post(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], token: str
) -> httpx.Response:
    """`body` as JSON with its odd characters escaped (`\\u0000`, `\\ud800`), as a client
    would send them (httpx's own encoder cannot write a lone surrogate)."""
    headers = {**bearer(token), "Content-Type": "application/json"}
    return await client.post(path, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.parametrize("value", ["a%00b", "%00"])
async def test_a_nul_in_an_ops_query_filter_is_a_400_naming_the_parameter(
    client: httpx.AsyncClient, tokens: dict[str, str], value: str
) -> None:
    answer = await client.get(
        f"/api/ops/incidents?category={value}", headers=bearer(tokens["operator"])
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "category"
    assert "category" in answer.json()["detail"]
    # the same filter without it is answered
    fine = await client.get("/api/ops/incidents?category=ab", headers=bearer(tokens["operator"]))
    assert fine.status_code == 200, fine.text


async def test_open311_answers_its_own_error_list(client: httpx.AsyncClient) -> None:
    answer = await client.get("/open311/v2/requests.json?service_code=a%00b")
    assert answer.status_code == 400, answer.text
    [error] = answer.json()
    assert error["code"] == 400
    assert error["description"].startswith("service_code:")


def _investor(**fields: str) -> dict[str, Any]:
    return {"name": "Example Semiconductor Co.", "country": "TW", "kind": "company", **fields}


def _policy(document: dict[str, Any], bad: str, where: str) -> dict[str, Any]:
    """A valid new version of the policy in force with `bad` in its note or a rule's source."""
    changed = copy.deepcopy(document)
    if where == "note":
        return {"document": changed, "note": bad}
    changed["rules"][0]["source"] = bad
    return {"document": changed, "note": "v2"}


@pytest.mark.parametrize(
    ("path", "bad", "field"),
    [
        ("/api/invest/policies", NUL, "note"),
        ("/api/invest/policies", SURROGATE, "note"),
        ("/api/invest/policies", NUL, "document.rules[0].source"),
        ("/api/invest/investors", NUL, "name"),
        ("/api/invest/investors", SURROGATE, "name"),
    ],
)
async def test_bad_characters_in_an_invest_body_are_a_400_and_nothing_is_written(
    client: httpx.AsyncClient,
    tokens: dict[str, str],
    engine: AsyncEngine,
    path: str,
    bad: str,
    field: str,
) -> None:
    document = (await client.get("/api/invest/policies/current")).json()["document"]
    body = _policy(document, bad, field) if path.endswith("/policies") else _investor(name=bad)
    answer = await _post(client, path, body, tokens["analyst"])
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == field
    assert answer.json()["detail"].startswith(f"{field}: ")
    assert await _audited(engine) == 0
    assert len((await client.get("/api/invest/policies")).json()) == 1
    # the same body without it is taken
    fine = _policy(document, "ab", field) if path.endswith("/policies") else _investor(name="ab")
    fine_answer = await _post(client, path, fine, tokens["analyst"])
    assert fine_answer.status_code == 201, fine_answer.text


async def test_bad_characters_in_a_helix_body_are_a_400_and_a_pair_is_fine(
    client: httpx.AsyncClient, tokens: dict[str, str], engine: AsyncEngine
) -> None:
    body = {"name": "Lab", "kind": "state", "people": [{"name": SURROGATE}]}
    answer = await _post(client, "/api/helix/actors", body, tokens["analyst"])
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "people[0].name"
    body = {"name": "Lab", "kind": "state", "links": [], NUL: 1}
    answer = await _post(client, "/api/helix/actors", body, tokens["analyst"])
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "a\\u0000b"
    assert (await client.get("/api/helix/actors")).json()["count"] == 0
    assert await _audited(engine) == 0
    # a surrogate pair is one character (an emoji), stored and read back
    made = await _post(
        client, "/api/helix/actors", {"name": "Lab \U0001f600", "kind": "state"}, tokens["analyst"]
    )
    assert made.status_code == 201, made.text
    assert made.json()["name"] == "Lab \U0001f600"


async def test_a_nul_in_an_open311_form_is_refused_in_its_format(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    form = {"service_code": "pothole", "description": NUL, "lat": "11.0", "long": "106.6"}
    answer = await client.post("/open311/v2/requests.json", data=form)
    assert answer.status_code == 400, answer.text
    assert answer.json()[0]["description"].startswith("description: ")
    assert await _audited(engine) == 0
