"""Text no database can hold (NUL, unpaired surrogates) in forms, on every path (issue 17):
multipart parts (a field's value, a part's name, a file's name) and URL-encoded fields of
the JSON APIs, Open311 and the web console's pages are refused before any route runs,
with a 400 in the path's format (a page for a browser's form post, `{"detail", "field"}`
for a script), and nothing is written. The JSON bodies' cases are tests/test_bad_characters.py."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.auth.tables import audit_log
from cityhelix.ops.desk.tables import incidents
from tests.ops.desk_factories import incident

pytestmark = pytest.mark.asyncio

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PASSWORD = "correct horse battery"
#: what a browser's form post asks for
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
WHERE = {"lat": "10.9804", "long": "106.6519"}


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, "no CSRF field in the page"
    return match.group(1)


async def _signed_in(client: httpx.AsyncClient, engine: AsyncEngine) -> str:
    """An operator signed in on `client`; a page's CSRF token."""
    await create_user(engine, "ops", Role.OPERATOR)
    await set_password(engine, "ops", PASSWORD)
    form = await client.get("/login")
    signed = await client.post(
        "/login", data={"csrf_token": _csrf(form), "username": "ops", "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    return _csrf(await client.get("/console/rules"))


def _refused_page(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("text/html"), answer.headers
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert f"{field}: the field holds" in answer.text or f"{field}: the parameter" in answer.text


def _refused_json(answer: httpx.Response, field: str) -> None:
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json()["field"] == field
    assert answer.json()["detail"].startswith(f"{field}: ")


def _multipart(parts: list[tuple[str, bytes]], boundary: str = "b0undary") -> bytes:
    body = b""
    for disposition, content in parts:
        body += f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode()
        body += content + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


async def test_a_report_page_post_with_bad_text_is_a_400_page_and_nothing_is_filed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = _csrf(await client.get("/report"))
    fields = {"csrf_token": token, "service_code": "road_damage", **WHERE}
    photo = {"media": ("pothole.png", PNG, "image/png")}
    nul = await client.post(
        "/report", data={**fields, "description": "a\x00b"}, files=photo, headers=BROWSER
    )
    _refused_page(nul, "description")
    # a surrogate the form's own charset spells (UTF-7), which Starlette would decode
    parts = [(f'name="{k}"', v.encode()) for k, v in fields.items()]
    odd = _multipart([*parts, ('name="description"', b"+2AA-")])
    kind = "multipart/form-data; boundary=b0undary; charset=utf-7"
    surrogate = await client.post("/report", content=odd, headers={**BROWSER, "Content-Type": kind})
    _refused_page(surrogate, "description")
    # a field named with the markup of a script: escaped on the page
    named = _multipart([*parts, ('name="<script>x"', b"a\x00b")])
    markup = await client.post(
        "/report",
        content=named,
        headers={**BROWSER, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert markup.status_code == 400 and "&lt;script&gt;x: the field" in markup.text
    assert "<script>" not in markup.text
    assert await _count(engine, incidents) == 0
    # without it, the same report is filed
    fine = await client.post(
        "/report", data={**fields, "description": "a b"}, files=photo, headers=BROWSER
    )
    assert fine.status_code == 303, fine.text


async def test_console_forms_with_bad_text_are_refused_before_their_routes(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine)
    number = (await incident(client, admin))["id"]
    base = f"/console/incidents/{number}"
    before = await _count(engine, audit_log)
    comment = await client.post(
        f"{base}/comments", data={"csrf_token": token, "text": "a\x00b"}, headers=BROWSER
    )
    _refused_page(comment, "text")
    # a file name with a NUL (httpx, like browsers, would percent-escape it: written by hand)
    body = _multipart(
        [('name="csrf_token"', token.encode()), ('name="file"; filename="l\x00.png"', PNG)]
    )
    upload = await client.post(
        f"{base}/attachments",
        content=body,
        headers={**BROWSER, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    _refused_page(upload, "file")
    named = await client.post(
        f"{base}/comments", data={"csrf_token": token, "te\x00xt": "hello"}, headers=BROWSER
    )
    _refused_page(named, "te\\u0000xt")
    # a script's post (the rule editor's preview) is answered in JSON
    preview = await client.post(
        "/console/rules/preview", data={"csrf_token": token, "name": "a\x00b"}
    )
    _refused_json(preview, "name")
    # a page's query parameter, and the sign-in form
    listed = await client.get("/console/incidents?category=a%00b", headers=BROWSER)
    _refused_page(listed, "category")
    login = await client.post(
        "/login",
        data={"csrf_token": token, "username": "o\x00ps", "password": PASSWORD},
        headers=BROWSER,
    )
    _refused_page(login, "username")
    assert await _count(engine, audit_log) == before
    timeline = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()
    assert timeline["attachments"] == []
    assert all("a\x00b" not in str(entry) for entry in timeline["timeline"])


async def test_the_desk_attachment_upload_refuses_bad_text_in_its_other_parts(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    number = (await incident(client, admin))["id"]
    path = f"/api/ops/incidents/{number}/attachments"
    kind = "multipart/form-data; boundary=b0undary"
    body = _multipart([('name="file"; filename="l\x00.png"', PNG)])
    named = await client.post(path, content=body, headers={**admin, "Content-Type": kind})
    _refused_json(named, "file")
    # a text part beside the file, in a charset that spells a lone surrogate
    body = _multipart([('name="note"', b"+2AA-"), ('name="file"; filename="l.png"', PNG)])
    other = await client.post(
        path, content=body, headers={**admin, "Content-Type": kind + "; charset=utf-7"}
    )
    _refused_json(other, "note")
    document = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()
    assert document["attachments"] == []


async def test_the_invest_import_page_refuses_bad_text_in_its_fields(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_user(engine, "analyst", Role.ANALYST)
    await set_password(engine, "analyst", PASSWORD)
    form = await client.get("/login")
    signed = await client.post(
        "/login", data={"csrf_token": _csrf(form), "username": "analyst", "password": PASSWORD}
    )
    assert signed.status_code == 303, signed.text
    token = _csrf(await client.get("/invest/staff/import"))
    answer = await client.post(
        "/invest/staff/import",
        data={"csrf_token": token, "kind": "parks\x00"},
        files={"file": ("parks.csv", b"name\nX\n", "text/csv")},
        headers=BROWSER,
    )
    _refused_page(answer, "kind")
