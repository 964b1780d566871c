"""SensorThings `$batch` in its OData 4.0 form: a `multipart/mixed` body with change sets.

This is the form clause 11 of OGC 18-088 specifies (and the batch conformance class
tests). Parts become the same request list as the JSON form — a change set is an
atomicity group, `Content-ID` its request id — so one engine (`batch`) runs both.
"""

from __future__ import annotations

import re
import uuid
from http import HTTPStatus
from typing import Any

import orjson

from cityhelix.hub.body import parse_json_body
from cityhelix.hub.errors import BadRequest
from cityhelix.hub.http.batch import MAX_REQUESTS

_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def parse_multipart(
    content_type: str, body: bytes, *, max_parts: int = MAX_REQUESTS
) -> list[dict[str, Any]]:
    """The JSON-batch request list equivalent to a multipart/mixed batch body.

    The body is split by hand, two levels deep at most (parts, and the parts of a change
    set), after counting its delimiters: a body of ten thousand parts or of parts nested a
    thousand levels is refused before any part is read (the email parser read all of them,
    recursively, blocking the event loop for seconds or overflowing the stack).
    """
    boundary = _boundary(content_type, "the $batch")
    if body.count(b"--" + boundary.encode()) > 2 * max_parts + 2:
        raise BadRequest(
            f"a $batch holds at most {max_parts} requests; this one has more parts",
            field="requests",
        )
    requests: list[dict[str, Any]] = []
    for index, (headers, content) in enumerate(_split(body, boundary, "the $batch")):
        media_type = _media_type(headers)
        if media_type == "multipart/mixed":
            group = f"changeset{index}"
            inner_boundary = _boundary(headers.get("content-type", ""), f"change set {index}")
            inner_parts = _split(content, inner_boundary, f"change set {index}")
            for inner_index, (inner_headers, inner) in enumerate(inner_parts):
                fallback = f"{index}.{inner_index}"
                requests.append(_request(inner_headers, inner, fallback, group))
        else:
            requests.append(_request(headers, content, str(index), None))
        if len(requests) > max_parts:
            raise BadRequest(f"a $batch holds at most {max_parts} requests", field="requests")
    return requests


def _boundary(content_type: str, where: str) -> str:
    match = _BOUNDARY.search(content_type)
    if match is None:
        raise BadRequest(f"{where}: a multipart body needs a boundary in its Content-Type")
    return match.group(1) or match.group(2)


def _split(body: bytes, boundary: str, where: str) -> list[tuple[dict[str, str], bytes]]:
    """The (headers, content) of each part between the `--boundary` lines of `body`."""
    delimiter = b"--" + boundary.encode()
    # a newline in front lets the first delimiter match as the others do; [0] is the preamble
    chunks = (b"\n" + body.replace(b"\r\n", b"\n")).split(b"\n" + delimiter)
    parts: list[tuple[dict[str, str], bytes]] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts  # the closing delimiter
        head, _, content = chunk.partition(b"\n\n")
        headers: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\n")[1:]:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, content))
    if not parts:
        raise BadRequest(f"malformed multipart {where}: no parts found")
    raise BadRequest(f"malformed multipart {where}: no closing --{boundary}-- line")


def _media_type(headers: dict[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _request(
    part_headers: dict[str, str], raw: bytes, fallback_id: str, group: str | None
) -> dict[str, Any]:
    if _media_type(part_headers) != "application/http":
        raise BadRequest(f"batch part {fallback_id}: Content-Type must be application/http")
    if not raw.strip():
        raise BadRequest(f"batch part {fallback_id}: empty request")
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode("utf-8", "replace").strip("\n").split("\n")
    words = lines[0].split()
    if len(words) < 2:
        raise BadRequest(f"batch part {fallback_id}: expected 'METHOD URL HTTP/1.1'")
    request: dict[str, Any] = {
        "id": (part_headers.get("content-id") or fallback_id).strip(),
        "method": words[0],
        "url": words[1],
    }
    if group is not None:
        request["atomicityGroup"] = group
    # the inner request's own headers (its body's Content-Type: JSON or JSON Patch)
    headers = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    request["headers"] = {name.strip(): value.strip() for name, value in headers.items()}
    if body.strip():
        request["body"] = parse_json_body(body, f"batch part {request['id']}")
    return request


def render_multipart(
    requests: list[dict[str, Any]], responses: list[dict[str, Any]]
) -> tuple[str, bytes]:
    """(Content-Type, body) of the multipart answer, change sets kept together."""
    boundary = f"batchresponse_{uuid.uuid4()}"
    chunks: list[bytes] = []
    index = 0
    while index < len(requests):
        group = requests[index].get("atomicityGroup")
        if group is None:
            chunks.append(_part(boundary, responses[index], with_id=False))
            index += 1
            continue
        changeset = f"changesetresponse_{uuid.uuid4()}"
        inner: list[bytes] = []
        while index < len(requests) and requests[index].get("atomicityGroup") == group:
            inner.append(_part(changeset, responses[index], with_id=True))
            index += 1
        nested = b"".join(inner) + f"--{changeset}--\r\n".encode()
        chunks.append(
            f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n".encode()
            + nested
        )
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return f"multipart/mixed; boundary={boundary}", body


def _part(boundary: str, response: dict[str, Any], *, with_id: bool) -> bytes:
    status = int(response["status"])
    reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    headers = [
        f"--{boundary}",
        "Content-Type: application/http",
        "Content-Transfer-Encoding: binary",
    ]
    if with_id:
        headers.append(f"Content-ID: {response['id']}")
    lines = [f"HTTP/1.1 {status} {reason}".rstrip()]
    for name, value in response.get("headers", {}).items():
        lines.append(f"{name}: {value}")
    payload = b""
    if "body" in response:
        payload = orjson.dumps(response["body"])
        lines.append("Content-Type: application/json")
    return ("\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n").encode() + (
        payload + b"\r\n" if payload else b""
    )
