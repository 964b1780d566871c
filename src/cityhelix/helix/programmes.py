"""S&T and start-up programmes: calls with criteria and deadlines, applications, review
(conflicts of interest declared first: a reviewer with one cannot score), decisions,
funding tranches and reports.

The order of a call is enforced here, not left to the caller: an application inside the
call's dates, a review only without a declared conflict, a decision only after a review,
tranches only for an accepted application and never above the award, reports only once
funded. Functions take a connection; `service` owns transactions and the audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from cityhelix.helix import fields
from cityhelix.helix.errors import BadRequest, Conflict, HelixError, Invalid, NotFound
from cityhelix.helix.registry import OUTPUTS
from cityhelix.helix.tables import (
    helix_actors,
    helix_applications,
    helix_calls,
    helix_programmes,
    helix_reports,
    helix_reviews,
    helix_tranches,
)

PROGRAMME_KINDS = ("st_research", "startup_support")
DECISIONS = ("accepted", "rejected")
REPORT_KINDS = ("progress", "final")
MAX_CRITERIA = 20


def _nested(where: str, error: HelixError) -> HelixError:
    return type(error)(where + error.message, where + (error.field or ""))


async def _row(connection: AsyncConnection, table: Any, row_id: int, what: str) -> Any:
    row = (await connection.execute(select(table).where(table.c.id == row_id))).first()
    if row is None:
        raise NotFound(f"{what} {row_id}: not found", f"{what}_id")
    return row


async def _actor_exists(connection: AsyncConnection, actor_id: int, field: str) -> None:
    found = (
        await connection.execute(select(helix_actors.c.id).where(helix_actors.c.id == actor_id))
    ).first()
    if found is None:
        raise Invalid(f"{field}: no actor {actor_id}", field)


# --- programmes and calls -------------------------------------------------------------


async def create_programme(connection: AsyncConnection, body: object) -> int:
    body = fields.body_object(body)
    fields.unknown_fields(body, ("name", "kind", "owner_actor_id", "description", "synthetic"))
    values: dict[str, Any] = {
        "name": fields.required_text(body, "name"),
        "kind": fields.choice(body, "kind", PROGRAMME_KINDS, required=True),
        "description": fields.text(body, "description", max_length=10_000),
        "synthetic": bool(body.get("synthetic", False)),
        "owner_actor_id": None,
    }
    if body.get("owner_actor_id") is not None:
        values["owner_actor_id"] = fields.identifier(body, "owner_actor_id")
        await _actor_exists(connection, values["owner_actor_id"], "owner_actor_id")
    programme_id: int = (
        await connection.execute(
            insert(helix_programmes)
            .values(**values, created_at=datetime.now(UTC))
            .returning(helix_programmes.c.id)
        )
    ).scalar_one()
    return programme_id


def _criteria(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    given = fields.object_list(body, "criteria")
    if not 1 <= len(given) <= MAX_CRITERIA:
        raise BadRequest(f"criteria: 1 to {MAX_CRITERIA} criteria", "criteria")
    criteria: list[dict[str, Any]] = []
    for index, entry in enumerate(given):
        where = f"criteria[{index}]."
        fields.unknown_fields(entry, ("code", "name", "max", "weight"), where)
        try:
            code = fields.required_text(entry, "code", max_length=40)
            criterion = {
                "code": code,
                "name": fields.text(entry, "name") or code,
                "max": fields.number(entry, "max", required=True, minimum=1, maximum=1000),
                "weight": fields.number(entry, "weight", minimum=0, maximum=100) or 1.0,
            }
        except HelixError as error:
            raise _nested(where, error) from None
        if any(c["code"] == code for c in criteria):
            raise Invalid(f"{where}code: {code!r} given twice", where + "code")
        criteria.append(criterion)
    return criteria


async def create_call(connection: AsyncConnection, programme_id: int, body: object) -> int:
    await _row(connection, helix_programmes, programme_id, "programme")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("title", "opens", "deadline", "budget", "criteria"))
    values = {
        "title": fields.required_text(body, "title"),
        "opens": fields.day(body, "opens", required=True),
        "deadline": fields.day(body, "deadline", required=True),
        "budget": fields.number(body, "budget"),
        "criteria": _criteria(body),
    }
    if values["deadline"] < values["opens"]:  # type: ignore[operator]
        raise Invalid("deadline: before opens", "deadline")
    call_id: int = (
        await connection.execute(
            insert(helix_calls)
            .values(programme_id=programme_id, **values, created_at=datetime.now(UTC))
            .returning(helix_calls.c.id)
        )
    ).scalar_one()
    return call_id


def call_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "programme_id": row.programme_id,
        "title": row.title,
        "opens": row.opens.isoformat(),
        "deadline": row.deadline.isoformat(),
        "budget": row.budget,
        "criteria": row.criteria,
    }


async def read_programmes(connection: AsyncConnection) -> list[dict[str, Any]]:
    programmes = (
        await connection.execute(
            select(helix_programmes).order_by(helix_programmes.c.id).limit(500)
        )
    ).all()
    calls = (
        await connection.execute(select(helix_calls).order_by(helix_calls.c.deadline).limit(5000))
    ).all()
    return [
        {
            "id": row.id,
            "name": row.name,
            "kind": row.kind,
            "owner_actor_id": row.owner_actor_id,
            "description": row.description,
            "synthetic": row.synthetic,
            "calls": [call_json(call) for call in calls if call.programme_id == row.id],
        }
        for row in programmes
    ]


async def read_call(connection: AsyncConnection, call_id: int) -> dict[str, Any]:
    call = await _row(connection, helix_calls, call_id, "call")
    counts = await connection.execute(
        select(helix_applications.c.status, func.count())
        .where(helix_applications.c.call_id == call_id)
        .group_by(helix_applications.c.status)
    )
    return {**call_json(call), "applications": {status: n for status, n in counts}}


# --- applications ---------------------------------------------------------------------


async def submit_application(
    connection: AsyncConnection, call_id: int, body: object, today: date
) -> int:
    call = await _row(connection, helix_calls, call_id, "call")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("applicant_actor_id", "title", "requested", "submitted_on"))
    applicant = fields.identifier(body, "applicant_actor_id")
    title = fields.required_text(body, "title", max_length=500)
    requested = fields.number(body, "requested", required=True, minimum=1)
    submitted_on = fields.day(body, "submitted_on") or today
    if submitted_on > today:
        raise Invalid("submitted_on: in the future", "submitted_on")
    if not call.opens <= submitted_on <= call.deadline:
        raise Invalid(
            f"submitted_on: the call is open from {call.opens} to its deadline {call.deadline}",
            "submitted_on",
        )
    await _actor_exists(connection, applicant, "applicant_actor_id")
    application_id: int = (
        await connection.execute(
            insert(helix_applications)
            .values(
                call_id=call_id,
                applicant_actor_id=applicant,
                title=title,
                requested=requested,
                status="submitted",
                submitted_at=datetime(
                    submitted_on.year, submitted_on.month, submitted_on.day, tzinfo=UTC
                ),
            )
            .returning(helix_applications.c.id)
        )
    ).scalar_one()
    return application_id


async def declare_conflict(connection: AsyncConnection, application_id: int, body: object) -> int:
    """A reviewer declares a conflict of interest on an application, before scoring it."""
    await _row(connection, helix_applications, application_id, "application")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("reviewer", "note"))
    reviewer = fields.required_text(body, "reviewer", max_length=200)
    note = fields.text(body, "note", max_length=2000)
    existing = await _review_of(connection, application_id, reviewer)
    if existing is not None:
        if existing.scores is not None:
            raise Conflict(
                f"reviewer: {reviewer!r} has scored this application already; "
                "a conflict is declared before scoring",
                "reviewer",
            )
        return int(existing.id)
    review_id: int = (
        await connection.execute(
            insert(helix_reviews)
            .values(
                application_id=application_id,
                reviewer=reviewer,
                conflict=True,
                conflict_note=note,
                at=datetime.now(UTC),
            )
            .returning(helix_reviews.c.id)
        )
    ).scalar_one()
    return review_id


async def _review_of(connection: AsyncConnection, application_id: int, reviewer: str) -> Any:
    return (
        await connection.execute(
            select(helix_reviews).where(
                helix_reviews.c.application_id == application_id,
                helix_reviews.c.reviewer == reviewer,
            )
        )
    ).first()


async def score_application(connection: AsyncConnection, application_id: int, body: object) -> int:
    application = await _row(connection, helix_applications, application_id, "application")
    if application.decision is not None:
        raise Conflict("decision: the application is decided; reviews are closed", "decision")
    call = await _row(connection, helix_calls, application.call_id, "call")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("reviewer", "scores", "comment"))
    reviewer = fields.required_text(body, "reviewer", max_length=200)
    comment = fields.text(body, "comment", max_length=10_000)
    scores = body.get("scores")
    if not isinstance(scores, dict):
        raise BadRequest("scores: expected an object of criterion code to score", "scores")
    codes = [c["code"] for c in call.criteria]
    fields.unknown_fields(scores, codes, "scores.")
    clean: dict[str, float] = {}
    for criterion in call.criteria:
        try:
            value = fields.number(
                scores, criterion["code"], required=True, maximum=criterion["max"]
            )
        except HelixError as error:
            raise _nested("scores.", error) from None
        assert value is not None
        clean[criterion["code"]] = value
    existing = await _review_of(connection, application_id, reviewer)
    if existing is not None and existing.conflict:
        raise Conflict(
            f"reviewer: {reviewer!r} declared a conflict of interest on this application "
            "and cannot score it",
            "reviewer",
        )
    if existing is not None:
        raise Conflict(f"reviewer: {reviewer!r} has scored this application already", "reviewer")
    review_id: int = (
        await connection.execute(
            insert(helix_reviews)
            .values(
                application_id=application_id,
                reviewer=reviewer,
                conflict=False,
                scores=clean,
                comment=comment,
                at=datetime.now(UTC),
            )
            .returning(helix_reviews.c.id)
        )
    ).scalar_one()
    await connection.execute(
        update(helix_applications)
        .where(helix_applications.c.id == application_id)
        .values(status="under_review")
    )
    return review_id


def weighted_score(criteria: list[dict[str, Any]], scores: Mapping[str, float]) -> float:
    """A review's score on 0-100: each criterion as a share of its maximum, by weight."""
    total_weight = float(sum(c["weight"] for c in criteria)) or 1.0
    shares = sum(float(c["weight"]) * scores[c["code"]] / float(c["max"]) for c in criteria)
    return round(100 * shares / total_weight, 6)


