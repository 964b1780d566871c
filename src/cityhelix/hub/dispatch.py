"""One SensorThings request, whatever door it came through: HTTP, a `$batch` part, MQTT.

Protocol-neutral on purpose: it takes a method, a resource path, query options and a parsed
body and gives back a `Reply`; the adapters (`hub.http`, `hub.mqtt`) translate to and from
their protocol. It imports no web framework, so nothing below the adapters depends on one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.events.bus import EventBus
from cityhelix.hub import service
from cityhelix.hub.errors import BadRequest, HubError
from cityhelix.hub.ingest import ObservationIngest, plain_observation
from cityhelix.hub.model import OBSERVATION, EntityType
from cityhelix.hub.query.options import parse_query_options
from cityhelix.hub.query.path import parse_path
from cityhelix.hub.serialize import self_link
from cityhelix.hub.store.read import CollectionStream, Page
from cityhelix.settings import Settings

#: the version root every SensorThings resource path is relative to (OGC 18-088 §9.2)
VERSION_PATH = "/v1.1"


@dataclass(frozen=True)
class Reply:
    """A protocol-neutral answer: HTTP turns it into a Response, $batch into a JSON item."""

    status: int
    #: a JSON document, a plain text, or (`handle(stream=True)`) a `CollectionStream`
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: bool = False  # body is plain text ($value)


#: the media type of a JSON Patch (RFC 6902) body, which only PATCH takes
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class JsonPatch:
    """A PATCH body sent as `application/json-patch+json`: operations, not an entity."""

    operations: object


@dataclass(frozen=True)
class Context:
    """What a request runs against: the app's engine, settings, bus and public root."""

    engine: AsyncEngine
    settings: Settings
    bus: EventBus
    base: str  # the version root, e.g. http://host/v1.1
    #: the batched writer plain Observation POSTs go through (None: written directly)
    ingest: ObservationIngest | None = None


async def handle(
    ctx: Context,
    principal: Principal,
    method: str,
    resource: str,
    params: dict[str, str],
    body: object,
    request_path: str,
    connection: AsyncConnection | None = None,
    *,
    stream: bool = False,
) -> Reply:
    """Answer one SensorThings request; with `connection`, inside the caller's transaction.

    With `stream` (HTTP's own requests, never a $batch part), a collection answer larger
    than a chunk is a `CollectionStream` body that the adapter sends chunk by chunk and
    must close; the body is a whole document otherwise.
    """
    engine, settings, base = ctx.engine, ctx.settings, ctx.base
    bus = ctx.bus if connection is None else None
    resource = resource.strip("/")
    if resource == "CreateObservations" and method == "POST":
        answers = await service.create_observations(
            engine, principal, body, request_path, bus, connection=connection
        )
        return Reply(201, [self_link(base, *answer) if answer else "error" for answer in answers])
    path = parse_path(resource)
    if path.ref and method != "GET":
        await service.change_reference(
            engine,
            principal,
            path,
            method,
            body,
            request_path,
            bus,
            connection=connection,
            base_url=base,
        )
        return Reply(200)
    if method == "GET":
        options = parse_query_options(params, max_top=settings.max_top)
        page = Page(
            base,
            f"{base}/{resource}",
            params,
            settings.page_size,
            settings.max_response_entities,
            settings.max_query_seconds,
        )
        if stream and connection is None:
            answer = await service.read_streamed(engine, path, options, page)
            if isinstance(answer, CollectionStream):
                return Reply(200, answer)
            document = answer
        else:
            document = await service.read(engine, path, options, page, connection=connection)
        if path.prop is None:
            return Reply(200, document)
        value = document[path.prop.name]
        if value is None:
            # a property with the null value has no content, with or without $value (9.2)
            return Reply(204)
        if not path.value:
            return Reply(200, document)
        return Reply(
            200, value if isinstance(value, str) else orjson.dumps(value).decode(), text=True
        )
    if method == "DELETE":
        await service.delete(engine, principal, path, request_path, bus, connection=connection)
        return Reply(200)
    entity_type: EntityType
    if method == "POST":
        ingest = ctx.ingest if connection is None else None  # not inside a $batch group
        target = plain_observation(path, body) if ingest is not None else None
        if ingest is not None and target is not None:
            # one reading: batched with others, answered after its batch committed
            entity_type = OBSERVATION
            entity_id = await ingest.submit(principal, target, body, request_path=request_path)
        else:
            result = await service.create(
                engine, principal, path, body, request_path, bus, connection=connection
            )
            entity_type, entity_id = result.entity_type, result.id
        status, headers = 201, {"Location": self_link(base, entity_type, entity_id)}
    elif method == "PATCH" and isinstance(body, JsonPatch):
        result = await service.apply_json_patch(
            engine,
            principal,
            path,
            body.operations,
            request_path,
            base_url=base,
            bus=bus,
            connection=connection,
        )
        entity_type, entity_id = result.entity_type, result.id
        status, headers = 200, {}
    elif method in ("PATCH", "PUT"):
        result = await service.update(
            engine,
            principal,
            path,
            body,
            request_path,
            replace=method == "PUT",
            bus=bus,
            connection=connection,
        )
        entity_type, entity_id = result.entity_type, result.id
        status, headers = 200, {}
    else:
        raise BadRequest(f"method {method} is not allowed on {resource}")
    link = self_link(base, entity_type, entity_id)
    document = await service.read(
        engine,
        parse_path(f"{entity_type.set_name}({entity_id})"),
        parse_query_options({}, max_top=1),
        Page(base, link, {}, 1),
        connection=connection,
        written_back=True,
    )
    return Reply(status, document, headers)


def creatable_together(resource: str, body: object) -> bool:
    """True for a POST of a $batch group that `handle_posts_together` may take."""
    try:
        path = parse_path(resource.strip("/"))
    except HubError:
        return False
    return service.creatable_together(path, body)


async def handle_posts_together(
    ctx: Context,
    principal: Principal,
    posts: list[tuple[str, object, str]],
    connection: AsyncConnection,
) -> list[Reply]:
    """Answer consecutive POSTs of a $batch atomicity group (resource, body, request path),
    each `creatable_together`, as `handle` would one by one, with one insert and one read
    for all."""
    results = await service.create_together(
        connection,
        principal,
        [
            (parse_path(resource.strip("/")), body, request_path)
            for resource, body, request_path in posts
        ],
    )
    documents = await service.read_created(
        connection, OBSERVATION, [result.id for result in results], ctx.base
    )
    return [
        Reply(201, document, {"Location": self_link(ctx.base, OBSERVATION, result.id)})
        for result, document in zip(results, documents, strict=True)
    ]
