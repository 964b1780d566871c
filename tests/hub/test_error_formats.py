"""Each route family answers errors in its own format: SensorThings documents on `/v1.1`,
FastAPI's `{"detail": ...}` on the hub's plain `/api/hub` routes and everywhere else."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from cityhelix.hub.http.responses import PlainRoute, SensorThingsRoute
from tests.hub.factories import make_datastream

AGGREGATES = "/api/hub/datastreams/{}/aggregates"


def _is_sensorthings_error(document: object, status: int) -> bool:
    return (
        isinstance(document, dict)
        and document.get("code") == status
        and document.get("type") == "error"
        and isinstance(document.get("message"), str)
        and "detail" not in document
    )


async def test_plain_hub_route_answers_a_bad_path_parameter_as_detail(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(AGGREGATES.format("abc"))
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail"}
    assert body["detail"][0]["loc"] == ["path", "datastream_id"]


async def test_plain_hub_route_answers_hub_errors_as_detail(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    stream = await make_datastream(client, admin)
    refused = await client.get(AGGREGATES.format(stream), params={"interval": "5m"})
    assert refused.status_code == 400
    assert set(refused.json()) == {"detail"} and "interval" in refused.json()["detail"]
    unknown = await client.get("/api/hub/ingest", headers={"Authorization": "Bearer nobody"})
    assert unknown.status_code == 401 and set(unknown.json()) == {"detail"}
    assert unknown.headers["WWW-Authenticate"].startswith("Bearer")


async def test_sensorthings_routes_answer_in_the_standard_format(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    cases = [
        ("/v1.1/Things(abc)", 404),
        ("/v1.1/NoSuchSet", 404),
        ("/v1.1/Things(999999)", 404),
        ("/v1.1/Things?$top=many", 400),
    ]
    for path, status in cases:
        response = await client.get(path)
        assert response.status_code == status, path
        assert _is_sensorthings_error(response.json(), status), (path, response.text)
    anonymous_write = await client.post("/v1.1/Things", json={"name": "n", "description": "d"})
    assert anonymous_write.status_code == 401
    assert _is_sensorthings_error(anonymous_write.json(), 401)


async def test_unknown_path_outside_sensorthings_answers_detail(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


async def test_validation_error_format_is_scoped_to_the_route_class() -> None:
    """The same bad parameter on two routers of one app: each answers in its own format."""
    sensorthings = APIRouter(route_class=SensorThingsRoute)
    plain = APIRouter(route_class=PlainRoute)

    @sensorthings.get("/standard/{number}")
    async def standard(number: int) -> dict[str, int]:
        return {"number": number}

    @plain.get("/plain/{number}")
    async def plain_route(number: int) -> dict[str, int]:
        return {"number": number}

    app = FastAPI()
    app.include_router(sensorthings)
    app.include_router(plain)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        standard_answer = await http.get("/standard/seven")
        assert standard_answer.status_code == 400
        document = standard_answer.json()
        assert _is_sensorthings_error(document, 400) and document["field"] == "number"
        assert "path.number" in document["message"]
        plain_answer = await http.get("/plain/seven")
        assert plain_answer.status_code == 422
        assert plain_answer.json()["detail"][0]["loc"] == ["path", "number"]
        assert (await http.get("/standard/7")).json() == {"number": 7}
