"""The programme office's pages: programmes and their calls, a call's applications, and an
application's review (a reviewer who declared a conflict of interest sees a bar instead of
the scoring form, and the service refuses the score anyway), decision and tranches.

The signed-in user is the reviewer; every form posts with its CSRF token to a route that
calls `cityhelix.helix.service` and comes back to the page (303), or shows the page again
with the service's message and status when it refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cityhelix.auth.principal import Principal
from cityhelix.helix import service as helix
from cityhelix.web.kinds import N_
from cityhelix.web.routes.helix import engine_of
from cityhelix.web.security import WebRoute, check_csrf
from cityhelix.web.signin import StaffPage
from cityhelix.web.templating import render

router = APIRouter(route_class=WebRoute, include_in_schema=False)

APPLICATION_STATUS_LABELS = {
    "submitted": N_("Submitted"),
    "under_review": N_("Under review"),
    "accepted": N_("Accepted"),
    "rejected": N_("Rejected"),
    "funded": N_("Funded"),
    "reported": N_("Reported"),
}
PROGRAMME_KIND_LABELS = {
    "st_research": N_("S&T research"),
    "startup_support": N_("Start-up support"),
}
DECISION_LABELS = {"accepted": N_("Accepted"), "rejected": N_("Rejected")}
#: days ahead the programmes page lists deadlines for
DEADLINE_DAYS = 60


def _number(form: dict[str, str], name: str) -> float | str | None:
    """A form's number as the service expects it; text that is not one goes through as
    text, so the service's message names the field."""
    text = form.get(name, "").strip().replace(",", "")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _labels() -> dict[str, Any]:
    return {
        "application_status_names": APPLICATION_STATUS_LABELS,
        "programme_kind_names": PROGRAMME_KIND_LABELS,
        "decision_names": DECISION_LABELS,
    }


@router.get("/helix/programmes")
async def programmes_page(request: Request, user: StaffPage) -> Response:
    """Programmes with their calls, and what falls due soon."""
    today = datetime.now(UTC).date()
    programmes = await helix.list_programmes(engine_of(request))
    deadlines = await helix.upcoming_deadlines(engine_of(request), today, DEADLINE_DAYS)
    return render(
        request,
        "helix/programmes.html",
        {
            **_labels(),
            "programmes": programmes,
            "deadlines": deadlines["value"],
            "deadline_days": DEADLINE_DAYS,
        },
    )


@router.get("/helix/calls/{call_id}")
async def call_page(request: Request, call_id: int, user: StaffPage) -> Response:
    """A call, its criteria and its applications (analysts: scores are confidential)."""
    try:
        call = await helix.read_call(engine_of(request), call_id)
        applications = await helix.list_applications(engine_of(request), user, call_id)
    except helix.HelixError as error:
        return render(request, "helix/call.html", {"error": error.message}, error.status)
    return render(
        request, "helix/call.html", {**_labels(), "call": call, "applications": applications}
    )


async def _application_page(
    request: Request,
    user: Principal,
    application_id: int,
    error: str | None = None,
    status: int = 200,
) -> Response:
    try:
        application = await helix.read_application(engine_of(request), user, application_id)
        call = await helix.read_call(engine_of(request), application["call_id"])
        applicant = await helix.read_actor(
            engine_of(request), user, application["applicant_actor_id"]
        )
    except helix.HelixError as failed:
        return render(request, "helix/application.html", {"error": failed.message}, failed.status)
    mine = next((r for r in application["reviews"] if r["reviewer"] == user.name), None)
    return render(
        request,
        "helix/application.html",
        {
            **_labels(),
            "application": application,
            "call": call,
            "applicant": applicant,
            "my_review": mine,
            "conflicted": mine is not None and mine["conflict"],
            "error": error,
            "today": datetime.now(UTC).date().isoformat(),
        },
        status,
    )


@router.get("/helix/applications/{application_id}")
async def application_page(request: Request, application_id: int, user: StaffPage) -> Response:
    return await _application_page(request, user, application_id)


async def _step(
    request: Request, user: Principal, application_id: int, step: str, body: dict[str, Any]
) -> Response:
    """One step of the review, then back to the application (or its page with the error)."""
    try:
        if step == "decision":
            await helix.decide(engine_of(request), user, application_id, body, request.url.path)
        else:
            await helix.application_step(
                engine_of(request), user, application_id, step, body, request.url.path
            )
    except helix.HelixError as error:
        return await _application_page(request, user, application_id, error.message, error.status)
    return RedirectResponse(f"/helix/applications/{application_id}", status_code=303)


@router.post("/helix/applications/{application_id}/conflicts")
async def declare_conflict(request: Request, application_id: int, user: StaffPage) -> Response:
    """The signed-in reviewer declares a conflict of interest (before scoring)."""
    form = await check_csrf(request)
    body = {"reviewer": user.name, "note": form.get("note") or None}
    return await _step(request, user, application_id, "conflicts", body)


@router.post("/helix/applications/{application_id}/reviews")
async def score(request: Request, application_id: int, user: StaffPage) -> Response:
    """The signed-in reviewer's scores, one field per criterion (`score-<code>`)."""
    form = await check_csrf(request)
    scores = {
        name.removeprefix("score-"): _number(form, name)
        for name in form
        if name.startswith("score-")
    }
    body = {"reviewer": user.name, "scores": scores, "comment": form.get("comment") or None}
    return await _step(request, user, application_id, "reviews", body)


@router.post("/helix/applications/{application_id}/decision")
async def decide(request: Request, application_id: int, user: StaffPage) -> Response:
    form = await check_csrf(request)
    body = {
        "decision": form.get("decision") or None,
        "awarded": _number(form, "awarded"),
        "note": form.get("note") or None,
    }
    return await _step(request, user, application_id, "decision", body)


@router.post("/helix/applications/{application_id}/tranches")
async def add_tranche(request: Request, application_id: int, user: StaffPage) -> Response:
    form = await check_csrf(request)
    body = {
        "amount": _number(form, "amount"),
        "due_date": form.get("due_date") or None,
        "paid_on": form.get("paid_on") or None,
    }
    return await _step(request, user, application_id, "tranches", body)


@router.post("/helix/applications/{application_id}/tranches/{tranche_id}/paid")
async def pay_tranche(
    request: Request, application_id: int, tranche_id: int, user: StaffPage
) -> Response:
    form = await check_csrf(request)
    try:
        await helix.pay_tranche(
            engine_of(request),
            user,
            tranche_id,
            {"paid_on": form.get("paid_on") or None},
            request.url.path,
        )
    except helix.HelixError as error:
        return await _application_page(request, user, application_id, error.message, error.status)
    return RedirectResponse(f"/helix/applications/{application_id}", status_code=303)
