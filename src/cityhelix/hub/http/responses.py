"""How the hub's HTTP routes answer errors: OGC 18-088 documents on `/v1.1`, plain elsewhere.

Each router picks its format with a `route_class`, so an error in one pillar's routes never
takes another's shape: `SensorThingsRoute` renders hub errors, bad credentials and FastAPI's
request-validation errors as SensorThings error documents; `PlainRoute` (the hub's
`/api/hub` routes) renders them as FastAPI's own `{"detail": ...}`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Coroutine
from contextlib import aclosing
from typing import Any

import anyio
import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from cityhelix.auth.deps import NotAuthenticated
from cityhelix.hub.errors import HubError, Overloaded
from cityhelix.hub.store.read import CollectionStream

log = logging.getLogger(__name__)

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


def too_large_response(size: int, max_bytes: int, *, at_least: bool = False) -> Response:
    """The 400 of an answer of `size` bytes (`at_least`: its first chunk's), past the byte
    budget `max_bytes`."""
    return error_response(
        400,
        f"the answer would be {'at least ' if at_least else ''}{size} bytes, more than the "
        f"{max_bytes} a response "
        "may hold (setting max_response_bytes); lower $top, $select fewer properties or "
        "expand less",
        field="$top",
    )


async def collection_stream_response(
    stream: CollectionStream, max_bytes: int, path: str
) -> Response:
    """A streamed collection answer: `{"@iot.count":..,"value":[..],"@iot.nextLink":..}`
    sent chunk by chunk (Transfer-Encoding: chunked), the same JSON a whole answer has.

    The stream made and encoded the first chunk before the response starts: past the byte
    budget (with room kept for a nextLink) it is the 400 a whole answer gets. A later chunk
    that would take the answer past the budget is cut at the last entity that fits and the
    page ends there with a nextLink (OGC 18-088 §9.3.3.6), as the stream does for the
    entity budget. The nextLink comes after `value` (the standard's own example puts it
    there; the order of a JSON object's members carries no meaning), since it is known
    only at the end.

    The bytes are exactly those of one `orjson.dumps` of the whole document with the
    nextLink last: orjson writes no spaces, so `[` + the members joined by `,` + `]` is
    how it writes the list. A database error past the first byte cannot become a 4xx any
    more: it is logged and raised, and the server drops the connection without the final
    empty chunk, so the client sees an incomplete body, never a complete-looking one.
    """
    try:
        first = stream.take_first()
        head = b"{" + (b'"@iot.count":%d,' % stream.count if stream.count is not None else b"")
        head += b'"value":['
        # room for the page's end with a nextLink: its `$skip` may grow by a few digits
        reserve = len(b'],"@iot.nextLink":}') + len(orjson.dumps(stream.next_link(0))) + 20
        size = len(head) + sum(len(part) for part in first) + len(first) - 1
        if size + reserve > max_bytes:
            await stream.close()
            return too_large_response(size + 2, max_bytes, at_least=True)
    except BaseException:
        await stream.close()
        raise

    async def body() -> AsyncGenerator[bytes, None]:
        nonlocal first
        written, sent = size, len(first)
        try:
            data = head + b",".join(first)
            del first
            yield data
            del data
            async with aclosing(stream.later_chunks()) as chunks:
                async for parts in chunks:
                    kept = 0
                    for part in parts:
                        if written + 1 + len(part) + reserve > max_bytes:
                            break
                        written += 1 + len(part)
                        kept += 1
                    complete = kept == len(parts)
                    data = b",".join([b"", *parts[:kept]]) if kept else b""
                    del parts
                    sent += kept
                    yield data
                    del data
                    if not complete:
                        break
            link = stream.next_link(sent)
            yield b"]" + (b',"@iot.nextLink":' + orjson.dumps(link) if link else b"") + b"}"
        except Exception:
            log.exception("the streamed answer of %s broke off after %d entities", path, sent)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await stream.close()

    return _ClosingStreamingResponse(body(), media_type="application/json")


class _ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that lets each piece go once it is sent and closes its body
    whatever happens to the send.

    Starlette's loop keeps the last piece until it has the next, so a chunk's bytes would
    live on while the next chunk is made; here they go as soon as the server has them (it
    copies what the socket does not take at once), and the next chunk is made while the
    server drains them. A client that goes away cancels the sending task while the body
    waits at a `yield`, and an unfinished generator would run its `finally` (the stream's
    connection given back) only when the garbage collector finds it: it is closed here.
    """

    def __init__(self, content: AsyncGenerator[bytes, None], media_type: str) -> None:
        super().__init__(content, media_type=media_type)
        self.chunks = content

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for piece in self.chunks:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            del piece
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.chunks.aclose()


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
