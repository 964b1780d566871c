"""SensorThings API 1.1 over HTTP: translate requests to `hub.dispatch` calls and back.

Only protocol work happens here: reading the path, the query options, the JSON body and
the credentials; the routes' `SensorThingsRoute` maps errors to the standard's documents.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import NotAuthenticated, principal_from_header
from cityhelix.auth.principal import Principal
from cityhelix.events.bus import EventBus
from cityhelix.hub.body import OFF_LOOP_BYTES, parse_json_body_off_loop
from cityhelix.hub.dispatch import JSON_PATCH, VERSION_PATH, Context, JsonPatch, Reply, handle
from cityhelix.hub.errors import HubError, MethodNotAllowed, NotFound, UnsupportedMediaType
from cityhelix.hub.http.batch import run_batch
from cityhelix.hub.http.batch_multipart import parse_multipart, render_multipart
from cityhelix.hub.http.openapi import documentation_routes
from cityhelix.hub.http.responses import (
    SensorThingsRoute,
    collection_stream_response,
    error_response,
    hub_error_response,
    json_response,
    too_large_response,
)
from cityhelix.hub.ingest import ObservationIngest
from cityhelix.hub.model import ENTITY_TYPES
from cityhelix.hub.store.read import CollectionStream
from cityhelix.settings import Settings

_SPEC = "http://www.opengis.net/spec/iot_sensing/1.1/req/"
#: only what the test suite proves (the MQTT classes when MQTT is on, see `service_root`)
CONFORMANCE = (
    f"{_SPEC}datamodel",
    f"{_SPEC}resource-path/resource-path-to-entities",
    f"{_SPEC}request-data",
    f"{_SPEC}create-update-delete",
    f"{_SPEC}create-update-delete/update-entity-jsonpatch",
    f"{_SPEC}batch-request/batch-request",
    f"{_SPEC}multi-datastream",
    f"{_SPEC}data-array/data-array",
)
MQTT_CONFORMANCE = (
    f"{_SPEC}create-observations-via-mqtt/observations-creation",
    f"{_SPEC}receive-updates-via-mqtt/receive-updates",
)
_TASKING = "http://www.opengis.net/spec/iot_tasking/1.0/req/"
#: SensorThings Part 2, Tasking Core (OGC 17-079r1), proven by tests/hub/test_tasking*.py
TASKING_CONFORMANCE = (
    f"{_TASKING}tasking-capability",
    f"{_TASKING}task",
    f"{_TASKING}actuator",
    f"{_TASKING}create-tasks",
)
TASKING_MQTT_CONFORMANCE = (
    f"{_TASKING}create-tasks-via-mqtt",
    f"{_TASKING}receive-updates-via-mqtt",
)

#: every route under /v1.1 answers errors as SensorThings documents (`SensorThingsRoute`)
router = APIRouter(tags=["SensorThings API 1.1"], route_class=SensorThingsRoute)


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
            "serverSettings": _server_settings(request),
        }
    )


@router.api_route(VERSION_PATH, methods=["POST", "PATCH", "PUT", "DELETE"], include_in_schema=False)
async def service_root_writes(request: Request) -> Response:
    """The service root takes no writes: 405 in the SensorThings format, as `/v1.1/` does."""
    return error_response(405, f"the service root {VERSION_PATH} only answers GET")


def _server_settings(request: Request) -> dict[str, Any]:
    """Conformance classes, plus the MQTT ones (with their endpoint) when MQTT runs."""
    settings: dict[str, Any] = {"conformance": [*CONFORMANCE, *TASKING_CONFORMANCE]}
    if getattr(request.app.state, "mqtt", None) is not None:
        conf = _settings(request)
        endpoint = (
            conf.mqtt_url.split("@")[-1]
            if conf.mqtt_url
            else (f"mqtt://{conf.mqtt_host}:{conf.mqtt_port}")
        )
        if conf.mqtt_url and not endpoint.startswith("mqtt"):
            endpoint = "mqtt://" + endpoint
        settings["conformance"] += [*MQTT_CONFORMANCE, *TASKING_MQTT_CONFORMANCE]
        for name in (*MQTT_CONFORMANCE, *TASKING_MQTT_CONFORMANCE):
            settings[name] = {"endpoints": [endpoint]}
    return settings


async def request_principal(request: Request, *, write: bool) -> Principal:
    """Who sent `request` (ANONYMOUS without a token); NotAuthenticated for a bad token."""
    return await principal_from_header(
        _engine(request), _settings(request), request.headers.get("authorization"), write=write
    )


async def parse_body(raw: bytes) -> object:
    """The JSON body of a write; 400 naming the problem when it is empty or malformed
    (a large one parsed off the event loop)."""
    return await parse_json_body_off_loop(raw)


_PATCH_TYPES = ("application/json", JSON_PATCH)


def body_media_type(request: Request, method: str, accepted: tuple[str, ...]) -> str:
    """The media type of the request's body, one of `accepted` (415 naming them otherwise).

    A body without a Content-Type is read as JSON, as curl users and old clients send it;
    one that names another type is refused before it is parsed, not answered with a
    misleading 400 about its syntax.
    """
    declared = request.headers.get("content-type")
    if declared is None:
        return accepted[0]
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type in accepted:
        return media_type
    raise UnsupportedMediaType(
        f"{method} {request.url.path} takes a body of {' or '.join(accepted)}, "
        f"not {media_type or 'an empty media type'}"
    )


def context(request: Request) -> Context:
    ingest: ObservationIngest | None = getattr(request.app.state, "ingest", None)
    return Context(_engine(request), _settings(request), _bus(request), base_url(request), ingest)


#: a collection answer of more entities than this is encoded off the event loop
_OFF_LOOP_ENTITIES = 500


async def reply_response(reply: Reply, max_bytes: int, path: str = "") -> Response:
    """The HTTP answer of `reply`; a 400 naming the byte budget when its JSON is larger.

    A `CollectionStream` body (a collection larger than a chunk) is sent chunk by chunk
    (`collection_stream_response`); anything else is encoded whole, with one orjson call.
    """
    if isinstance(reply.body, CollectionStream):
        return await collection_stream_response(reply.body, max_bytes, path)
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    if reply.text:
        return Response(reply.body, status_code=reply.status, media_type="text/plain")
    values = reply.body.get("value") if isinstance(reply.body, dict) else reply.body
    if isinstance(values, list) and len(values) > _OFF_LOOP_ENTITIES:
        # tens of megabytes with their $expands: encoded in a worker thread
        payload = await asyncio.to_thread(orjson.dumps, reply.body)
    else:
        payload = orjson.dumps(reply.body)
    if len(payload) > max_bytes:
        return too_large_response(len(payload), max_bytes)
    return Response(
        payload, status_code=reply.status, media_type="application/json", headers=reply.headers
    )


@router.api_route(
    VERSION_PATH + "/{resource:path}",
    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    summary="Any SensorThings resource: /Things, /Things(1), /Things(1)/Datastreams, ...",
    # described path by path from the entity registry (`DESCRIBED`)
    include_in_schema=False,
)
async def resource(request: Request, resource: str) -> Response:
    method = request.method
    try:
        principal = await request_principal(request, write=method != "GET")
    except NotAuthenticated as error:
        return error_response(401, str(error))
    try:
        if not resource.strip("/"):
            # `/v1.1/` is the service root (18-088 9.2 uses exactly that URL)
            if method != "GET":
                raise MethodNotAllowed(f"the service root {VERSION_PATH} only answers GET")
            return await service_root(request)
        if resource.startswith("/"):
            raise NotFound(f"empty path segment in {request.url.path!r}; remove the doubled '/'")
        if resource.strip("/") == "$batch" and method == "POST":
            return await _batch(request, principal)
        body: object = None
        if method == "PATCH" and body_media_type(request, method, _PATCH_TYPES) == JSON_PATCH:
            body = JsonPatch(await parse_body(await request.body()))
        elif method not in ("GET", "DELETE"):
            body_media_type(request, method, ("application/json",))
            body = await parse_body(await request.body())
        reply = await handle(
            context(request),
            principal,
            method,
            resource,
            dict(request.query_params),
            body,
            request.url.path,
            stream=True,
        )
    except HubError as error:
        return hub_error_response(error)
    return await reply_response(reply, _settings(request).max_response_bytes, request.url.path)


async def _batch(request: Request, principal: Principal) -> Response:
    """`$batch`: multipart/mixed (OGC 18-088 clause 11) or the OData 4.01 JSON form."""
    content_type = request.headers.get("content-type", "")
    body_media_type(request, "POST", ("application/json", "multipart/mixed"))
    raw = await request.body()
    # the split, the parse and the rendering of a large batch run off the event loop
    off_loop = len(raw) > OFF_LOOP_BYTES
    if content_type.lower().startswith("multipart/mixed"):
        requests = (
            await asyncio.to_thread(parse_multipart, content_type, raw)
            if off_loop
            else parse_multipart(content_type, raw)
        )
        answer = await run_batch(context(request), principal, {"requests": requests})
        media_type, payload = await asyncio.to_thread(
            render_multipart, requests, answer["responses"]
        )
        return Response(payload, media_type=media_type)
    answer = await run_batch(context(request), principal, await parse_body(raw))
    return Response(await asyncio.to_thread(orjson.dumps, answer), media_type="application/json")


async def _documented(request: Request) -> Response:
    """A documented path's handler: the catch-all route's, for the same resource."""
    return await resource(request, request.url.path.removeprefix(VERSION_PATH + "/"))


#: each SensorThings path, described in /openapi.json (`Pillar.described`), not mounted: the
#: catch-all above serves them all
DESCRIBED = documentation_routes(_documented)
