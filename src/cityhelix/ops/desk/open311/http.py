"""`/open311/v2`: GeoReport v2 over HTTP, every endpoint as `.json` and `.xml`, errors as the
spec's error lists with the matching HTTP status, in the format the path asks: the pillar's
own errors, Starlette's (a malformed form) and FastAPI's validation (`Open311Route`), and
every path under `/open311` no endpoint serves (`unknown`, last: 404 or 405). The edge's
refusals (text guard, limits) are written the same way by `cityhelix.edge_errors`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.routing import Match

from cityhelix.auth.principal import Principal, Role
from cityhelix.openapi_errors import form_body, georeport_errors
from cityhelix.ops.desk.http import attachment_store, catalogue_of, engine_of, settings_of
from cityhelix.ops.desk.open311 import requests as georeport
from cityhelix.ops.desk.open311.documents import answer, error_answer
from cityhelix.ops.desk.open311.filing import Media, file_request
from cityhelix.ops.desk.open311.keys import key_holder
from cityhelix.ops.errors import BadRequest, Forbidden, NotFound, OpsError

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
FORMATS = ("json", "xml")
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
#: when this API's shape last changed (discovery's `changeset`)
CHANGESET = "2026-12-06T00:00:00Z"
#: the version's path under the router's prefix (`/open311`, all of it answered here)
V2 = "/v2"


def _format_of(request: Request) -> str:
    return "json" if request.url.path.endswith(".json") else "xml"


class Open311Route(APIRoute):
    """A route of `/open311`: the pillar's errors as GeoReport error lists, JSON or XML as
    the path asks (XML, the spec's default, otherwise)."""

    def get_route_handler(self) -> Endpoint:
        answer_of = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await answer_of(request)
            except OpsError as error:
                return error_answer(_format_of(request), error.status, error.message)
            except HTTPException as error:
                answered = error_answer(_format_of(request), error.status_code, str(error.detail))
                answered.headers.update(error.headers or {})
                return answered
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                where = ".".join(str(part) for part in first.get("loc", ())[1:]) or "request"
                message = f"{where}: {first.get('msg', 'not valid')}"
                return error_answer(_format_of(request), 400, message)

        return handler


#: a wrong format (`.csv`) is a 404; every path may be rate-limited. The prefix is
#: `/open311` (the endpoints are under `V2`) so that `unknown` answers for all of it.
router = APIRouter(
    prefix="/open311",
    route_class=Open311Route,
    tags=["open311"],
    responses=georeport_errors(404, 429),
)

#: GeoReport v2's `POST requests` form (the spec names every field; these are the usual)
_REPORT = form_body(
    {"media": "A photo of the problem (optional)"},
    {
        "api_key": "The client's key",
        "service_code": "The service (GET services)",
        "lat": "Latitude (WGS 84); or address_string",
        "long": "Longitude (WGS 84)",
        "address_string": "The address, when there is no lat/long",
        "description": "What is wrong",
    },
    required=("api_key", "service_code"),
    urlencoded=True,
)


def _checked_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise NotFound(f"format: expected .json or .xml, not .{fmt[:20]}", "format")
    return fmt


def _check_jurisdiction(request: Request, given: str | None) -> None:
    expected = settings_of(request).open311_jurisdiction_id
    if given and given != expected:
        raise NotFound(f"jurisdiction_id: {given[:200]!r} is not served here ({expected!r} is)")


@router.get(V2 + "/discovery.{fmt}")
async def discovery(request: Request, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    settings = settings_of(request)
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    return answer(
        fmt,
        "discovery",
        {
            "changeset": CHANGESET,
            "contact": settings.open311_contact,
            "key_service": settings.open311_key_service,
            "endpoints": [
                {
                    "specification": SPECIFICATION,
                    "url": f"{base}/open311/v2",
                    "changeset": CHANGESET,
                    "type": "production",
                    "formats": ["text/xml", "application/json"],
                }
            ],
        },
    )


@router.get(V2 + "/services.{fmt}")
async def services(request: Request, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    _check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
    catalogue = catalogue_of(request)
    return answer(
        fmt, "services", [georeport.service_record(c) for c in catalogue.categories.values()]
    )


@router.get(V2 + "/services/{service_code}.{fmt}")
async def service(request: Request, service_code: str, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    _check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
    category = catalogue_of(request).categories.get(service_code)
    if category is None:
        raise NotFound(f"service_code: {service_code[:64]!r} is not a service")
    return answer(fmt, "service_definition", georeport.service_definition(category))


@router.get(V2 + "/requests.{fmt}", responses=georeport_errors(400))
async def requests_list(request: Request, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    query = dict(request.query_params)
    _check_jurisdiction(request, query.get("jurisdiction_id"))
    async with engine_of(request).connect() as connection:
        records = await georeport.find_requests(connection, catalogue_of(request), query)
    return answer(fmt, "service_requests", records)


async def _form(request: Request, max_media: int) -> tuple[dict[str, list[str]], UploadFile | None]:
    kind = request.headers.get("content-type", "")
    if not kind.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise BadRequest(
            "send the request as application/x-www-form-urlencoded "
            "(or multipart/form-data with a 'media' file)"
        )
    try:
        form = await request.form(max_files=1, max_fields=200, max_part_size=max_media + 1)
    except MultiPartException as error:
        raise BadRequest(f"malformed form: {error.message}") from None
    except HTTPException as error:  # what Starlette makes of a MultiPartException in an app
        raise BadRequest(f"malformed form: {error.detail}") from None
    fields: dict[str, list[str]] = {}
    media: UploadFile | None = None
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
        elif name == "media":
            media = value
        else:
            raise BadRequest(f"{name}: only 'media' may be a file", name)
    return fields, media


@router.post(
    V2 + "/requests.{fmt}",
    responses=georeport_errors(400, 403, 413, 415),
    openapi_extra=_REPORT,
)
async def requests_create(request: Request, fmt: str) -> Response:
    """A citizen's report: the key checked here, then `file_request` (the path the web's
    report page takes too) checks the rest before anything is stored."""
    fmt = _checked_format(fmt)
    settings = settings_of(request)
    limit = settings.ops_attachment_max_bytes
    fields, media = await _form(request, limit)
    key = (fields.get("api_key") or [""])[-1]
    if not key:
        raise BadRequest("api_key: required to post a request", "api_key")
    holder = await key_holder(engine_of(request), key)
    if holder is None:
        raise Forbidden("api_key: invalid or revoked", "api_key")
    _check_jurisdiction(request, (fields.get("jurisdiction_id") or [""])[-1])
    content = await media.read(limit + 1) if media is not None else b""
    filed = await file_request(
        engine_of(request),
        catalogue_of(request),
        attachment_store(settings),
        fields,
        Media(media.filename or "media", content) if media is not None else None,
        principal=Principal(f"open311:{holder}", Role.PUBLIC),
        path=request.url.path,
        max_media_bytes=limit,
    )
    notice = "Thank you. Your report was received and passed to the responsible department."
    return answer(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": filed.service_request_id,
                "token": filed.token,
                "service_notice": notice,
                "account_id": None,
            }
        ],
        201,
    )


@router.get(V2 + "/requests/{request_id}.{fmt}")
async def request_one(request: Request, request_id: str, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    _check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
    async with engine_of(request).connect() as connection:
        record = await georeport.one_request(connection, catalogue_of(request), request_id)
    return answer(fmt, "service_requests", [record])


@router.get(V2 + "/tokens/{token}.{fmt}")
async def token(request: Request, token: str, fmt: str) -> Response:
    fmt = _checked_format(fmt)
    _check_jurisdiction(request, request.query_params.get("jurisdiction_id"))
    async with engine_of(request).connect() as connection:
        record = await georeport.request_of_token(connection, token)
    return answer(fmt, "service_requests", [record])


@router.api_route(
    "/{rest:path}",
    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
async def unknown(request: Request, rest: str) -> Response:
    """Last of the router: a path no endpoint serves is a 404 in GeoReport's format, and a
    method an endpoint does not take a 405 naming those it does (`Allow`)."""
    allowed: set[str] = set()
    for route in router.routes:  # this router's own: every `/open311` endpoint is one
        if isinstance(route, APIRoute) and route.endpoint is not unknown:
            match, _child = route.matches(request.scope)
            if match is Match.PARTIAL:
                allowed |= route.methods or set()
    if allowed:
        answered = error_answer(
            _format_of(request), 405, f"method: {request.method} is not one of {sorted(allowed)}"
        )
        answered.headers["Allow"] = ", ".join(sorted(allowed))
        return answered
    raise NotFound(f"path: {request.url.path[:200]} is not an endpoint of GeoReport v2 here")
