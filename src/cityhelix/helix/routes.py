"""The route class of `/api/helix` and `/api/open-data`: the pillar's errors and bad
credentials as `{"detail": ...}`, scoped to these routes (no global exception handler)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.helix.errors import HelixError

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


def detail_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": 'Bearer realm="cityhelix"'}
    return Response(
        orjson.dumps({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class HelixRoute(APIRoute):
    """A route of the helix pillar: `HelixError` and `NotAuthenticated` as `{"detail"}`."""

    def get_route_handler(self) -> Endpoint:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except HelixError as error:
                return detail_response(error.status, error.message)
            except NotAuthenticated as error:
                return detail_response(401, str(error))

        return handler
