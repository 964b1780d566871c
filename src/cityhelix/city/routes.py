"""The route class of `/api/city`: the pillar's errors and bad credentials as `{"detail"}`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.city.errors import CityError

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


def detail_response(status: int, detail: Any) -> Response:
    headers = {"WWW-Authenticate": 'Bearer realm="cityhelix"'} if status == 401 else None
    return Response(
        orjson.dumps({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class CityRoute(APIRoute):
    """A route of `/api/city`: `CityError` and `NotAuthenticated` as `{"detail": ...}`."""

    def get_route_handler(self) -> Endpoint:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except CityError as error:
                return detail_response(error.status, error.message)
            except NotAuthenticated as error:
                return detail_response(401, str(error))

        return handler
