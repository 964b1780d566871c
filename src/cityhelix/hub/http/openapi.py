"""The OpenAPI description of SensorThings, generated from the entity registry.

One source of truth: every entity set, entity, property (and its `$value`), navigation
link and `$ref` path of `model.ENTITY_TYPES`, with the query options each takes, the
request bodies and the responses the server really gives (201, 400, 401, 403, 404, 409,
413, 415, 429...) with their schemas. A ninth entity type is described by being
registered, as it is served.

The paths are documentation routes (`documentation_routes`), written into `/openapi.json`
(the hub pillar's `described`) and not mounted: the catch-all SensorThings route in `api`
serves every path, and each route's handler is that route's, should one be mounted.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cityhelix.hub.dispatch import VERSION_PATH
from cityhelix.hub.model import ENTITY_TYPES, MAX_ID, EntityType, Kind, Property

JsonSchema = dict[str, Any]
Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]

ERROR: JsonSchema = {
    "type": "object",
    "required": ["code", "type", "message"],
    "properties": {
        "code": {"type": "integer"},
        "type": {"type": "string", "enum": ["error"]},
        "message": {"type": "string"},
        "field": {"type": "string"},
    },
}
_ERRORS = {
    400: "Malformed request, body or query option (the message names the field or token)",
    401: "Credentials missing (for a write) or refused",
    403: "The caller may not write this entity",
    404: "No such entity, link or path",
    405: "The resource does not answer this method",
    409: "The write breaks a uniqueness or integrity rule",
    413: "The body is larger than max_body_bytes",
    415: "The body is not in a media type this resource takes",
    424: "A request this $batch request depends on failed",
    429: "Too many anonymous reads or refused credentials from this client (see Retry-After)",
    431: "Too many request headers, or too many header bytes",
    503: "The ingest queue is full (see Retry-After)",
}
_READ_ERRORS = (400, 401, 404, 429, 431)
_WRITE_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429, 431)

_ID: JsonSchema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_QUERY_OPTIONS = {
    "$filter": ("string", "A boolean expression (OGC 18-088 §9.3.3.5), e.g. result gt 5"),
    "$orderby": ("string", "Sort keys: expression [asc|desc], at most 32"),
    "$top": ("integer", "Page size, at most max_top"),
    "$skip": ("integer", "Entities to skip"),
    "$count": ("boolean", "Include @iot.count"),
    "$select": ("string", "Properties to return"),
    "$expand": ("string", "Navigation links to expand, with nested options"),
    "$resultFormat": ("string", "dataArray (Observations only)"),
}
_ENTITY_OPTIONS = ("$select", "$expand")


def _property_schema(prop: Property) -> JsonSchema:
    """A property's value (OpenAPI 3.1: a nullable one also takes null)."""
    schema: JsonSchema
    match prop.kind:
        case Kind.TEXT:
            schema = {"type": "string"}
        case Kind.INSTANT:
            schema = {"type": "string", "format": "date-time"}
        case Kind.INTERVAL | Kind.INSTANT_OR_INTERVAL:
            schema = {"type": "string", "description": "ISO 8601 instant or start/end"}
        case Kind.GEOMETRY:
            # GeoJSON for a GeoJSON encodingType; any JSON value for another encoding
            return {"description": "a GeoJSON geometry (or any value, per encodingType)"}
        case Kind.JSON if prop.name in ("unitOfMeasurements", "multiObservationDataTypes"):
            schema = {"type": "array"}
        case Kind.JSON if prop.name in ("properties", "unitOfMeasurement", "parameters"):
            schema = {"type": "object"}  # as `values.to_columns` checks them
        case _:
            return {}  # any JSON value: a result, a result quality, a Sensor's metadata
    if prop.nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def entity_schema(entity_type: EntityType) -> JsonSchema:
    """An entity as the server writes it: none required ($select may leave any out)."""
    properties: dict[str, JsonSchema] = {
        "@iot.id": {"type": "integer"},
        "@iot.selfLink": {"type": "string"},
    }
    for prop in entity_type.properties:
        properties[prop.name] = _property_schema(prop)
    for navigation in entity_type.navigations:
        properties[f"{navigation.name}@iot.navigationLink"] = {"type": "string"}
        expanded: JsonSchema = {"type": "object"}
        properties[navigation.name] = (
            {"type": "array", "items": expanded} if navigation.to_many else expanded
        )
    return {"type": "object", "title": entity_type.name, "properties": properties}


def create_schema(entity_type: EntityType) -> JsonSchema:
    """A POST body: the writable properties (derived ones are the server's), links by id
    or as nested entities (deep insert)."""
    properties: dict[str, JsonSchema] = {}
    for prop in entity_type.properties:
        if not prop.derived:
            properties[prop.name] = _property_schema(prop)
    link: JsonSchema = {"type": "object", "properties": {"@iot.id": _ID}}
    for navigation in entity_type.navigations:
        properties[navigation.name] = (
            {"type": "array", "items": link} if navigation.to_many else link
        )
    required = [p.name for p in entity_type.properties if p.required and not p.derived]
    return {
        "type": "object",
        "title": f"New {entity_type.name}",
        "properties": properties,
        "required": required,
    }


