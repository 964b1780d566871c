"""Incidents in the console: a board by status and a filtered list; one incident's page with
its SLA countdown, assignment, status, SOP checklist, comments, attachments and timeline.

A department user sees only its department's incidents (the operations centre answers 403
for another's, shown as a page); operators and admins see all. Every change is a plain
form (CSRF-checked) posted here and handed to `ops.service`; the page is shown again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile

from cityhelix.auth.principal import Principal, Role
from cityhelix.ops import service as ops
from cityhelix.web.routes.ops_common import (
    MAX_COMMENT,
    checked_upload_form,
    engine_of,
    refusal_page,
    render_ops,
    settings_of,
)
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.signin import StaffPage

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: incidents one board or list shows at most (newest first)
_LISTED = 300
_FILTERS = ("department", "category", "priority", "status", "overdue")


def _filter_of(request: Request) -> tuple[ops.IncidentFilter, dict[str, str]]:
    """The list's filter from the query (unknown values simply match nothing)."""
    chosen = {name: request.query_params.get(name, "")[:64] for name in _FILTERS}
    overdue = {"yes": True, "no": False}.get(chosen["overdue"])
    status = chosen["status"] if chosen["status"] in ops.INCIDENT_STATUSES else None
    where = ops.IncidentFilter(
        department=chosen["department"] or None,
        category=chosen["category"] or None,
        priority=chosen["priority"] or None,
        status=status,
        overdue=overdue,
        top=_LISTED,
    )
    return where, chosen


@router.get("/console/incidents")
async def incidents_page(request: Request, user: StaffPage) -> Response:
    """The board (`view=board`, by status) or the list (`view=list`), with filters."""
    settings = settings_of(request)
    where, chosen = _filter_of(request)
    view = "list" if request.query_params.get("view") == "list" else "board"
    try:
        found = await ops.list_incidents(engine_of(request), settings, user, where)
    except ops.OpsError as error:
        return refusal_page(request, error)
    catalogue = ops.incident_catalogue(settings)
    columns = [(s, [i for i in found if i["status"] == s]) for s in ops.INCIDENT_STATUSES]
    query = urlencode({k: v for k, v in chosen.items() if v})
    return render_ops(
        request,
        "ops/incidents.html",
        {
            "view": view,
            "incidents": found,
            "columns": columns,
            "chosen": chosen,
            "query": query,
            "catalogue": catalogue,
            "own_department": user.department if user.role is Role.DEPARTMENT else None,
        },
    )


def _remaining(deadline: str | None, now: datetime) -> float | None:
    if deadline is None:
        return None
    return (datetime.fromisoformat(deadline.replace("Z", "+00:00")) - now).total_seconds()


async def _detail(
    request: Request, user: Principal, incident_id: int, error: str | None = None, status: int = 200
) -> Response:
    settings = settings_of(request)
    try:
        incident = await ops.read_incident(engine_of(request), settings, user, incident_id)
    except ops.OpsError as refused:
        return refusal_page(request, refused)
    catalogue = ops.incident_catalogue(settings)
    category = catalogue.categories.get(incident["category"])
    now = datetime.now(UTC)
    return render_ops(
        request,
        "ops/incident.html",
        {
            "incident": incident,
            "category_name": category.name if category else incident["category"],
            "departments": [
                catalogue.departments[c].name if c in catalogue.departments else c
                for c in incident["department_codes"]
            ],
            "next_statuses": sorted(
                ops.INCIDENT_TRANSITIONS[incident["status"]],
                key=ops.INCIDENT_STATUSES.index,
            ),
            "respond_left": _remaining(incident["respond_by"], now),
            "resolve_left": _remaining(incident["resolve_by"], now),
            "open": incident["status"] in ("new", "assigned", "in_progress"),
            "error": error,
            "max_upload": settings.ops_attachment_max_bytes,
        },
        status=status,
    )


@router.get("/console/incidents/{incident_id}")
async def incident_page(request: Request, incident_id: int, user: StaffPage) -> Response:
    return await _detail(request, user, incident_id)


