"""What the operations-centre pages share: the operations centre's refusals as HTML pages,
the CSRF check of an upload form, the live event stream for the console's session.

The pages are thin over `cityhelix.ops.service`: every rule, check and write happens there,
the same as behind `/api/ops`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData

from cityhelix.ops import service as ops
from cityhelix.settings import Settings
from cityhelix.web.const import CSRF_COOKIE, CSRF_FIELD
from cityhelix.web.kinds import N_
from cityhelix.web.security import CsrfRefused, WebRoute
from cityhelix.web.signin import StaffApi
from cityhelix.web.templating import render_labelled

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: the longest comment a form may send (the operations centre's own bound is larger)
MAX_COMMENT = 2000

#: how the pages name the operations centre's codes (source strings for the catalogues)
OPS_LABELS: dict[str, str] = {
    # alert severities and states
    "critical": N_("Critical"),
    "warning": N_("Warning"),
    "info": N_("Information"),
    "active": N_("Active"),
    "acknowledged": N_("Acknowledged"),
    "cleared": N_("Cleared"),
    # incident statuses and priorities
    "new": N_("New"),
    "assigned": N_("Assigned"),
    "in_progress": N_("In progress"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "low": N_("Low"),
    "normal": N_("Normal"),
    "high": N_("High"),
    "urgent": N_("Urgent"),
    # rule kinds and operators
    "threshold": N_("Threshold"),
    "range": N_("Outside a range"),
    "rate": N_("Rate of change"),
    "stale": N_("No reading (stale)"),
    "anomaly": N_("Anomaly (z-score)"),
    "composite": N_("Composite"),
    "gt": N_("above (>)"),
    "ge": N_("at or above (≥)"),
    "lt": N_("below (<)"),
    "le": N_("at or below (≤)"),
    "and": N_("all of them (AND)"),
    "or": N_("any of them (OR)"),
    # timeline entries
    "created": N_("Opened"),
    "status": N_("Status changed"),
    "reopen": N_("Reopened"),
    "assignee": N_("Assigned to"),
    "priority": N_("Priority changed"),
    "comment": N_("Comment"),
    "checklist": N_("Checklist step done"),
    "attachment": N_("Attachment added"),
    "edit": N_("Edited"),
    "escalation": N_("Escalated"),
}


def ops_label(gettext: Callable[[str], str], code: str | None) -> str:
    """The translated label of an operations-centre code, or the code itself."""
    if code is None:
        return "—"
    label = OPS_LABELS.get(code)
    return gettext(label) if label is not None else code


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def render_ops(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    """`render` with `label(code)`: an operations-centre code in the page's language."""
    return render_labelled(request, template, context, ops_label, status)


def refusal_page(request: Request, error: ops.OpsError) -> Response:
    """The operations centre's refusal (403, 404, 409, ...) as a page that says why."""
    return render_ops(
        request,
        "ops/refused.html",
        {"status": error.status, "message": error.message, "field": error.field},
        status=error.status,
    )


async def checked_upload_form(request: Request, max_bytes: int) -> FormData:
    """A multipart form with at most one file, when its CSRF field matches the cookie."""
    form = await request.form(max_files=1, max_fields=10, max_part_size=max_bytes + 1)
    given = form.get(CSRF_FIELD)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if (
        not isinstance(given, str)
        or not cookie
        or not hmac.compare_digest(cookie.encode(), given.encode())
    ):
        raise CsrfRefused("the form's CSRF token is missing or stale: reload the page")
    return form


@router.get("/console/ops/events")
async def ops_events(
    request: Request,
    user: StaffApi,
    kind: str | None = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """The operations centre's live stream (alerts, incidents) for the signed-in console."""
    try:
        return await ops.alert_events(request, kind, last_event_id)
    except ops.OpsError as error:
        return JSONResponse({"detail": error.message}, status_code=error.status)