async def decide(connection: AsyncConnection, application_id: int, body: object) -> None:
    application = await _row(connection, helix_applications, application_id, "application")
    if application.decision is not None:
        raise Conflict(f"decision: already {application.decision}", "decision")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("decision", "awarded", "note"))
    decision = fields.choice(body, "decision", DECISIONS, required=True)
    awarded = fields.number(body, "awarded")
    note = fields.text(body, "note", max_length=10_000)
    scored = (
        await connection.execute(
            select(func.count())
            .select_from(helix_reviews)
            .where(
                helix_reviews.c.application_id == application_id,
                helix_reviews.c.conflict.is_(False),
            )
        )
    ).scalar_one()
    if scored == 0:
        raise Invalid("decision: the application has no review yet", "decision")
    if decision == "accepted":
        if awarded is None or awarded <= 0:
            raise Invalid("awarded: an accepted application needs an amount above 0", "awarded")
        if awarded > application.requested:
            raise Invalid(f"awarded: above the {application.requested:g} requested", "awarded")
    elif awarded is not None:
        raise Invalid("awarded: a rejected application is awarded nothing", "awarded")
    await connection.execute(
        update(helix_applications)
        .where(helix_applications.c.id == application_id)
        .values(
            decision=decision,
            awarded=awarded,
            decision_note=note,
            decided_at=datetime.now(UTC),
            status=decision,
        )
    )


