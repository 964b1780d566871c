"""SensorThings API 1.1 over HTTP: translate requests to `hub.service` calls and back.

Only protocol work happens here: reading the path, the query options, the JSON body and
the credentials, and mapping hub errors to the standard's JSON error documents.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import NotAuthenticated, principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.events.bus import EventBus
from cityhelix.hub import service
from cityhelix.hub.errors import BadRequest, HubError
from cityhelix.hub.model import ENTITY_TYPES
from cityhelix.hub.query.options import parse_query_options
from cityhelix.hub.query.path import parse_path
from cityhelix.hub.serialize import self_link
from cityhelix.hub.store.read import Page
from cityhelix.settings import Settings

VERSION_PATH = "/v1.1"
_SPEC = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
#: only what the test suite proves; the query language and batch come with their issue
CONFORMANCE = (
    f"{_SPEC}datamodel",
    f"{_SPEC}resource-path/resource-path-to-entities",
    f"{_SPEC}create-update-delete",
    f"{_SPEC}multi-datastream",
)

router = APIRouter(tags=["SensorThings API 1.1"])


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(document), status_code=status, media_type="application/json", headers=headers
    )


def error_response(status: int, message: str, field: str | None = None) -> Response:
    document: dict[str, Any] = {"code": status, "type": "error", "message": message}
    if field is not None:
        document["field"] = field
    headers = {"WWW-Authenticate": 'Bearer realm="cityhelix"'} if status == 401 else None
    return json_response(document, status, headers)


def hub_error_response(error: HubError) -> Response:
    return error_response(error.status, error.message, error.field)


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _bus(request: Request) -> EventBus:
    bus: EventBus = request.app.state.bus
    return bus


def base_url(request: Request) -> str:
    """The version root as clients see it, for selfLinks and nextLinks."""
    root = _settings(request).public_url.rstrip("/") or str(request.base_url).rstrip("/")
    return root + VERSION_PATH


@router.get(VERSION_PATH, summary="Service root: entity sets and conformance classes")
async def service_root(request: Request) -> Response:
    base = base_url(request)
    return json_response(
        {
            "value": [{"name": t.set_name, "url": f"{base}/{t.set_name}"} for t in ENTITY_TYPES],
            "serverSettings": {"conformance": list(CONFORMANCE)},
        }
    )


async def _principal(request: Request, *, write: bool) -> Principal:
    return await principal_from_header(
        _engine(request), _settings(request), request.headers.get("authorization"), write=write
    )


async def _body(request: Request) -> object:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed JSON body: {error}") from None


@router.api_route(
    VERSION_PATH + "/{resource:path}",
    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    summary="Any SensorThings resource: /Things, /Things(1), /Things(1)/Datastreams, ...",
)
async def resource(request: Request, resource: str) -> Response:
    method = request.method
    try:
        principal = await _principal(request, write=method != "GET")
    except NotAuthenticated as error:
        return error_response(401, str(error))
    try:
        return await _dispatch(request, resource, method, principal)
    except HubError as error:
        return hub_error_response(error)


async def _dispatch(request: Request, resource: str, method: str, principal: Principal) -> Response:
    path = parse_path(resource)
    engine, settings = _engine(request), _settings(request)
    base = base_url(request)
    request_path = request.url.path
    if method == "GET":
        options = parse_query_options(dict(request.query_params), max_top=settings.max_top)
        page = Page(
            base, f"{base}/{resource.strip('/')}", dict(request.query_params), settings.page_size
        )
        document = await service.read(engine, path, options, page)
        if path.value:
            assert path.prop is not None
            value = document[path.prop.name]
            if value is None:
                return Response(status_code=204)
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            return Response(text, media_type="text/plain")
        return json_response(document)
    if method == "POST":
        result = await service.create(
            engine, principal, path, await _body(request), request_path, _bus(request)
        )
        link = self_link(base, result.entity_type, result.id)
        created = await service.read(
            engine,
            parse_path(f"{result.entity_type.set_name}({result.id})"),
            parse_query_options({}, max_top=1),
            Page(base, link, {}, 1),
        )
        return json_response(created, 201, {"Location": link})
    if method in ("PATCH", "PUT"):
        result = await service.update(
            engine,
            principal,
            path,
            await _body(request),
            request_path,
            replace=method == "PUT",
            bus=_bus(request),
        )
        link = self_link(base, result.entity_type, result.id)
        updated = await service.read(
            engine,
            parse_path(f"{result.entity_type.set_name}({result.id})"),
            parse_query_options({}, max_top=1),
            Page(base, link, {}, 1),
        )
        return json_response(updated)
    await service.delete(engine, principal, path, request_path, _bus(request))
    return Response(status_code=200)
