"""What every web route answers with: security headers (CSP), sign-in redirects, CSRF checks.

`WebRoute` is the route class of the web routers: it turns `SignInRequired` into a 302 to
`/login` for pages and a 401 for the console's JSON and event stream, `CsrfRefused` into a
403, and adds a Content-Security-Policy that allows no inline script and no other origin.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Coroutine, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.routing import APIRoute

from cityhelix.settings import Settings
from cityhelix.web.const import CSRF_COOKIE, CSRF_FIELD


class SignInRequired(Exception):
    """A staff page asked for without a session (302 to /login; 401 for `api`)."""

    def __init__(self, *, api: bool) -> None:
        super().__init__("sign in first")
        self.api = api


class Forbidden(Exception):
    """A signed-in user whose role may not open this page (403)."""


class CsrfRefused(Exception):
    """A POST without the form's CSRF token matching the cookie (403)."""


def content_security_policy(settings: Settings) -> str:
    """The policy: own origin only (plus the configured map style's origin, if any)."""
    extra = ""
    if settings.web_map_style_url:
        parts = urlsplit(settings.web_map_style_url)
        extra = f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src 'self' data: blob:{extra}; connect-src 'self'{extra}; "
        "worker-src 'self' blob:; font-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def _security_headers(response: Response, settings: Settings) -> None:
    response.headers.setdefault("Content-Security-Policy", content_security_policy(settings))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")


def login_redirect(request: Request) -> RedirectResponse:
    """302 to /login, remembering the page asked for."""
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(wanted, safe='')}", status_code=302)


class WebRoute(APIRoute):
    """A route of the web layer: security headers, sign-in and CSRF outcomes in one place."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await answer(request)
            except SignInRequired as refused:
                response = (
                    JSONResponse({"detail": "sign in first"}, status_code=401)
                    if refused.api
                    else login_redirect(request)
                )
            except Forbidden as refused:
                response = PlainTextResponse(str(refused), status_code=403)
            except CsrfRefused as refused:
                response = PlainTextResponse(str(refused), status_code=403)
            _security_headers(response, request.app.state.settings)
            return response

        return handler


def csrf_token(request: Request) -> str:
    """This browser's CSRF token: the cookie's, or a new one `set_csrf_cookie` will send."""
    token = request.cookies.get(CSRF_COOKIE)
    if not token or len(token) > 100:
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    """Send the CSRF cookie when this request made a new token."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )


async def check_csrf(request: Request) -> dict[str, str]:
    """The POSTed form when its CSRF field matches the cookie (double submit), else refused.

    The cookie is SameSite=Strict and HTTP-only: another site can neither send it nor read
    it to copy into a form it posts.
    """
    form = await request.form(max_files=0, max_fields=50, max_part_size=64 * 1024)
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    if not csrf_matches(request, fields):
        raise CsrfRefused("the form's CSRF token is missing or stale: reload the page")
    return fields


def csrf_matches(request: Request, fields: Mapping[str, str]) -> bool:
    """The form's CSRF field equals the cookie (the double submit), for forms with files."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = fields.get(CSRF_FIELD, "")
    return bool(cookie and given and hmac.compare_digest(cookie.encode(), given.encode()))


def safe_next(target: str | None, default: str = "/console") -> str:
    """A local path to go to after sign-in (never another origin: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
