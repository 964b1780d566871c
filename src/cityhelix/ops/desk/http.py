"""`/api/ops/incidents` and `/api/ops/departments`: HTTP to the desk's functions and back.

Every route needs a staff token (admin, operator, department); each write is one
transaction with its audit row and its outbox event.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.deps import principal_from_header
from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.openapi_errors import form_body, object_body, plain_errors
from cityhelix.ops.desk import incidents as desk
from cityhelix.ops.desk.attachments import read_attachment, store_attachment
from cityhelix.ops.desk.catalogue import Catalogue, load_catalogue
from cityhelix.ops.desk.kpis import key_figures
from cityhelix.ops.desk.kpis import window_from as key_figures_window
from cityhelix.ops.desk.storage import AttachmentStore, store_for
from cityhelix.ops.errors import BadRequest, Forbidden
from cityhelix.ops.routes import OpsRoute
from cityhelix.settings import Settings

#: every route needs a staff token
router = APIRouter(
    prefix="/api/ops",
    route_class=OpsRoute,
    tags=["ops: incidents"],
    responses=plain_errors(401, 403, 429),
)

_INCIDENT = "An incident (category, priority, title, ...: docs/operations-centre.md)"


#: an id in a path: past 2**62 nothing exists, and the database is never asked (no overflow)
PathId = Annotated[int, Path(ge=1, le=2**62)]


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def catalogue_of(request: Request) -> Catalogue:
    return load_catalogue(settings_of(request).ops_catalogue)


def attachment_store(settings: Settings) -> AttachmentStore:
    """The storage backend the settings name (disk or S3-compatible)."""
    return store_for(settings)


async def staff(request: Request) -> Principal:
    principal = await principal_from_header(
        engine_of(request), settings_of(request), request.headers.get("authorization"), write=True
    )
    desk.require_staff(principal)
    return principal


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(document), status_code=status, media_type="application/json", headers=headers
    )


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        raise BadRequest("the request needs a JSON body")
    if b"\\u0000" in raw:
        raise BadRequest("strings may not contain the NUL character (\\u0000)")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequest(f"malformed JSON body: {error}") from None


@router.get("/departments")
async def departments(request: Request) -> Response:
    """Departments with the categories they own and the districts they cover."""
    await staff(request)
    catalogue = catalogue_of(request)
    return json_response(
        {
            "value": [
                {
                    "code": d.code,
                    "name": d.name,
                    "categories": sorted(d.categories),
                    "districts": sorted(d.districts),
                }
                for d in catalogue.departments.values()
            ]
        }
    )


@router.get("/categories")
async def categories(request: Request) -> Response:
    """Categories with their SLA (working hours per priority) and SOP steps."""
    await staff(request)
    catalogue = catalogue_of(request)
    return json_response(
        {
            "value": [
                {
                    "code": c.code,
                    "name": c.name,
                    "group": c.group,
                    "sla": {
                        p: {"respond_hours": r, "resolve_hours": s} for p, (r, s) in c.sla.items()
                    },
                    "sop": list(c.sop),
                    "departments": sorted(
                        d.code for d in catalogue.departments.values() if c.code in d.categories
                    ),
                }
                for c in catalogue.categories.values()
            ]
        }
    )


@router.post("/incidents", responses=plain_errors(400, 413), openapi_extra=object_body(_INCIDENT))
async def create(request: Request) -> Response:
    principal = await staff(request)
    catalogue = catalogue_of(request)
    new = desk.new_incident_from_body(catalogue, await json_body(request))
    async with engine_of(request).begin() as connection:
        incident_id = await desk.create_incident(connection, catalogue, new, principal.name)
        await record_write(
            connection, principal, "POST", request.url.path, [("Incident", incident_id)]
        )
        document = await desk.read_incident(connection, catalogue, incident_id, principal)
    return json_response(document, 201, headers={"Location": f"/api/ops/incidents/{incident_id}"})


@router.get("/incidents", responses=plain_errors(400))
async def listing(
    request: Request,
    department: str | None = None,
    category: str | None = None,
    priority: str | None = None,
    status: Annotated[
        str | None, Query(pattern="^(new|assigned|in_progress|resolved|closed)$")
    ] = None,
    overdue: bool | None = None,
    top: Annotated[int, Query(alias="$top", ge=1, le=desk.MAX_PAGE)] = 100,
    skip: Annotated[int, Query(alias="$skip", ge=0)] = 0,
) -> Response:
    principal = await staff(request)
    catalogue = catalogue_of(request)
    where = desk.IncidentFilter(department, category, priority, status, overdue, top, skip)
    async with engine_of(request).connect() as connection:
        value = await desk.list_incidents(connection, catalogue, principal, where)
    return json_response({"value": value})


@router.get("/incidents/{incident_id}", responses=plain_errors(404))
async def one(request: Request, incident_id: PathId) -> Response:
    principal = await staff(request)
    async with engine_of(request).connect() as connection:
        document = await desk.read_incident(
            connection, catalogue_of(request), incident_id, principal
        )
    return json_response(document)


@router.patch(
    "/incidents/{incident_id}",
    responses=plain_errors(400, 404, 409, 413),
    openapi_extra=object_body("The fields to change (a 400 names one that may not be)"),
)
async def change(request: Request, incident_id: PathId) -> Response:
    principal = await staff(request)
    catalogue = catalogue_of(request)
    body = await json_body(request)
    async with engine_of(request).begin() as connection:
        await desk.update_incident(connection, catalogue, incident_id, principal, body)
        await record_write(
            connection, principal, "PATCH", request.url.path, [("Incident", incident_id)]
        )
        document = await desk.read_incident(connection, catalogue, incident_id, principal)
    return json_response(document)


@router.post(
    "/incidents/{incident_id}/comments",
    responses=plain_errors(400, 404, 413),
    openapi_extra=object_body('`{"text": ...}`, the comment'),
)
async def comment(request: Request, incident_id: PathId) -> Response:
    principal = await staff(request)
    body = await json_body(request)
    async with engine_of(request).begin() as connection:
        await desk.add_comment(connection, incident_id, principal, body)
        await record_write(
            connection, principal, "POST", request.url.path, [("Incident", incident_id)]
        )
        document = await desk.read_incident(
            connection, catalogue_of(request), incident_id, principal
        )
    return json_response(document, 201)


@router.post("/incidents/{incident_id}/checklist/{step}", responses=plain_errors(404, 409))
async def checklist(request: Request, incident_id: PathId, step: int) -> Response:
    principal = await staff(request)
    catalogue = catalogue_of(request)
    async with engine_of(request).begin() as connection:
        await desk.tick_step(connection, catalogue, incident_id, step, principal)
        await record_write(
            connection, principal, "POST", request.url.path, [("Incident", incident_id)]
        )
        document = await desk.read_incident(connection, catalogue, incident_id, principal)
    return json_response(document)


@router.post(
    "/incidents/{incident_id}/attachments",
    responses=plain_errors(400, 404, 413, 415),
    openapi_extra=form_body({"file": "PNG, JPEG, WebP or PDF"}, required=("file",)),
)
async def attach(request: Request, incident_id: PathId) -> Response:
    """A multipart upload (field `file`): PNG, JPEG, WebP or PDF by content, size-bounded."""
    principal = await staff(request)
    settings = settings_of(request)
    async with engine_of(request).connect() as connection:
        await desk.check_access(connection, incident_id, principal)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("file: send the attachment as multipart/form-data, field 'file'", "file")
    form = await request.form(
        max_files=1, max_fields=4, max_part_size=settings.ops_attachment_max_bytes + 1
    )
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise BadRequest("file: a multipart file field named 'file' is required", "file")
    content = await upload.read(settings.ops_attachment_max_bytes + 1)
    attachment_id, filename, media_type, sha256 = await store_attachment(
        engine_of(request),
        attachment_store(settings),
        principal,
        incident_id,
        upload.filename or "",
        content,
        max_bytes=settings.ops_attachment_max_bytes,
        path=request.url.path,
    )
    return json_response(
        {
            "id": attachment_id,
            "filename": filename,
            "media_type": media_type,
            "size": len(content),
            "sha256": sha256,
        },
        201,
        headers={"Location": f"/api/ops/incidents/{incident_id}/attachments/{attachment_id}"},
    )


@router.get("/incidents/{incident_id}/attachments/{attachment_id}", responses=plain_errors(404))
async def download(request: Request, incident_id: PathId, attachment_id: PathId) -> Response:
    principal = await staff(request)
    row, content = await read_attachment(
        engine_of(request),
        attachment_store(settings_of(request)),
        principal,
        incident_id,
        attachment_id,
    )
    safe_name = "".join(c for c in row.filename if c.isalnum() or c in "._-") or "attachment"
    return Response(
        content,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{safe_name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/kpis", responses=plain_errors(400))
async def kpis(request: Request) -> Response:
    """Key figures for `from`..`to` (default: the last 24 hours); admins and operators."""
    principal = await staff(request)
    if principal.role is Role.DEPARTMENT:
        raise Forbidden("the operations centre's figures are for admins and operators")
    window = key_figures_window(request.query_params.get("from"), request.query_params.get("to"))
    return json_response(await key_figures(engine_of(request), window))
