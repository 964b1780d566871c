"""Public pages: the landing page, the language choice, and the API docs served offline."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.demo.province import read_province
from cityhelix.web.const import LANGUAGE_COOKIE, LANGUAGES, home_of
from cityhelix.web.security import WebRoute, check_csrf, safe_next
from cityhelix.web.signin import MaybeUser
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: a year: the language choice outlives sessions
_LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@router.get("/")
async def root(user: MaybeUser) -> Response:
    """A signed-in user goes to the console, a visitor to the landing page."""
    return RedirectResponse(home_of(user.role) if user is not None else "/welcome", status_code=302)


@router.get("/welcome")
async def landing(request: Request, user: MaybeUser) -> Response:
    return render(request, "landing.html", {"province": read_province().name})


@router.post("/language")
async def choose_language(request: Request) -> Response:
    """Remember the chosen language in a cookie and go back to the page it was chosen on."""
    return await remembered_language(request, LANGUAGES, "/")


async def remembered_language(
    request: Request, languages: Sequence[str], default_next: str
) -> Response:
    """The language form's answer: the choice (one of `languages`) kept in the language
    cookie for a year, and a redirect to the page it was chosen on (else `default_next`)."""
    form = await check_csrf(request)
    language = form.get("language", "")
    response = RedirectResponse(safe_next(form.get("next"), default_next), status_code=303)
    if language in languages:
        response.set_cookie(
            LANGUAGE_COOKIE,
            language,
            max_age=_LANGUAGE_COOKIE_SECONDS,
            samesite="lax",
            secure=request.url.scheme == "https",
            httponly=True,
        )
    return response


@router.get("/docs")
async def api_docs(request: Request) -> Response:
    """Swagger UI from the app's own vendor folder (FastAPI's default loads it from a CDN)."""
    return render(request, "docs.html", {"openapi_url": request.app.openapi_url})
