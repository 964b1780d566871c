"""JSON bodies of writes, whichever way they came (HTTP, a $batch part, MQTT).

One parser so that every door refuses the same things the same way: an empty or malformed
body, strings holding the NUL character, which JSON allows (`\\u0000`) but PostgreSQL
cannot store in text or jsonb: it would fail the write with a 500 instead of a 400, and
values nested deeper than `MAX_JSON_DEPTH`, which could be stored but never written back
out (the JSON writer stops at 255 levels): every page holding one would answer 500.
"""

from __future__ import annotations

import asyncio

import orjson

from cityhelix.hub.errors import BadRequest
from cityhelix.hub.values import MAX_JSON_DEPTH, too_deep


def parse_json_body(raw: bytes | str, where: str = "") -> object:
    """The parsed body; BadRequest naming the problem (prefixed by `where`) otherwise."""
    prefix = f"{where}: " if where else ""
    if not raw.strip():
        raise BadRequest(f"{prefix}the request needs a JSON body")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"{prefix}malformed JSON body: {error}") from None
    if (deep := too_deep(document)) is not None:
        raise BadRequest(
            f"{prefix}{deep or 'the body'}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
            field=deep or None,
        )
    # only a body that spells the escape can hold the character: the walk is rarely needed
    spelled = ("\\u0000" in raw) if isinstance(raw, str) else (b"\\u0000" in raw)
    if spelled and (found := _nul_path(document, "")) is not None:
        raise BadRequest(
            f"{prefix}{found or 'the body'}: strings may not contain the NUL character (\\u0000)",
            field=found or None,
        )
    return document


#: bodies larger than this are parsed off the event loop (16 MiB parse and walk: ~0.5 s)
OFF_LOOP_BYTES = 256 * 1024


async def parse_json_body_off_loop(raw: bytes, where: str = "") -> object:
    """`parse_json_body` in a worker thread for a large body: the parse and the depth walk
    of a 16 MiB body would hold the event loop, and every other request, for a long time."""
    if len(raw) <= OFF_LOOP_BYTES:
        return parse_json_body(raw, where)
    return await asyncio.to_thread(parse_json_body, raw, where)


def _nul_path(value: object, path: str) -> str | None:
    """The path of the first string (value or key) holding NUL, or None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}/{key}" if path else str(key)
            if "\x00" in key:
                return inner
            if (found := _nul_path(item, inner)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _nul_path(item, f"{path}[{index}]")) is not None:
                return found
    return None
