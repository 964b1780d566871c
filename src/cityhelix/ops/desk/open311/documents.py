"""GeoReport v2 documents in both of the specification's formats: a document is built once
as plain data (lists of ordered records) and written as JSON or as the spec's XML.

XML element names follow the spec: `<services><service>`, `<service_definition>`,
`<service_requests><request>`, `<discovery>`, `<errors><error>`. Stored text XML 1.0
cannot hold (a citizen's `\x07`) is written as U+FFFD (`cityhelix.exports.xml_text`): the
document stays one every client can parse. Error lists are the edge's writer
(`cityhelix.edge_errors.georeport_errors`), so a middleware's refusal reads the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

import orjson
from fastapi.responses import Response

from cityhelix.edge_errors import georeport_errors
from cityhelix.exports import xml_text

JSON = "application/json; charset=utf-8"
XML = "text/xml; charset=utf-8"
#: list members whose XML children are named by the spec (plural -> singular)
_ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_text(str(value))


def _element(parent: ElementTree.Element, name: str, value: Any) -> None:
    child = ElementTree.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, member in value.items():
            _element(child, key, member)
    elif isinstance(value, list | tuple):
        item = _ITEM_NAMES.get(name, "item")
        for member in value:
            _element(child, item, member)
    else:
        child.text = _text(value)


def xml_document(root: str, value: Any) -> bytes:
    """`value` (a list of records, or one record) as the spec's XML under `<root>`."""
    element = ElementTree.Element(root)
    if isinstance(value, Mapping):
        for key, member in value.items():
            _element(element, key, member)
    else:
        item = _ITEM_NAMES[root]
        for member in value:
            _element(element, item, member)
    body: bytes = ElementTree.tostring(element, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def answer(
    fmt: str, root: str, value: Sequence[Any] | Mapping[str, Any], status: int = 200
) -> Response:
    """The document in `fmt` ("json" or "xml")."""
    if fmt == "json":
        return Response(orjson.dumps(value), status_code=status, media_type=JSON)
    return Response(xml_document(root, value), status_code=status, media_type=XML)


def error_answer(fmt: str, status: int, description: str) -> Response:
    """A GeoReport error list, `[{"code", "description"}]`, with the same HTTP status."""
    body, media_type = georeport_errors(fmt, status, description)
    return Response(body, status_code=status, media_type=media_type.decode())
