"""SensorThings `$batch` in its OData 4.0 form: a `multipart/mixed` body with change sets.

This is the form clause 11 of OGC 18-088 specifies (and the batch conformance class
tests). Parts become the same request list as the JSON form — a change set is an
atomicity group, `Content-ID` its request id — so one engine (`batch`) runs both.
"""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from email.message import Message
from http import HTTPStatus
from typing import Any

import orjson

from cityhelix.hub.body import parse_json_body
from cityhelix.hub.errors import BadRequest


def parse_multipart(content_type: str, body: bytes) -> list[dict[str, Any]]:
    """The JSON-batch request list equivalent to a multipart/mixed batch body."""
    message = _message(content_type, body)
    if not message.is_multipart():
        raise BadRequest("a multipart $batch needs a boundary in its Content-Type")
    requests: list[dict[str, Any]] = []
    for index, part in enumerate(_parts(message)):
        if part.get_content_type() == "multipart/mixed":
            group = f"changeset{index}"
            for inner_index, inner in enumerate(_parts(part)):
                requests.append(_request(inner, f"{index}.{inner_index}", group))
        else:
            requests.append(_request(part, str(index), None))
    return requests


def _message(content_type: str, body: bytes) -> Message:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    return email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)


def _parts(message: Message) -> list[Message]:
    payload = message.get_payload()
    if not isinstance(payload, list):
        raise BadRequest("malformed multipart $batch: no parts found")
    return [part for part in payload if isinstance(part, Message)]


def _request(part: Message, fallback_id: str, group: str | None) -> dict[str, Any]:
    if part.get_content_type() != "application/http":
        raise BadRequest(f"batch part {fallback_id}: Content-Type must be application/http")
    raw = part.get_payload(decode=True)
    if not isinstance(raw, bytes):
        raise BadRequest(f"batch part {fallback_id}: empty request")
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("utf-8", "replace").strip("\n").split("\n")
    words = lines[0].split()
    if len(words) < 2:
        raise BadRequest(f"batch part {fallback_id}: expected 'METHOD URL HTTP/1.1'")
    request: dict[str, Any] = {
        "id": (part.get("Content-ID") or fallback_id).strip(),
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
