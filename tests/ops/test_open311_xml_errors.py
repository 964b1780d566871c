"""Open311 GeoReport v2 answers every error in the format its path asks (issue 17): on a
`.xml` path the spec's `<errors><error><code/><description/></error></errors>` as text/xml,
on a `.json` path its JSON list, whoever refuses (the route, Starlette's form parser, the
router for an unknown path or method, the text guard, the body, header and rate limits);
and stored text XML cannot hold does not break the XML documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from cityhelix.ops.desk.open311.keys import create_key
from tests.conftest import Backend
from tests.ops.test_open311 import EXAMPLE, _stored

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def api_key(engine: AsyncEngine) -> str:
    return await create_key(engine, "fixmystreet-app")


def georeport_error(answer: httpx.Response, fmt: str, status: int) -> str:
    """The description of the one error of `answer`, checked to be GeoReport's in `fmt`."""
    assert answer.status_code == status, answer.text
    if fmt == "xml":
        assert answer.headers["content-type"] == "text/xml; charset=utf-8", answer.headers
        assert answer.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<errors>')
        root = ElementTree.fromstring(answer.content)
        assert [e.tag for e in root] == ["error"]
        assert [e.tag for e in root[0]] == ["code", "description"]
        assert root.findtext("error/code") == str(status)
        return root.findtext("error/description") or ""
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    [error] = answer.json()
    assert error["code"] == status
    description: str = error["description"]
    return description


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_the_text_guard_refuses_in_the_format_of_the_path(
    client: httpx.AsyncClient, engine: AsyncEngine, api_key: str, fmt: str
) -> None:
    query = await client.get(f"/open311/v2/requests.{fmt}?service_code=a%00b")
    assert georeport_error(query, fmt, 400).startswith("service_code: ")
    form = {**EXAMPLE, "api_key": api_key, "description": "a\x00b"}
    posted = await client.post(f"/open311/v2/requests.{fmt}", data=form)
    assert georeport_error(posted, fmt, 400).startswith("description: ")
    # a NUL in a multipart field beside the photo: the same answer, nothing stored
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    with_media = await client.post(
        f"/open311/v2/requests.{fmt}",
        data=form,
        files={"media": ("pothole.png", png, "image/png")},
    )
    assert georeport_error(with_media, fmt, 400).startswith("description: ")
    assert await _stored(engine) == 0


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_unknown_paths_methods_and_ids_are_georeport_errors(
    client: httpx.AsyncClient, fmt: str
) -> None:
    for path in (f"/open311/v2/nothing.{fmt}", f"/open311/v3/requests.{fmt}"):
        assert "is not an endpoint" in georeport_error(await client.get(path), fmt, 404)
    wrong_method = await client.delete(f"/open311/v2/requests.{fmt}")
    assert "DELETE" in georeport_error(wrong_method, fmt, 405)
    assert wrong_method.headers["allow"] == "GET, POST"
    assert "PUT" in georeport_error(await client.put(f"/open311/v2/services.{fmt}"), fmt, 405)
    for bad_id in ("abc", "99999", "1" * 40):
        answer = await client.get(f"/open311/v2/requests/{bad_id}.{fmt}")
        assert georeport_error(answer, fmt, 404).startswith("service_request_id: ")
    token = await client.get(f"/open311/v2/tokens/nope.{fmt}")
    assert georeport_error(token, fmt, 404).startswith("token: ")
    service = await client.get(f"/open311/v2/services/dragons.{fmt}")
    assert georeport_error(service, fmt, 404).startswith("service_code: ")
    jurisdiction = await client.get(f"/open311/v2/services.{fmt}?jurisdiction_id=gotham")
    assert georeport_error(jurisdiction, fmt, 404).startswith("jurisdiction_id: ")
    # the spec's default format is XML: a path of another extension answers in it
    assert georeport_error(await client.get("/open311/v2/requests.csv"), "xml", 404)


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    """A multipart body of (header lines, content) parts, written by hand to be odd."""
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n{headers}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_malformed_and_oversized_forms_are_georeport_errors(
    client: httpx.AsyncClient, engine: AsyncEngine, api_key: str, fmt: str
) -> None:
    path = f"/open311/v2/requests.{fmt}"
    kind = {"Content-Type": "multipart/form-data; boundary=b0undary"}
    fields = [
        (f'Content-Disposition: form-data; name="{name}"', value.encode())
        for name, value in {**EXAMPLE, "api_key": api_key}.items()
    ]
    huge_header = (
        'Content-Disposition: form-data; name="description"\r\nX-Pad: ' + "p" * 100_000,
        b"x",
    )
    # past the parts the text guard reads (1,000), a NUL is left to the route: refused too
    many = [(f'Content-Disposition: form-data; name="f{i}"', b"x") for i in range(3000)]
    many.append(('Content-Disposition: form-data; name="description"', b"a\x00b"))
    no_name = ("Content-Disposition: form-data", b"x")
    bodies: list[tuple[bytes, dict[str, str]]] = [
        (_multipart([*fields, huge_header]), kind),
        (_multipart([*fields, *many]), kind),
        (_multipart([*fields, no_name]), kind),
        (b"--b0undary\r\nnot a part at all", kind),
        (_multipart(fields), {"Content-Type": "multipart/form-data"}),  # no boundary
    ]
    for body, headers in bodies:
        answer = await client.post(path, content=body, headers=headers)
        assert "form" in georeport_error(answer, fmt, 400), body[:80]
    unsupported = await client.post(path, content=b"{}", headers={"Content-Type": "text/plain"})
    assert "x-www-form-urlencoded" in georeport_error(unsupported, fmt, 400)
    assert await _stored(engine) == 0


