"""Bound request bodies before they reach a route: 413 beats reading 2 GB into memory."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised inside `receive` when a streamed body passes the limit."""


class BodyLimit:
    """ASGI middleware answering 413 for a body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = orjson.dumps(
            {
                "code": 413,
                "type": "error",
                "message": f"request body larger than {self.max_bytes} bytes",
            }
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class HeaderLimit:
    """ASGI middleware answering 431 for too many request headers or too many header bytes.

    The server in front may parse any number (httptools has no limit), and every layer
    after it (authentication, logging, the routes) walks them: a request of a thousand
    headers or one of 100 KB is refused here, before any of that work.
    """

    def __init__(self, app: ASGIApp, max_count: int, max_bytes: int) -> None:
        self.app = app
        self.max_count = max_count
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = scope["headers"]
            problem = None
            if len(headers) > self.max_count:
                problem = f"{len(headers)} request headers, at most {self.max_count} are taken"
            else:
                size = sum(len(name) + len(value) for name, value in headers)
                if size > self.max_bytes:
                    problem = f"{size} bytes of request headers, at most {self.max_bytes}"
            if problem is not None and scope["type"] == "http":
                await _answer(send, 431, problem)
                return
            if problem is not None:
                await send({"type": "websocket.close", "code": 1009})
                return
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, message: str) -> None:
    body = orjson.dumps({"code": status, "type": "error", "message": message})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
