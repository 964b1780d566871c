"""Sign-in and sign-out with a user name and password; wrong passwords are slowed down."""

from __future__ import annotations

import math

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.auth.principal import Role
from cityhelix.auth.service import SESSION_LIFETIME, check_password, end_session, start_session
from cityhelix.web.const import SESSION_COOKIE, SIGN_IN_ROLES, home_of
from cityhelix.web.security import WebRoute, check_csrf, safe_next
from cityhelix.web.signin import MaybeUser
from cityhelix.web.templating import render
from cityhelix.web.throttle import LoginThrottle

router = APIRouter(route_class=WebRoute, include_in_schema=False)

_MAX_NAME = 200


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "login_throttle", None)
    if throttle is None:
        throttle = request.app.state.login_throttle = LoginThrottle()
    return throttle


@router.get("/login")
async def login_page(request: Request, user: MaybeUser) -> Response:
    wanted = safe_next(request.query_params.get("next"))
    if user is not None and user.role in SIGN_IN_ROLES:
        return RedirectResponse(_start(wanted, user.role), status_code=302)
    return render(request, "login.html", {"next": wanted, "name": "", "error": None})


@router.post("/login")
async def login(request: Request) -> Response:
    form = await check_csrf(request)
    name = form.get("username", "").strip()[:_MAX_NAME]
    password = form.get("password", "")
    wanted = safe_next(form.get("next"))
    address = request.client.host if request.client else "unknown"
    throttle = _throttle(request)
    catalogue_context = {"next": wanted, "name": name}
    wait = throttle.wait_seconds(name, address)
    if wait > 0:
        # not even checked: a guesser gains nothing by trying during the wait
        return render(
            request,
            "login.html",
            {**catalogue_context, "error": "wait", "wait_seconds": math.ceil(wait)},
            status=429,
        )
    user = await check_password(request.app.state.engine, name, password) if name else None
    if user is None or user.role not in SIGN_IN_ROLES:
        throttle.failed(name, address)
        return render(request, "login.html", {**catalogue_context, "error": "wrong"}, status=401)
    throttle.succeeded(name, address)
    token = await start_session(request.app.state.engine, user)
    response = RedirectResponse(_start(wanted, user.role), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _start(wanted: str, role: Role) -> str:
    """Where to go after signing in: the page asked for, else the role's home (a tenant
    asked to the console, the default, goes to its parks page instead)."""
    return home_of(role) if wanted == "/console" else wanted


@router.post("/logout")
async def logout(request: Request) -> Response:
    await check_csrf(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(request.app.state.engine, token)
    response = RedirectResponse("/welcome", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response