@pytest.fixture
async def tight(backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    """An app of tight limits on the test database: bodies of 2 KB, 3 anonymous reads
    then 1 a second, 2 refused credentials then 1 a minute, 20 headers."""
    settings = backend.settings.model_copy(
        update={
            "max_body_bytes": 2048,
            "max_header_count": 20,
            "rate_anonymous_reads_per_second": 1.0,
            "rate_anonymous_reads_burst": 3,
            "rate_auth_failures_per_minute": 1.0,
            "rate_auth_failures_burst": 2,
        }
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_the_limits_refuse_in_the_format_of_the_path(
    tight: httpx.AsyncClient, fmt: str
) -> None:
    path = f"/open311/v2/requests.{fmt}"
    big = await tight.post(path, data={**EXAMPLE, "description": "x" * 4000})
    assert "2048 bytes" in georeport_error(big, fmt, 413)
    headers = {f"x-h{i}": "v" for i in range(30)}
    assert "request headers" in georeport_error(await tight.get(path, headers=headers), fmt, 431)
    reads = [await tight.get(f"/open311/v2/services.{fmt}") for _ in range(6)]
    assert reads[0].status_code == 200
    limited = next(r for r in reads if r.status_code == 429)
    assert "anonymous reads" in georeport_error(limited, fmt, 429)
    assert int(limited.headers["retry-after"]) >= 1
    # credentials refused (a bad token on an endpoint that checks them), then the wait
    bad = {"Authorization": "Bearer not-a-token-of-anyone-0000"}
    for _ in range(2):
        assert (await tight.get("/api/ops/incidents", headers=bad)).status_code == 401
    waited = await tight.post(path, data=EXAMPLE, headers=bad)
    assert "failed authentications" in georeport_error(waited, fmt, 429)


async def test_stored_text_xml_cannot_hold_is_written_as_a_replacement_character(
    client: httpx.AsyncClient, api_key: str
) -> None:
    form: dict[str, Any] = {**EXAMPLE, "api_key": api_key, "description": "bell\x07 and \x1bend"}
    made = await client.post("/open311/v2/requests.json", data=form)
    assert made.status_code == 201, made.text
    number = made.json()[0]["service_request_id"]
    # JSON carries the text as it was sent; XML as much of it as XML 1.0 can hold
    record = (await client.get(f"/open311/v2/requests/{number}.json")).json()[0]
    assert record["description"] == "bell\x07 and \x1bend"
    for path in (f"/open311/v2/requests/{number}.xml", "/open311/v2/requests.xml"):
        answer = await client.get(path)
        assert answer.status_code == 200, answer.text
        root = ElementTree.fromstring(answer.content)
        assert root.findtext("request/description") == "bell\ufffd and \ufffdend"
    # an error describing a path with such a character stays a document too
    odd = await client.get("/open311/v2/no%07where.xml")
    assert "no\ufffdwhere" in georeport_error(odd, "xml", 404)
