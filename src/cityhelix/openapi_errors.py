"""The OpenAPI description of the JSON APIs' errors and hand-parsed request bodies.

One place for every pillar's routes (issue 17): the error documents as pydantic models, so
`/openapi.json` names them once under `components/schemas`, and small functions that build a
route's `responses=` (only the statuses it really answers) and its `openapi_extra`
request body. The error *rendering* stays in each API's route class; this module only
describes it. A route that validates its body with a pydantic model declares it as the
parameter (FastAPI describes it); one that reads it field by field says so with
`object_body`. One shape besides an API's own: the body limit (`limits.BodyLimit`, 413)
answers `{"code", "type", "message"}` on every path but Open311's (GeoReport errors there,
`edge_errors`), and the rate limit (429) answers in the format of the path's API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, RootModel


class PlainError(BaseModel):
    """The plain APIs' error document (FastAPI's own shape; some name the field too)."""

    detail: str
    field: str | None = Field(default=None, description="The refused field, where named")


class RequestProblem(BaseModel):
    """One parameter or body field FastAPI's request validation refused."""

    loc: list[str | int]
    msg: str
    type: str


class RequestValidationErrors(BaseModel):
    """FastAPI's own 422: each refused parameter or field with its location."""

    detail: list[RequestProblem]


class PlainUnprocessable(RootModel[RequestValidationErrors | PlainError]):
    """A 422 of a plain API: FastAPI's validation, or the pillar's own (a well-formed
    request the domain refuses, e.g. a Thing without the Datastream a rule needs)."""


class GeoReportError(BaseModel):
    """One error of an Open311 GeoReport v2 error list."""

    code: int
    description: str


class GeoReportErrors(RootModel[list[GeoReportError]]):
    """Open311 GeoReport v2's error document: a list of errors."""


class BodyLimitError(BaseModel):
    """The body limit's answer on every path but Open311's (`limits.BodyLimit`)."""

    code: int
    type: str
    message: str


class PlainTooLarge(RootModel[PlainError | BodyLimitError]):
    """A 413 of a plain API: the route's own limit, or the server's body limit."""


class GeoReportTooLarge(RootModel[GeoReportErrors | BodyLimitError]):
    """A 413 of Open311: GeoReport errors (the route's media limit or the server's body
    limit); the body limit's plain shape is kept as an alternative for older servers."""


MEANINGS: Mapping[int, str] = {
    400: "Malformed request (the message names the field or parameter)",
    401: "No credentials where they are needed, or credentials that were refused",
    403: "The caller's role may not do this",
    404: "No such resource",
    409: "The request conflicts with the resource's current state",
    413: "The request body is larger than the server or the route takes",
    415: "The body's media type or content is not one this route takes",
    422: "Parameters or fields that do not validate, or a request the domain refuses",
    429: "Too many requests from this client; see Retry-After",
}

_PLAIN: Mapping[int, type[BaseModel]] = {413: PlainTooLarge, 422: PlainUnprocessable}
_GEOREPORT: Mapping[int, type[BaseModel]] = {413: GeoReportTooLarge}


def plain_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of the errors a plain (`{"detail": ...}`) route really answers. List
    422 only for a route that answers its own besides FastAPI's (FastAPI adds its own)."""
    return {
        status: {"model": _PLAIN.get(status, PlainError), "description": MEANINGS[status]}
        for status in statuses
    }


def georeport_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of the errors an Open311 GeoReport route really answers (JSON; the
    `.xml` paths answer the same list as XML)."""
    return {
        status: {"model": _GEOREPORT.get(status, GeoReportErrors), "description": MEANINGS[status]}
        for status in statuses
    }


def object_body(description: str) -> dict[str, Any]:
    """`openapi_extra=` of a JSON object body whose fields the service checks one by one
    (no schema in the code to generate from: `description` says where they are listed)."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    }


def file_body(*media_types: str, description: str) -> dict[str, Any]:
    """`openapi_extra=` of a body that is a file itself, in one of `media_types`."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: binary for media_type in media_types},
        }
    }


def form_body(
    files: Mapping[str, str],
    fields: Mapping[str, str] | None = None,
    *,
    required: tuple[str, ...],
    urlencoded: bool = False,
) -> dict[str, Any]:
    """`openapi_extra=` of a `multipart/form-data` upload: file parts and text parts, each
    name with what it holds; with `urlencoded`, the text parts alone as a plain form too."""
    text = {
        name: {"type": "string", "description": meaning} for name, meaning in (fields or {}).items()
    }
    binary = {
        name: {"type": "string", "format": "binary", "description": meaning}
        for name, meaning in files.items()
    }
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": binary | text, "required": list(required)}
        }
    }
    if urlencoded:
        in_text = [name for name in required if name in text]
        content["application/x-www-form-urlencoded"] = {
            "schema": {"type": "object", "properties": text, "required": in_text}
        }
    return {"requestBody": {"required": True, "content": content}}