async def _accepted(connection: AsyncConnection, application_id: int) -> Any:
    application = await _row(connection, helix_applications, application_id, "application")
    if application.decision != "accepted":
        raise Invalid("decision: only an accepted application is funded and reports", "decision")
    return application


async def add_tranche(connection: AsyncConnection, application_id: int, body: object) -> int:
    application = await _accepted(connection, application_id)
    body = fields.body_object(body)
    fields.unknown_fields(body, ("amount", "due_date", "paid_on"))
    amount = fields.number(body, "amount", required=True, minimum=0.01)
    due_date = fields.day(body, "due_date", required=True)
    paid_on = fields.day(body, "paid_on")
    assert amount is not None
    planned = (
        await connection.execute(
            select(func.coalesce(func.sum(helix_tranches.c.amount), 0.0)).where(
                helix_tranches.c.application_id == application_id
            )
        )
    ).scalar_one()
    if float(planned) + amount > application.awarded + 1e-6:
        raise Invalid(
            f"amount: tranches would total {float(planned) + amount:g}, "
            f"above the {application.awarded:g} awarded",
            "amount",
        )
    tranche_id: int = (
        await connection.execute(
            insert(helix_tranches)
            .values(
                application_id=application_id, amount=amount, due_date=due_date, paid_on=paid_on
            )
            .returning(helix_tranches.c.id)
        )
    ).scalar_one()
    if paid_on is not None:
        await _mark_funded(connection, application_id)
    return tranche_id