async def _change(
    request: Request, user: Principal, incident_id: int, body: dict[str, Any]
) -> Response:
    try:
        await ops.update_incident(
            engine_of(request), settings_of(request), user, incident_id, body, request.url.path
        )
    except ops.OpsError as error:
        if error.status in (403, 404):
            return refusal_page(request, error)
        return await _detail(request, user, incident_id, error.message, error.status)
    return RedirectResponse(f"/console/incidents/{incident_id}", status_code=303)


@router.post("/console/incidents/{incident_id}/assign")
async def assign(request: Request, incident_id: int, user: StaffPage) -> Response:
    form = await check_csrf(request)
    assignee = form.get("assignee", "").strip()
    return await _change(request, user, incident_id, {"assignee": assignee or None})


@router.post("/console/incidents/{incident_id}/status")
async def change_status(request: Request, incident_id: int, user: StaffPage) -> Response:
    form = await check_csrf(request)
    body: dict[str, Any] = {"status": form.get("status", "")}
    notes = form.get("status_notes", "").strip()
    if notes:
        body["status_notes"] = notes
    return await _change(request, user, incident_id, body)


@router.post("/console/incidents/{incident_id}/comments")
async def comment(request: Request, incident_id: int, user: StaffPage) -> Response:
    form = await check_csrf(request)
    text = form.get("text", "").strip()
    if not text or len(text) > MAX_COMMENT:
        message = f"text: a comment of 1 to {MAX_COMMENT} characters"
        return await _detail(request, user, incident_id, message, 400)
    try:
        await ops.comment_on_incident(engine_of(request), user, incident_id, text, request.url.path)
    except ops.OpsError as error:
        return refusal_page(request, error)
    return RedirectResponse(f"/console/incidents/{incident_id}#timeline", status_code=303)


@router.post("/console/incidents/{incident_id}/checklist/{step}")
async def tick(request: Request, incident_id: int, step: int, user: StaffPage) -> Response:
    await check_csrf(request)
    try:
        await ops.tick_incident_step(
            engine_of(request), settings_of(request), user, incident_id, step, request.url.path
        )
    except ops.OpsError as error:
        if error.status == 403:
            return refusal_page(request, error)
        return await _detail(request, user, incident_id, error.message, error.status)
    return RedirectResponse(f"/console/incidents/{incident_id}#checklist", status_code=303)


@router.post("/console/incidents/{incident_id}/attachments")
async def attach(request: Request, incident_id: int, user: StaffPage) -> Response:
    """An image or PDF, checked by content and size by the operations centre."""
    settings = settings_of(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        message = "file: send the form as multipart/form-data"
        return await _detail(request, user, incident_id, message, 400)
    form = await checked_upload_form(request, settings.ops_attachment_max_bytes)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _detail(request, user, incident_id, "file: choose a file to attach", 400)
    content = await upload.read(settings.ops_attachment_max_bytes + 1)
    try:
        await ops.attach_to_incident(
            engine_of(request),
            settings,
            user,
            incident_id,
            upload.filename,
            content,
            request.url.path,
        )
    except ops.OpsError as error:
        if error.status == 403:
            return refusal_page(request, error)
        return await _detail(request, user, incident_id, error.message, error.status)
    return RedirectResponse(f"/console/incidents/{incident_id}#attachments", status_code=303)


@router.get("/console/incidents/{incident_id}/attachments/{attachment_id}")
async def attachment(
    request: Request, incident_id: int, attachment_id: int, user: StaffPage
) -> Response:
    """An attachment's bytes: images shown in the page, PDFs downloaded."""
    try:
        name, media_type, content = await ops.incident_attachment(
            engine_of(request), settings_of(request), user, incident_id, attachment_id
        )
    except ops.OpsError as error:
        return refusal_page(request, error)
    safe_name = "".join(c for c in name if c.isalnum() or c in "._-") or "attachment"
    disposition = "inline" if media_type.startswith("image/") else "attachment"
    return Response(
        content,
        media_type=media_type,
        headers={
            "Content-Disposition": f'{disposition}; filename="{safe_name}"',
            "Cache-Control": "private, max-age=3600",
        },
    )
