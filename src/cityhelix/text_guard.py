"""Text no database can hold, refused at the edge, before any route runs (issue 17).

PostgreSQL text and jsonb cannot hold the NUL character, and asyncpg (like sqlite3) cannot
encode an unpaired surrogate (`\\ud800`..`\\udfff`, which JSON escapes and odd charsets
can spell): a string holding either fails the query with a 500, whichever route it reaches.
This middleware refuses such a request with a 400 that names the parameter or field, in
the format of the path's API (`edge_errors`: GeoReport's list on `/open311`, JSON or XML
as the path asks; `{"detail", "field"}` on `/api`; a small page for a browser's form post),
so nothing is written: the path, every query parameter (name and value), and the text of
a JSON, URL-encoded or multipart body (each part's name, file name and, for a field, its
value, decoded as Starlette decodes it; a file's content is not text). Every path is
guarded but SensorThings' (`/v1.1`), which refuses the same itself in its own format
(`hub.body`, `hub.query.parser`).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from urllib.parse import parse_qsl

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cityhelix.edge_errors import Flavour, document, flavour_of, send_error

#: bodies larger than this are parsed off the event loop
_OFF_LOOP_BYTES = 256 * 1024
#: parts of a multipart body read at most: past them the body is the route's to refuse
#: (each `request.form` takes at most 200 fields), so a body of 100,000 tiny parts costs
#: the guard no more than the route's own parse
MAX_PARTS = 1000


class _Stop(Exception):
    """Ends a multipart scan early: the first unstorable text, or past `MAX_PARTS`."""


#: what a JSON body must contain for a parse to be able to yield such text: the escapes of
#: NUL or of a surrogate, a surrogate's UTF-8-like bytes (`json.loads` passes them
#: through), or a NUL byte (a UTF-16 or UTF-32 body)
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


def _decoded(raw: bytes, charset: str) -> str:
    """`raw` as Starlette's form parser decodes a part's name or value (its charset, or
    Latin-1 when that fails)."""
    try:
        return raw.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return raw.decode("latin-1")


def _in_multipart(raw: bytes, content_type: str) -> tuple[str, str] | None:
    """(field, problem) of a multipart/form-data body's first unstorable text: a part's
    name, its file name, or a field's value; None also for a body that does not parse
    (its route refuses it in its own words)."""
    _kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        return None
    charset = options.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "latin-1"
    found: list[tuple[str, str]] = []
    parts = 0
    header: dict[str, bytes] = {"field": b"", "value": b""}
    disposition = bytearray()
    value = bytearray()
    is_file = False
    name = ""

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        if parts > MAX_PARTS:
            raise _Stop

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            disposition[:] = header["value"]
        header["field"] = header["value"] = b""

    def on_headers_finished() -> None:
        nonlocal is_file, name
        _disposition, params = parse_options_header(bytes(disposition))
        name = _decoded(params.get(b"name", b""), charset)
        is_file = b"filename" in params
        if (trouble := problem(name)) is not None:
            found.append((name, trouble))
            raise _Stop
        if is_file and (trouble := problem(_decoded(params[b"filename"], charset))):
            found.append((name, f"a file name with {trouble}"))
            raise _Stop

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if not is_file:
            value.extend(data[start:end])

    def on_part_end() -> None:
        if not is_file and (trouble := problem(_decoded(bytes(value), charset))) is not None:
            found.append((name, trouble))
            raise _Stop
        disposition.clear()
        value.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(raw)
        parser.finalize()
    except _Stop:
        pass
    except FormParserError:
        return None
    return found[0] if found else None


def in_body(raw: bytes, content_type: str) -> tuple[str, str] | None:
    """(field, problem) of a body's first unstorable text, or None (also for a body that
    does not parse: its route refuses it in its own words)."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        # as Starlette reads a form: Latin-1, then each name and value percent-decoded
        return _in_pairs(parse_qsl(raw.decode("latin-1"), keep_blank_values=True))
    if content_type.startswith("multipart/form-data"):
        return _in_multipart(raw, content_type)
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
        if scope["type"] != "http" or flavour_of(scope) is Flavour.SENSORTHINGS:
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        found = (("path", p) if (p := problem(path)) else None) or _in_pairs(
            parse_qsl(query, keep_blank_values=True)
        )
        if found is not None:
            await _refuse(scope, send, *found, where="parameter")
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        content_type = ""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
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
            await _refuse(scope, send, *found, where="field")
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


async def _refuse(scope: Scope, send: Send, name: str, found: str, *, where: str) -> None:
    # the name itself may hold what it names: shown escaped, so the answer can be written
    shown = name.replace("\x00", "\\u0000").encode("utf-8", "backslashreplace").decode()
    message = f"{shown}: the {where} holds {found}, which cannot be stored; send text without it"
    await send_error(send, 400, *document(scope, 400, message, shown))