async def pay_tranche(connection: AsyncConnection, tranche_id: int, body: object) -> int:
    tranche = await _row(connection, helix_tranches, tranche_id, "tranche")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("paid_on",))
    paid_on = fields.day(body, "paid_on", required=True)
    if tranche.paid_on is not None:
        raise Conflict(f"paid_on: tranche {tranche_id} was paid on {tranche.paid_on}", "paid_on")
    await connection.execute(
        update(helix_tranches).where(helix_tranches.c.id == tranche_id).values(paid_on=paid_on)
    )
    await _mark_funded(connection, tranche.application_id)
    return int(tranche.application_id)


async def _mark_funded(connection: AsyncConnection, application_id: int) -> None:
    await connection.execute(
        update(helix_applications)
        .where(helix_applications.c.id == application_id, helix_applications.c.status == "accepted")
        .values(status="funded")
    )


async def add_report(connection: AsyncConnection, application_id: int, body: object) -> int:
    application = await _accepted(connection, application_id)
    if application.status not in ("funded", "reported"):
        raise Invalid("status: a report comes after the first paid tranche", "status")
    body = fields.body_object(body)
    fields.unknown_fields(body, ("kind", "summary", "outputs"))
    kind = fields.choice(body, "kind", REPORT_KINDS, required=True)
    summary = fields.required_text(body, "summary", max_length=20_000)
    outputs_body = body.get("outputs", {})
    if not isinstance(outputs_body, dict):
        raise BadRequest("outputs: expected an object", "outputs")
    fields.unknown_fields(outputs_body, OUTPUTS, "outputs.")
    try:
        outputs = {name: fields.count(outputs_body, name) for name in OUTPUTS}
    except HelixError as error:
        raise _nested("outputs.", error) from None
    report_id: int = (
        await connection.execute(
            insert(helix_reports)
            .values(
                application_id=application_id,
                kind=kind,
                summary=summary,
                outputs=outputs,
                submitted_at=datetime.now(UTC),
            )
            .returning(helix_reports.c.id)
        )
    ).scalar_one()
    if kind == "final":
        await connection.execute(
            update(helix_applications)
            .where(helix_applications.c.id == application_id)
            .values(status="reported")
        )
    return report_id


async def read_applications(connection: AsyncConnection, call_id: int) -> list[dict[str, Any]]:
    """The call's applications in submission order, each summarised (its applicant's name,
    status, mean score over the reviews without a conflict, decision, award)."""
    call = await _row(connection, helix_calls, call_id, "call")
    rows = (
        await connection.execute(
            select(helix_applications, helix_actors.c.name.label("applicant"))
            .join(helix_actors, helix_actors.c.id == helix_applications.c.applicant_actor_id)
            .where(helix_applications.c.call_id == call_id)
            .order_by(helix_applications.c.submitted_at, helix_applications.c.id)
            .limit(5000)
        )
    ).all()
    reviews = (
        await connection.execute(
            select(helix_reviews).where(
                helix_reviews.c.application_id.in_([row.id for row in rows]),
                helix_reviews.c.conflict.is_(False),
            )
        )
    ).all()
    scores: dict[int, list[float]] = {}
    for review in reviews:
        scores.setdefault(review.application_id, []).append(
            weighted_score(call.criteria, review.scores)
        )
    return [
        {
            "id": row.id,
            "title": row.title,
            "applicant_actor_id": row.applicant_actor_id,
            "applicant": row.applicant,
            "requested": row.requested,
            "status": row.status,
            "submitted_at": row.submitted_at.isoformat(),
            "reviews": len(scores.get(row.id, [])),
            "score": round(sum(s) / len(s), 6) if (s := scores.get(row.id)) else None,
            "decision": row.decision,
            "awarded": row.awarded,
        }
        for row in rows
    ]


