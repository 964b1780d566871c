"""Who is signed in, from the session cookie: FastAPI dependencies for pages and their APIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import session_principal
from cityhelix.web.const import SESSION_COOKIE, STAFF_ROLES
from cityhelix.web.security import Forbidden, SignInRequired

#: a session token is 43 characters; anything far longer is not one and is not looked up
_MAX_TOKEN = 100


async def signed_in(request: Request) -> Principal | None:
    """The session's user, or None; remembered on `request.state.user` for the templates."""
    token = request.cookies.get(SESSION_COOKIE)
    user = None
    if token and len(token) <= _MAX_TOKEN:
        user = await session_principal(request.app.state.engine, token)
    request.state.user = user
    return user


async def _staff(request: Request, *, api: bool) -> Principal:
    user = await signed_in(request)
    if user is None:
        raise SignInRequired(api=api)
    if user.role not in STAFF_ROLES:
        raise Forbidden(f"the role {user.role.value} may not open the console")
    return user


async def staff_page(request: Request) -> Principal:
    """A staff member's session, else a 302 to /login."""
    return await _staff(request, api=False)


async def staff_api(request: Request) -> Principal:
    """A staff member's session, else 401 (for the console's JSON and event stream)."""
    return await _staff(request, api=True)


#: route parameter types: `user: StaffPage` in a page, `user: StaffApi` in its JSON
StaffPage = Annotated[Principal, Depends(staff_page)]
StaffApi = Annotated[Principal, Depends(staff_api)]
MaybeUser = Annotated[Principal | None, Depends(signed_in)]
