"""How the hub's HTTP routes answer errors: OGC 18-088 documents on `/v1.1`, plain elsewhere.

Each router picks its format with a `route_class`, so an error in one pillar's routes never
takes another's shape: `SensorThingsRoute` renders hub errors, bad credentials and FastAPI's
request-validation errors as SensorThings error documents; `PlainRoute` (the hub's
`/api/hub` routes) renders them as FastAPI's own `{"detail": ...}`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.hub.errors import HubError, Overloaded

#: what a 401 tells the client to send (RFC 6750)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="cityhelix"'}


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(document), status_code=status, media_type="application/json", headers=headers
    )


def error_response(
    status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    document: dict[str, Any] = {"code": status, "type": "error", "message": message}
    if field is not None:
        document["field"] = field
    if status == 401:
        headers = {**(headers or {}), **CHALLENGE}
    return json_response(document, status, headers)


def hub_error_response(error: HubError) -> Response:
    """A hub error as a SensorThings error document."""
    return error_response(error.status, error.message, error.field, _error_headers(error))


def _error_headers(error: HubError) -> dict[str, str] | None:
    if isinstance(error, Overloaded):
        # back-pressure: the client retries later instead of the hub queueing without end
        return {"Retry-After": str(error.retry_after)}
    return None


def detail_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    """FastAPI's own error shape, `{"detail": ...}`, for the hub's plain API."""
    if status == 401:
        headers = {**(headers or {}), **CHALLENGE}
    return json_response({"detail": detail}, status, headers)


Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class SensorThingsRoute(APIRoute):
    """A route whose errors are SensorThings error documents (`code`, `type`, `message`)."""

    def get_route_handler(self) -> Endpoint:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except HubError as error:
                return hub_error_response(error)
            except NotAuthenticated as error:
                return error_response(401, str(error))
            except RequestValidationError as error:
                return error_response(400, *_validation_message(error))

        return handler


class PlainRoute(APIRoute):
    """A route of the hub's plain API: errors as `{"detail": ...}`, as FastAPI renders them."""

    def get_route_handler(self) -> Endpoint:
        answer = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer(request)
            except HubError as error:
                return detail_response(error.status, error.message, _error_headers(error))
            except NotAuthenticated as error:
                return detail_response(401, str(error))

        return handler


def _validation_message(error: RequestValidationError) -> tuple[str, str | None]:
    """`query.top: Input should be a valid integer` for each failed parameter, and the first
    parameter's name as the field."""
    parts, fields = [], []
    for problem in error.errors():
        location = [str(step) for step in problem.get("loc", ())]
        message = str(problem.get("msg", "invalid")).split("\n", 1)[0]
        parts.append(f"{'.'.join(location)}: {message}")
        if len(location) > 1:
            fields.append(location[-1])
    # never str(error): FastAPI appends the endpoint's source file and line to it
    return "; ".join(parts) or "invalid request", fields[0] if fields else None