async def read_application(connection: AsyncConnection, application_id: int) -> dict[str, Any]:
    application = await _row(connection, helix_applications, application_id, "application")
    call = await _row(connection, helix_calls, application.call_id, "call")
    reviews = (
        await connection.execute(
            select(helix_reviews)
            .where(helix_reviews.c.application_id == application_id)
            .order_by(helix_reviews.c.id)
        )
    ).all()
    tranches = (
        await connection.execute(
            select(helix_tranches)
            .where(helix_tranches.c.application_id == application_id)
            .order_by(helix_tranches.c.due_date, helix_tranches.c.id)
        )
    ).all()
    reports = (
        await connection.execute(
            select(helix_reports)
            .where(helix_reports.c.application_id == application_id)
            .order_by(helix_reports.c.id)
        )
    ).all()
    scored = [
        weighted_score(call.criteria, review.scores) for review in reviews if not review.conflict
    ]
    return {
        "id": application.id,
        "call_id": application.call_id,
        "applicant_actor_id": application.applicant_actor_id,
        "title": application.title,
        "requested": application.requested,
        "status": application.status,
        "submitted_at": application.submitted_at.isoformat(),
        "reviews": [
            {
                "reviewer": review.reviewer,
                "conflict": review.conflict,
                "conflict_note": review.conflict_note,
                "scores": review.scores,
                "score": None if review.conflict else weighted_score(call.criteria, review.scores),
                "comment": review.comment,
            }
            for review in reviews
        ],
        "score": round(sum(scored) / len(scored), 6) if scored else None,
        "decision": application.decision,
        "awarded": application.awarded,
        "decision_note": application.decision_note,
        "tranches": [
            {
                "id": t.id,
                "amount": t.amount,
                "due_date": t.due_date.isoformat(),
                "paid_on": t.paid_on.isoformat() if t.paid_on else None,
            }
            for t in tranches
        ],
        "paid": sum(t.amount for t in tranches if t.paid_on is not None),
        "reports": [
            {
                "id": r.id,
                "kind": r.kind,
                "summary": r.summary,
                "outputs": r.outputs,
                "submitted_at": r.submitted_at.isoformat(),
            }
            for r in reports
        ],
    }


async def upcoming_deadlines(
    connection: AsyncConnection, today: date, days: int
) -> list[dict[str, Any]]:
    """Call deadlines and unpaid tranches falling due in [today, today + days], by date."""
    until = today + timedelta(days=days)
    calls = await connection.execute(
        select(helix_calls.c.id, helix_calls.c.title, helix_calls.c.deadline).where(
            helix_calls.c.deadline >= today, helix_calls.c.deadline <= until
        )
    )
    tranches = await connection.execute(
        select(
            helix_tranches.c.id, helix_tranches.c.application_id, helix_tranches.c.due_date
        ).where(
            helix_tranches.c.paid_on.is_(None),
            helix_tranches.c.due_date <= until,
        )
    )
    found = [
        {"kind": "call_deadline", "call_id": c.id, "title": c.title, "date": c.deadline}
        for c in calls
    ] + [
        {
            "kind": "tranche_due",
            "tranche_id": t.id,
            "application_id": t.application_id,
            "date": t.due_date,
            "overdue": t.due_date < today,
        }
        for t in tranches
    ]
    found.sort(key=lambda item: item["date"])
    return [{**item, "date": item["date"].isoformat()} for item in found]
