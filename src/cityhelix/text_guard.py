"""Text no database can hold, refused at the edge of the pillars' JSON APIs (issue 17).

PostgreSQL text and jsonb cannot hold the NUL character, and asyncpg (like sqlite3) cannot
encode an unpaired surrogate (`\\ud800`..`\\udfff`, which JSON escapes can spell): a string
holding either fails the query with a 500, whichever route it reaches. This middleware
refuses such a request before any route runs, with a 400 in the format of the path's API
that names the parameter or field, so nothing is written: the path, every query parameter
(name and value), and a JSON or URL-encoded form body. SensorThings (`/v1.1`) refuses the
same itself (`hub.body`, `hub.query.parser`); multipart bodies are streamed to their route
untouched (their text parts are left to it).
"""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import parse_qsl

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: the paths of the pillars' JSON APIs (and the hub's plain one); not SensorThings
GUARDED = ("/api/", "/open311/")
#: bodies larger than this are parsed off the event loop
_OFF_LOOP_BYTES = 256 * 1024
#: what a body must contain for a parse to be able to yield such text: the escapes of NUL
#: or of a surrogate, a surrogate's UTF-8-like bytes (`json.loads` passes them through), or
#: a NUL byte (a UTF-16 or UTF-32 body)
_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]|\x00")


def problem(text: str) -> str | None:
    """What makes `text` unstorable, or None."""
    if "\x00" in text:
        return "the NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired surrogate (\\ud800-\\udfff)"
    return None


def _in_value(document: object) -> tuple[str, str] | None:
    """(path, problem) of the first unstorable string, key or value, in a JSON value."""
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        path, value = pending.pop()
        if isinstance(value, str):
            if (found := problem(value)) is not None:
                return path or "body", found
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                inner = f"{path}.{key}" if path else str(key)
                if (found := problem(str(key))) is not None:
                    return inner, found
                pending.append((inner, item))
        elif isinstance(value, list):
            pending.extend((f"{path}[{i}]", item) for i, item in reversed(list(enumerate(value))))
    return None


def _in_pairs(pairs: list[tuple[str, str]]) -> tuple[str, str] | None:
    for name, value in pairs:
        if (found := problem(name) or problem(value)) is not None:
            return name, found
    return None


def in_body(raw: bytes, content_type: str) -> tuple[str, str] | None:
    """(field, problem) of a body's first unstorable text, or None (also for a body that
    does not parse: its route refuses it in its own words)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return _in_pairs(parse_qsl(text, keep_blank_values=True))
    if _SUSPECT.search(raw) is None:
        return None
    try:
        document = json.loads(raw)  # as the routes parse it (FastAPI, `Request.json`)
    except (ValueError, RecursionError):
        return None
    return _in_value(document)


class TextGuard:
    """ASGI middleware answering 400 for text no database can hold (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(GUARDED):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        found = (("path", p) if (p := problem(path)) else None) or _in_pairs(
            parse_qsl(query, keep_blank_values=True)
        )
        if found is not None:
            await _refuse(send, path, *found, where="parameter")
            return
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
        if scope["method"] in ("GET", "HEAD", "OPTIONS") or content_type.startswith("multipart/"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if len(raw) > _OFF_LOOP_BYTES:
            found = await asyncio.to_thread(in_body, raw, content_type)
        else:
            found = in_body(raw, content_type)
        if found is not None:
            await _refuse(send, path, *found, where="field")
            return
        whole: Message = {"type": "http.request", "body": raw, "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """`receive` that gives `messages` first, then the server's (a disconnect)."""

    async def replayed() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replayed


async def _refuse(send: Send, path: str, name: str, found: str, *, where: str) -> None:
    # the name itself may hold what it names: shown escaped, so the answer can be written
    shown = name.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    message = f"{shown}: the {where} holds {found}, which cannot be stored; send text without it"
    document: object
    if path.startswith("/open311/"):
        document = [{"code": 400, "description": message}]
    else:
        document = {"detail": message, "field": shown}
    body = orjson.dumps(document)
    await send(
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
