"""Limits applied before a request reaches a route: its body (413: better than reading
2 GB into memory), its headers (431) and how often a client may read anonymously or fail
to authenticate (429). Each is a setting (see docs/operations.md); each refusal is written
in the format of the path's API where that API has its own (`edge_errors`)."""

from __future__ import annotations

import math
import time

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhelix.edge_errors import Flavour, document, flavour_of, send_error


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
                await self._refuse(scope, send)
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
                await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        await _answer(scope, send, 413, f"request body larger than {self.max_bytes} bytes")


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
                await _answer(scope, send, 431, problem)
                return
            if problem is not None:
                await send({"type": "websocket.close", "code": 1009})
                return
        await self.app(scope, receive, send)


async def _answer(scope: Scope, send: Send, status: int, message: str) -> None:
    """The limits' own document (`{"code", "type", "message"}`) on every path but those of
    Open311, which answer GeoReport's error list (JSON or XML, as the path asks)."""
    flavour = flavour_of(scope)
    if flavour in (Flavour.GEOREPORT_JSON, Flavour.GEOREPORT_XML):
        await send_error(send, status, *document(scope, status, message))
        return
    body = orjson.dumps({"code": status, "type": "error", "message": message})
    await send_error(send, status, body, b"application/json")


class _Buckets:
    """Token buckets per client: `burst` tokens, refilled at `rate` a second.

    Bounded: past `most` clients the full (idle) buckets are forgotten, and if none is
    full, all are (a flood of new addresses resets the limits rather than the memory).
    """

    def __init__(self, rate: float, burst: int, most: int = 65_536) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.most = most
        self.tokens: dict[str, tuple[float, float]] = {}

    def _level(self, client: str, now: float) -> float:
        tokens, at = self.tokens.get(client, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def wait(self, client: str, now: float) -> float:
        """Seconds until `client` has a token (0: it has one now)."""
        level = self._level(client, now)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, client: str, now: float) -> None:
        if len(self.tokens) >= self.most and client not in self.tokens:
            full = [c for c in self.tokens if self._level(c, now) >= self.burst]
            for idle in full or list(self.tokens):
                del self.tokens[idle]
        self.tokens[client] = (self._level(client, now) - 1, now)


class RateLimit:
    """ASGI middleware: per-client limits on anonymous reads and on failed authentications.

    A client is its address (`scope["client"]`, as the server in front reports it). An
    anonymous GET takes a token of its reads bucket; a request whose credentials were
    refused (401) takes one of its failures bucket, and while that is empty every request
    carrying credentials is refused without being checked (guessing tokens is slow). Both
    answer 429 with `Retry-After`. A rate of 0 turns a limit off.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        reads_per_second: float,
        reads_burst: int,
        failures_per_minute: float,
        failures_burst: int,
    ) -> None:
        self.app = app
        self.reads = _Buckets(reads_per_second, reads_burst) if reads_per_second else None
        self.failures = (
            _Buckets(failures_per_minute / 60, failures_burst) if failures_per_minute else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown",))[0]
        credentials = any(name == b"authorization" for name, _ in scope["headers"])
        now = time.monotonic()
        if credentials and self.failures is not None:
            wait = self.failures.wait(client, now)
            if wait:
                await _too_many(scope, send, wait, "too many failed authentications")
                return
        elif (
            not credentials
            and self.reads is not None
            and scope["method"] in ("GET", "HEAD")
            and not scope["path"].startswith("/static/")
        ):
            wait = self.reads.wait(client, now)
            if wait:
                await _too_many(scope, send, wait, "too many anonymous reads")
                return
            self.reads.take(client, now)
        if not credentials or self.failures is None:
            await self.app(scope, receive, send)
            return
        failures = self.failures

        async def watching_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                failures.take(client, time.monotonic())
            await send(message)

        await self.app(scope, receive, watching_send)


async def _too_many(scope: Scope, send: Send, wait: float, what: str) -> None:
    """429 in the error format of the API the path belongs to, with Retry-After."""
    seconds = max(1, math.ceil(wait))
    message = f"{what} from this client; retry after {seconds} s"
    await send_error(
        send,
        429,
        *document(scope, 429, message),
        headers=[(b"retry-after", str(seconds).encode())],
    )
