"""The error document of the API a request's path belongs to, for the answers the edge
gives before any route runs (the text guard's 400, the limits' 413, 429 and 431).

A route renders its own errors (each pillar's `route_class`); a middleware has only the
path and the headers, so the choice lives here, once: SensorThings errors on `/v1.1`,
GeoReport v2 error lists on `/open311` (XML, the spec's default, unless the path ends in
`.json`), `{"detail", "field"}` on `/api`, and on the web pages a small HTML page for a
browser's navigation (its Accept names text/html) or the JSON for a script's `fetch`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from enum import Enum
from xml.etree import ElementTree

import orjson
from starlette.types import Scope, Send

from cityhelix.exports import xml_text

JSON = b"application/json"
#: GeoReport v2's XML media type (its examples, and the `formats` of its discovery)
GEOREPORT_XML = b"text/xml; charset=utf-8"
GEOREPORT_JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=utf-8"


class Flavour(Enum):
    """The error formats of the platform's HTTP surfaces."""

    SENSORTHINGS = "sensorthings"
    GEOREPORT_JSON = "georeport_json"
    GEOREPORT_XML = "georeport_xml"
    PLAIN = "plain"
    PAGE = "page"


def flavour_of(scope: Scope) -> Flavour:
    """Which API `scope`'s path belongs to, and so how its errors are written."""
    path: str = scope.get("path", "")
    if path == "/v1.1" or path.startswith("/v1.1/"):
        return Flavour.SENSORTHINGS
    if path == "/open311" or path.startswith("/open311/"):
        return Flavour.GEOREPORT_JSON if path.endswith(".json") else Flavour.GEOREPORT_XML
    if path.startswith("/api/"):
        return Flavour.PLAIN
    accept = b""
    for name, value in scope.get("headers", []):
        if name == b"accept":
            accept = value.lower()
    return Flavour.PAGE if b"text/html" in accept else Flavour.PLAIN


def georeport_errors(fmt: str, status: int, description: str) -> tuple[bytes, bytes]:
    """(body, media type) of GeoReport v2's error list in `fmt` ("json" or "xml"):
    `[{"code", "description"}]`, or `<errors><error><code/><description/></error></errors>`."""
    if fmt == "json":
        return orjson.dumps([{"code": status, "description": description}]), GEOREPORT_JSON
    errors = ElementTree.Element("errors")
    error = ElementTree.SubElement(errors, "error")
    ElementTree.SubElement(error, "code").text = str(status)
    ElementTree.SubElement(error, "description").text = xml_text(description)
    body: bytes = ElementTree.tostring(errors, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body, GEOREPORT_XML


def _page(status: int, message: str) -> bytes:
    """A page of its own (no template: the edge knows no pillar), the message escaped."""
    title = "Bad request" if status == 400 else f"Request refused ({status})"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title></head><body><main><h1>{title}</h1>"
        f'<p data-error-status="{status}">{html.escape(message)}</p>'
        '<p>Go back, correct the form and send it again. <a href="/">Home</a></p>'
        "</main></body></html>\n"
    ).encode()


def document(
    scope: Scope, status: int, message: str, field: str | None = None
) -> tuple[bytes, bytes]:
    """(body, media type) of the error `message` in the format of `scope`'s API."""
    flavour = flavour_of(scope)
    if flavour is Flavour.SENSORTHINGS:
        return orjson.dumps({"code": status, "type": "error", "message": message}), JSON
    if flavour is Flavour.GEOREPORT_JSON:
        return georeport_errors("json", status, message)
    if flavour is Flavour.GEOREPORT_XML:
        return georeport_errors("xml", status, message)
    if flavour is Flavour.PAGE:
        return _page(status, message), HTML
    plain: dict[str, str] = {"detail": message}
    if field is not None:
        plain["field"] = field
    return orjson.dumps(plain), JSON


async def send_error(
    send: Send,
    status: int,
    body: bytes,
    media_type: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer `status` with `body`; a page comes with the security headers the web routes
    send (it is HTML the platform serves: no script, no frame, no sniffing)."""
    extra = list(headers)
    if media_type == HTML:
        extra += [
            (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
            (b"x-content-type-options", b"nosniff"),
        ]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type),
                (b"content-length", str(len(body)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
