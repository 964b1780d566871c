"""The citizen's report page (`/report`) and its tracking page (`/report/{number}`).

The page is the site's own Open311 client: it files through `ops.service.file_request`,
the very function `POST /open311/v2/requests` calls, as the principal `web:report` (role
public), so the citizen needs no api_key. In its place the page has what a public form
needs: the CSRF double submit, a honeypot field, and a limit of reports per address.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException

from cityhelix.auth.principal import Principal, Role
from cityhelix.ops import service as ops
from cityhelix.settings import Settings
from cityhelix.web.kinds import N_
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

#: who files the page's reports (the audit log's and the incident's `created_by`)
REPORTER = Principal("web:report", Role.PUBLIC)
#: a photo is an image; the desk also takes PDF from Open311 clients, the page does not
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
#: reports filed per client address within REPORT_WINDOW_SECONDS (a household behind one
#: address files a few; a script filing hundreds is stopped)
REPORTS_PER_WINDOW = 10
REPORT_WINDOW_SECONDS = 3600.0
#: the form field people leave empty and form-filling robots do not
HONEYPOT = "website"
#: the fields the page sends through to Open311 (contact fields are not asked for)
_PASSED = ("service_code", "lat", "long", "address_string", "description")

#: what the citizen reads when a field is refused, by the Open311 field it names
FIELD_MESSAGES: dict[str, str] = {
    "service_code": N_("Choose what kind of problem it is."),
    "lat": N_("Place a pin on the map, use your location, or type an address."),
    "long": N_("Place a pin on the map, use your location, or type an address."),
    "address_string": N_("The address is too long."),
    "description": N_("The description is too long (at most 4,000 characters)."),
    "media": N_("The photo must be a JPEG, PNG or WebP image of at most %(megabytes)s MB."),
    HONEYPOT: N_("The report could not be accepted."),
    "rate": N_("Too many reports from your connection. Please try again in an hour."),
}
#: a refused attribute (attribute[code]) of the chosen category
ATTRIBUTE_MESSAGE = N_("Answer the question about this problem.")

#: a citizen's view of an incident's status
STATUS_LABELS: dict[str, str] = {
    "new": N_("Received"),
    "assigned": N_("Assigned to a team"),
    "in_progress": N_("Being worked on"),
    "resolved": N_("Resolved"),
    "closed": N_("Closed"),
    "open": N_("Open"),
}
STEP_LABELS: dict[str, str] = {
    "created": N_("Report received"),
    "status": N_("Status changed"),
    "reopen": N_("Reopened"),
}


class ReportLimit:
    """Reports filed per client address in a sliding window, per process (bounded)."""

    MAX_ADDRESSES = 100_000

    def __init__(self, per_window: int, window_seconds: float) -> None:
        self.per_window = per_window
        self.window_seconds = window_seconds
        self._filed: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str) -> deque[float]:
        times = self._filed.get(address) or deque()
        horizon = time.monotonic() - self.window_seconds
        while times and times[0] < horizon:
            times.popleft()
        return times

    def allows(self, address: str) -> bool:
        return len(self._recent(address)) < self.per_window

    def filed(self, address: str) -> None:
        times = self._recent(address)
        times.append(time.monotonic())
        self._filed[address] = times
        self._filed.move_to_end(address)
        while len(self._filed) > self.MAX_ADDRESSES:
            self._filed.popitem(last=False)


def _limit(request: Request) -> ReportLimit:
    """The app's limit (made on first use: it lives as long as the app)."""
    limit: ReportLimit | None = getattr(request.app.state, "web_report_limit", None)
    if limit is None:
        limit = ReportLimit(REPORTS_PER_WINDOW, REPORT_WINDOW_SECONDS)
        request.app.state.web_report_limit = limit
    return limit


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _catalogue(request: Request) -> ops.Catalogue:
    return ops.load_catalogue(_settings(request).ops_catalogue)


@dataclass(frozen=True)
class Refusal:
    """Why the form was not accepted: the status, the field, and the service's own words
    (English, for the record; the page shows the field's translated message)."""

    status: int
    field: str
    detail: str


def _groups(catalogue: ops.Catalogue) -> list[tuple[str, list[ops.Category]]]:
    """Categories by group, in the catalogue's order (the select's optgroups)."""
    groups: dict[str, list[ops.Category]] = {}
    for category in catalogue.categories.values():
        groups.setdefault(category.group or "Other", []).append(category)
    return list(groups.items())