def _collection_schema(entity_type: EntityType) -> JsonSchema:
    return {
        "type": "object",
        "required": ["value"],
        "properties": {
            "@iot.count": {"type": "integer"},
            "@iot.nextLink": {"type": "string"},
            "value": {"type": "array", "items": entity_schema(entity_type)},
        },
    }


def _json(schema: JsonSchema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _responses(success: dict[int, dict[str, Any]], errors: tuple[int, ...]) -> dict[str, Any]:
    answers: dict[str, Any] = {str(status): answer for status, answer in success.items()}
    for status in errors:
        answers[str(status)] = {"description": _ERRORS[status], **_json(ERROR)}
    return answers


def _options(names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "in": "query",
            "required": False,
            "description": _QUERY_OPTIONS[name][1],
            "schema": {"type": _QUERY_OPTIONS[name][0]},
        }
        for name in names
    ]


def _id_parameter(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _ID}


def _body(schema: JsonSchema, *media_types: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {media_type: {"schema": schema} for media_type in media_types},
    }


class _Operation:
    """One documented (path, method): its OpenAPI object and the route that serves it."""

    def __init__(
        self, path: str, method: str, summary: str, tag: str, operation: dict[str, Any]
    ) -> None:
        self.path, self.method, self.summary, self.tag = path, method, summary, tag
        self.operation = operation


def _operations() -> list[_Operation]:
    """Every SensorThings operation the registry implies."""
    found: list[_Operation] = []

    def add(path: str, method: str, summary: str, tag: str, **operation: Any) -> None:
        found.append(_Operation(VERSION_PATH + path, method, summary, tag, operation))

    collection_options = tuple(_QUERY_OPTIONS)
    ok = {"description": "Written; the entity as stored"}
    for entity_type in ENTITY_TYPES:
        set_name, name = entity_type.set_name, entity_type.name
        one = _json(entity_schema(entity_type))
        many = _json(_collection_schema(entity_type))
        options = collection_options if name == "Observation" else collection_options[:-1]
        add(
            f"/{set_name}",
            "GET",
            f"List {set_name}",
            name,
            parameters=_options(options),
            responses=_responses({200: {"description": "A page", **many}}, _READ_ERRORS),
        )
        add(
            f"/{set_name}",
            "POST",
            f"Create a {name} (deep insert allowed)",
            name,
            requestBody=_body(create_schema(entity_type), "application/json"),
            responses=_responses({201: {"description": "Created", **one}}, _WRITE_ERRORS),
        )
        entity = f"/{set_name}({{id}})"
        ids = [_id_parameter("id")]
        add(
            entity,
            "GET",
            f"One {name}",
            name,
            parameters=ids + _options(_ENTITY_OPTIONS),
            responses=_responses({200: {"description": name, **one}}, _READ_ERRORS),
        )
        patch_schema = {**create_schema(entity_type), "required": []}
        add(
            entity,
            "PATCH",
            f"Update a {name} (JSON merge or JSON Patch)",
            name,
            parameters=ids,
            requestBody=_body(patch_schema, "application/json"),
            responses=_responses({200: {**ok, **one}}, _WRITE_ERRORS),
        )
        add(
            entity,
            "PUT",
            f"Replace a {name}",
            name,
            parameters=ids,
            requestBody=_body(create_schema(entity_type), "application/json"),
            responses=_responses({200: {**ok, **one}}, _WRITE_ERRORS),
        )
        add(
            entity,
            "DELETE",
            f"Delete a {name} (and what cascades)",
            name,
            parameters=ids,
            responses=_responses({200: {"description": "Deleted"}}, (401, 403, 404, 429)),
        )
        for prop in entity_type.properties:
            value = {prop.name: _property_schema(prop)}
            property_document = _json({"type": "object", "properties": value})
            add(
                f"{entity}/{prop.name}",
                "GET",
                f"The {prop.name} of a {name}",
                name,
                parameters=ids,
                responses=_responses(
                    {
                        200: {"description": prop.name, **property_document},
                        204: {"description": "The property is null"},
                    },
                    _READ_ERRORS,
                ),
            )
            add(
                f"{entity}/{prop.name}/$value",
                "GET",
                f"The raw {prop.name} of a {name}",
                name,
                parameters=ids,
                responses=_responses(
                    {
                        200: {
                            "description": "The value as text (JSON for objects)",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        204: {"description": "The property is null"},
                    },
                    _READ_ERRORS,
                ),
            )
        for navigation in entity_type.navigations:
            target = next(t for t in ENTITY_TYPES if t.name == navigation.target)
            linked = f"{entity}/{navigation.name}"
            target_one = _json(entity_schema(target))
            target_answer = _json(_collection_schema(target)) if navigation.to_many else target_one
            add(
                linked,
                "GET",
                f"The {navigation.name} of a {name}",
                name,
                parameters=ids
                + _options(collection_options if navigation.to_many else _ENTITY_OPTIONS),
                responses=_responses(
                    {200: {"description": navigation.name, **target_answer}},
                    _READ_ERRORS,
                ),
            )
            reference = {"type": "object", "properties": {"@iot.selfLink": {"type": "string"}}}
            references = {
                "type": "object",
                "properties": {"value": {"type": "array", "items": reference}},
            }
            add(
                f"{linked}/$ref",
                "GET",
                f"Links to the {navigation.name} of a {name}",
                name,
                parameters=ids,
                responses=_responses(
                    {
                        200: {
                            "description": "selfLinks",
                            **_json(references if navigation.to_many else reference),
                        }
                    },
                    _READ_ERRORS,
                ),
            )
            link_body = _body(
                {
                    "type": "object",
                    "properties": {"@iot.id": _ID, "@iot.selfLink": {"type": "string"}},
                },
                "application/json",
            )
            linked_ok = _responses({200: {"description": "Linked"}}, _WRITE_ERRORS)
            if navigation.to_many:
                add(
                    linked,
                    "POST",
                    f"Create a {target.name} linked to a {name}",
                    name,
                    parameters=ids,
                    requestBody=_body(create_schema(target), "application/json"),
                    responses=_responses(
                        {201: {"description": "Created", **target_one}}, _WRITE_ERRORS
                    ),
                )
                add(
                    f"{linked}/$ref",
                    "POST",
                    f"Link a {target.name} to a {name}",
                    name,
                    parameters=ids,
                    requestBody=link_body,
                    responses=linked_ok,
                )
                add(
                    f"{linked}({{linked_id}})/$ref",
                    "DELETE",
                    f"Unlink a {target.name} from a {name}",
                    name,
                    parameters=[*ids, _id_parameter("linked_id")],
                    responses=_responses({200: {"description": "Unlinked"}}, _WRITE_ERRORS),
                )
            else:
                add(
                    f"{linked}/$ref",
                    "PUT",
                    f"Set the {navigation.name} of a {name}",
                    name,
                    parameters=ids,
                    requestBody=link_body,
                    responses=linked_ok,
                )
    batch_item = {
        "type": "object",
        "required": ["id", "method", "url"],
        "properties": {
            "id": {"type": "string"},
            "method": {"type": "string", "enum": ["get", "post", "patch", "put", "delete"]},
            "url": {"type": "string"},
            "body": {},
            "atomicityGroup": {"type": "string"},
            "dependsOn": {"type": "array", "items": {"type": "string"}},
            "headers": {"type": "object"},
        },
    }
    add(
        "/$batch",
        "POST",
        "Many requests in one (OData JSON batch, or multipart/mixed change sets)",
        "Batch",
        requestBody={
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["requests"],
                        "properties": {
                            "requests": {"type": "array", "items": batch_item, "maxItems": 1000}
                        },
                    }
                },
                "multipart/mixed": {"schema": {"type": "string"}},
            },
        },
        responses=_responses(
            {
                200: {
                    "description": "One response per request, in order",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"responses": {"type": "array"}},
                            }
                        },
                        "multipart/mixed": {"schema": {"type": "string"}},
                    },
                }
            },
            _WRITE_ERRORS,
        ),
    )
    add(
        "/CreateObservations",
        "POST",
        "Observations as DataArrays (OGC 18-088 §14)",
        "Observation",
        requestBody=_body({"type": "array", "items": {"type": "object"}}, "application/json"),
        responses=_responses(
            {
                201: {
                    "description": "A selfLink or 'error' per row",
                    **_json({"type": "array", "items": {"type": "string"}}),
                }
            },
            (*_WRITE_ERRORS, 503),
        ),
    )
    return found


