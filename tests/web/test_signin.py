"""Sign-in over HTTP, on both databases: sessions, redirects, CSRF, slowed-down guessing,
the language cookie and the offline API docs."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import UserError, create_user, revoke_user, set_password
from cityhelix.web.const import CSRF_COOKIE, SESSION_COOKIE
from cityhelix.web.throttle import FREE_ATTEMPTS

PASSWORD = "correct horse battery"


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, "no CSRF field in the form"
    return match.group(1)


async def _sign_in(
    client: httpx.AsyncClient, name: str, password: str, *, next_page: str = "/console"
) -> httpx.Response:
    form = await client.get("/login")
    return await client.post(
        "/login",
        data={"csrf_token": _csrf(form), "username": name, "password": password, "next": next_page},
    )


@pytest.fixture
async def operator(engine: AsyncEngine) -> str:
    await create_user(engine, "ops", Role.OPERATOR)
    await set_password(engine, "ops", PASSWORD)
    return "ops"


async def test_visitor_is_sent_to_the_landing_page_and_staff_pages_to_login(
    client: httpx.AsyncClient,
) -> None:
    root = await client.get("/")
    assert (root.status_code, root.headers["location"]) == (302, "/welcome")
    landing = await client.get("/welcome")
    assert landing.status_code == 200 and "Staff sign-in" in landing.text
    for page in ("/console", "/console/kpi", "/console/things/1"):
        answer = await client.get(page)
        assert answer.status_code == 302, page
        assert answer.headers["location"].startswith("/login?next=%2Fconsole")
    for api in ("/console/things.json", "/console/events", "/console/datastreams/1/day"):
        answer = await client.get(api)
        assert answer.status_code == 401, api
        assert answer.json() == {"detail": "sign in first"}


async def test_html_pages_forbid_inline_scripts_and_other_origins(
    client: httpx.AsyncClient,
) -> None:
    for page in ("/welcome", "/login", "/docs"):
        policy = (await client.get(page)).headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


async def test_operator_signs_in_reaches_the_console_and_signs_out(
    client: httpx.AsyncClient, operator: str
) -> None:
    signed = await _sign_in(client, operator, PASSWORD, next_page="/console/kpi")
    assert (signed.status_code, signed.headers["location"]) == (303, "/console/kpi")
    cookie = signed.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert (await client.get("/")).headers["location"] == "/console"
    console = await client.get("/console")
    assert console.status_code == 200 and "ops" in console.text
    assert (await client.get("/console/things.json")).status_code == 200
    out = await client.post("/logout", data={"csrf_token": _csrf(console)})
    assert (out.status_code, out.headers["location"]) == (303, "/welcome")
    assert (await client.get("/console")).status_code == 302


async def test_signed_out_session_cookie_is_worthless_afterwards(
    client: httpx.AsyncClient, operator: str
) -> None:
    await _sign_in(client, operator, PASSWORD)
    token = client.cookies[SESSION_COOKIE]
    console = await client.get("/console")
    await client.post("/logout", data={"csrf_token": _csrf(console)})
    client.cookies.set(SESSION_COOKIE, token)  # a copy of the cookie kept by someone
    assert (await client.get("/console")).status_code == 302


async def test_new_password_or_revoked_user_ends_open_sessions(
    client: httpx.AsyncClient, engine: AsyncEngine, operator: str
) -> None:
    await _sign_in(client, operator, PASSWORD)
    assert (await client.get("/console")).status_code == 200
    await set_password(engine, operator, "another long password")
    assert (await client.get("/console")).status_code == 302
    await _sign_in(client, operator, "another long password")
    assert (await client.get("/console")).status_code == 200
    await revoke_user(engine, operator)
    assert (await client.get("/console")).status_code == 302


async def test_wrong_password_and_unknown_user_are_refused_alike(
    client: httpx.AsyncClient, operator: str
) -> None:
    wrong = await _sign_in(client, operator, "not the password")
    unknown = await _sign_in(client, "nobody", PASSWORD)
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "Wrong user name or password." in answer.text
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_tenant_signs_in_to_its_parks_page_and_may_not_enter_the_console(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_user(engine, "tenant", Role.TENANT)
    await set_password(engine, "tenant", PASSWORD)
    signed_in = await _sign_in(client, "tenant", PASSWORD)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/parks")
    assert (await client.get("/")).headers["location"] == "/parks"
    assert (await client.get("/login")).headers["location"] == "/parks"
    assert (await client.get("/parks")).status_code == 200
    for page in ("/console", "/console/alerts", "/console/water"):
        assert (await client.get(page)).status_code == 403, page


async def test_a_public_user_with_a_password_may_not_sign_in(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await create_user(engine, "someone", Role.PUBLIC)
    await set_password(engine, "someone", PASSWORD)
    assert (await _sign_in(client, "someone", PASSWORD)).status_code == 401


async def test_post_without_the_csrf_token_is_refused(
    client: httpx.AsyncClient, operator: str
) -> None:
    await client.get("/login")  # the browser holds the CSRF cookie...
    missing = await client.post("/login", data={"username": operator, "password": PASSWORD})
    forged = await client.post(
        "/login", data={"csrf_token": "guessed", "username": operator, "password": PASSWORD}
    )
    for answer in (missing, forged):
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")
    client.cookies.delete(CSRF_COOKIE)  # ...or does not: a form posted from another site
    form = await client.get("/login")
    token = _csrf(form)
    client.cookies.delete(CSRF_COOKIE)
    crossed = await client.post(
        "/login", data={"csrf_token": token, "username": operator, "password": PASSWORD}
    )
    assert crossed.status_code == 403
    await _sign_in(client, operator, PASSWORD)
    assert (await client.post("/logout")).status_code == 403
    assert (await client.get("/console")).status_code == 200  # still signed in


async def test_repeated_wrong_passwords_make_the_next_attempt_wait(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    # a user of its own: the app (and its throttle) lives for the whole test session
    await create_user(engine, "guessed", Role.OPERATOR)
    await set_password(engine, "guessed", PASSWORD)
    for _ in range(FREE_ATTEMPTS):
        assert (await _sign_in(client, "guessed", "guess")).status_code == 401
    waited = await _sign_in(client, "guessed", PASSWORD)  # even the right one, during the wait
    assert waited.status_code == 429
    assert "Too many wrong passwords" in waited.text
    assert SESSION_COOKIE not in waited.headers.get("set-cookie", "")


async def test_next_page_after_sign_in_stays_on_this_site(
    client: httpx.AsyncClient, operator: str
) -> None:
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client.cookies.delete(SESSION_COOKIE)
        signed = await _sign_in(client, operator, PASSWORD, next_page=elsewhere)
        assert signed.status_code == 303, signed.text
        assert signed.headers["location"] == "/console"


async def test_language_choice_is_remembered_and_translates_the_pages(
    client: httpx.AsyncClient,
) -> None:
    landing = await client.get("/welcome")
    chosen = await client.post(
        "/language", data={"csrf_token": _csrf(landing), "language": "vi", "next": "/login"}
    )
    assert (chosen.status_code, chosen.headers["location"]) == (303, "/login")
    login = await client.get("/login")
    assert '<html lang="vi">' in login.text
    assert "Đăng nhập vào bảng điều khiển" in login.text
    assert "Mật khẩu" in login.text


async def test_browser_language_chooses_vietnamese_until_a_choice_is_made(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/welcome", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
    assert "Dữ liệu của thành phố, mở và trực tuyến" in page.text
    english = await client.get("/welcome", headers={"Accept-Language": "fr-FR"})
    assert "data, open and live" in english.text


async def test_api_docs_load_swagger_ui_from_this_site(client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(source.startswith("/") for source in sources), sources


async def test_set_password_refuses_short_passwords_and_unknown_users(
    engine: AsyncEngine, operator: str
) -> None:
    with pytest.raises(UserError, match="at least 8 characters"):
        await set_password(engine, operator, "short")
    with pytest.raises(UserError, match="no active user named 'ghost'"):
        await set_password(engine, "ghost", PASSWORD)