def _form_page(
    request: Request,
    values: dict[str, str] | None = None,
    refusal: Refusal | None = None,
) -> Response:
    settings = _settings(request)
    catalogue = _catalogue(request)
    field = refusal.field if refusal else ""
    message = ""
    if refusal is not None:
        message = FIELD_MESSAGES.get(field, ATTRIBUTE_MESSAGE)
    return render(
        request,
        "report.html",
        {
            "groups": _groups(catalogue),
            "categories": list(catalogue.categories.values()),
            "values": values or {},
            "error_field": field,
            "error_message": message,
            "megabytes": settings.ops_attachment_max_bytes // (1024 * 1024),
            "honeypot": HONEYPOT,
        },
        status=refusal.status if refusal else 200,
    )


@router.get("/report")
async def report_form(request: Request) -> Response:
    return _form_page(request)


def _field_of(error: ops.OpsError) -> str:
    """The Open311 field an error names ("file" is the desk's name for the media)."""
    field = error.field or error.message.split(":", 1)[0]
    return "media" if field == "file" else field


async def _read_form(
    request: Request,
) -> tuple[dict[str, str], dict[str, list[str]], UploadFile | None]:
    """(single values, every value by name, the photo) of the multipart form; the photo's
    size is bounded by the app's body limit here and checked by `file_request`."""
    form = await request.form(max_files=1, max_fields=60, max_part_size=64 * 1024)
    values: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    photo: UploadFile | None = None
    for name, value in form.multi_items():
        if isinstance(value, str):
            values[name] = value
            lists.setdefault(name, []).append(value)
        elif name == "media" and value.filename:
            photo = value
    return values, lists, photo


@router.post("/report")
async def file_report(request: Request) -> Response:
    """File the report; 303 to its tracking page, or the form again naming the field."""
    settings = _settings(request)
    max_bytes = settings.ops_attachment_max_bytes
    try:
        values, lists, photo = await _read_form(request)
    except MultiPartException as error:
        return _form_page(request, None, Refusal(400, "media", error.message))
    # the form is parsed and kept by the request: check_csrf reads the same one
    await check_csrf(request)
    address = request.client.host if request.client else "unknown"
    limit = _limit(request)
    if not limit.allows(address):
        return _form_page(request, values, Refusal(429, "rate", "too many reports"))
    if values.get(HONEYPOT):
        return _form_page(request, values, Refusal(400, HONEYPOT, "honeypot filled"))
    catalogue = _catalogue(request)
    chosen = catalogue.categories.get(values.get("service_code", ""))
    own_attributes = {f"attribute[{a.code}]" for a in chosen.attributes} if chosen else set()
    fields = {
        name: given
        for name, given in lists.items()
        if name in _PASSED or name.removesuffix("[]") in own_attributes
    }
    media = None
    if photo is not None:
        media = ops.Media(photo.filename or "photo", await photo.read(max_bytes + 1))
    try:
        filed = await ops.file_request(
            request.app.state.engine,
            catalogue,
            ops.citizen_attachment_store(settings),
            fields,
            media,
            principal=REPORTER,
            path=request.url.path,
            max_media_bytes=max_bytes,
            channel="web",
            media_types=PHOTO_TYPES,
        )
    except ops.OpsError as error:
        return _form_page(request, values, Refusal(error.status, _field_of(error), error.message))
    limit.filed(address)
    return RedirectResponse(f"/report/{filed.service_request_id}?filed=1", status_code=303)


@router.get("/report/track")
async def track(request: Request) -> Response:
    """The lookup form's answer: the tracking page of the number typed."""
    number = request.query_params.get("number", "").strip().lstrip("#")
    if not number.isdigit() or len(number) > 18:
        return render(request, "report_missing.html", {"number": number[:40]}, status=404)
    return RedirectResponse(f"/report/{int(number)}", status_code=303)


@router.get("/report/{number}")
async def tracking(request: Request, number: str) -> Response:
    """The public status and timeline of report `number` (no contact, no staff names)."""
    try:
        found = await ops.public_request(request.app.state.engine, _catalogue(request), number)
    except ops.OpsError:
        return render(request, "report_missing.html", {"number": number[:40]}, status=404)
    record: dict[str, Any] = found.record
    last = found.timeline[-1].status if found.timeline else record["status"]
    return render(
        request,
        "report_status.html",
        {
            "number": record["service_request_id"],
            "record": record,
            "status_key": last,
            "request_status_labels": STATUS_LABELS,
            "step_labels": STEP_LABELS,
            "timeline": found.timeline,
            "filed": request.query_params.get("filed") == "1",
        },
    )