def documentation_routes(endpoint: Endpoint) -> list[APIRoute]:
    """A route per documented SensorThings operation, each answered by `endpoint`."""
    routes = []
    # entity sets and entities first, then links, then single properties: a reader (or a
    # fuzzer with a time budget) meets the main operations of every entity type first
    for operation in sorted(_operations(), key=_rank):
        routes.append(
            APIRoute(
                operation.path,
                endpoint,
                methods=[operation.method],
                summary=operation.summary,
                description=operation.summary,
                tags=[f"SensorThings: {operation.tag}"],
                operation_id=_operation_id(operation),
                openapi_extra=operation.operation,
                # the success status is in `responses`; FastAPI would add a bare 200
                response_class=Response,
                status_code=int(next(iter(operation.operation["responses"]))),
            )
        )
    return routes


def _rank(operation: _Operation) -> int:
    path = operation.path.removeprefix(VERSION_PATH)
    if path.count("/") <= 1:
        return 0  # /Things, /Things({id}), /$batch, /CreateObservations
    last = path.rsplit("/", 1)[-1]
    if last in ("$value",) or last[:1].islower():
        return 2  # a property or its $value
    return 1  # a navigation link or its $ref


def _operation_id(operation: _Operation) -> str:
    words = [operation.method.lower()]
    for part in operation.path.removeprefix(VERSION_PATH).strip("/").split("/"):
        words.append(part.replace("({id})", "_by_id").replace("({linked_id})", "_by_linked_id"))
    return "_".join(word.replace("$", "") for word in words)
