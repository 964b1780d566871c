"""The route class of `/api/ops`: the pillar's errors and bad credentials as `{"detail"}`.

FastAPI's own request-validation errors keep its `{"detail": [...]}` shape (each names its
field); no global exception handler is installed, so other pillars keep their formats.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.ops.errors import OpsError

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


class OpsRoute(APIRoute):
    """A route of `/api/ops`: `OpsError` and `NotAuthenticated` as `{"detail": ...}`."""

    def get_route_handler(self) -> Endpoint:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except OpsError as error:
                return detail_response(error.status, error.message)
            except NotAuthenticated as error:
                return detail_response(401, str(error))

        return handler
