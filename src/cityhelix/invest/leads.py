"""The investor pipeline's storage: leads, their stage moves and deadlines, activities, the
overdue view, and the portal's enquiries that become leads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.db.engine import read_connection
from cityhelix.invest import pipeline
from cityhelix.invest.errors import BadInput, NotFound
from cityhelix.invest.registry import investor_exists
from cityhelix.invest.schemas import (
    ActivityIn,
    EnquiryIn,
    LeadIn,
    StageMove,
)
from cityhelix.invest.store import audit, json_row, plain, require_staff, utc_now, writing
from cityhelix.invest.tables import (
    activities,
    lead_stage_moves,
    leads,
)


def _lead_out(row: Row[Any], now: datetime | None = None) -> dict[str, Any]:
    lead = json_row(row)
    deadline = row.stage_deadline
    lead["overdue"] = deadline is not None and deadline < (now or utc_now())
    return lead


async def create_lead(
    engine: AsyncEngine, principal: Principal, body: LeadIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "adding a lead")
    async with writing(engine) as connection:
        if body.investor_id is not None:
            await investor_exists(connection, body.investor_id)
        lead_id = await insert_lead(connection, principal, body, "staff")
        await audit(connection, principal, "POST", path, "InvestLead", lead_id)
    return await get_lead(engine, principal, lead_id)


async def insert_lead(
    connection: AsyncConnection, principal: Principal, body: LeadIn, source: str
) -> int:
    now = utc_now()
    lead_id: int = (
        await connection.execute(
            insert(leads)
            .values(
                **body.model_dump(mode="json"),
                stage="lead",
                stage_entered_at=now,
                stage_deadline=pipeline.deadline("lead", now),
                source=source,
                created_at=now,
                updated_at=now,
            )
            .returning(leads.c.id)
        )
    ).scalar_one()
    await connection.execute(
        insert(lead_stage_moves).values(
            lead_id=lead_id, from_stage=None, to_stage="lead", at=now, by=principal.name
        )
    )
    return lead_id


async def lead_row(connection: AsyncConnection, lead_id: int) -> Row[Any]:
    row = (await connection.execute(select(leads).where(leads.c.id == lead_id))).first()
    if row is None:
        raise NotFound(f"id: no lead with id {lead_id}", field="id")
    return row


async def get_lead(engine: AsyncEngine, principal: Principal, lead_id: int) -> dict[str, Any]:
    """A lead with its stage moves and activities (its timeline)."""
    require_staff(principal, "reading the pipeline")
    async with read_connection(engine) as connection:
        lead = _lead_out(await lead_row(connection, lead_id))
        lead["moves"] = [
            json_row(m)
            for m in await connection.execute(
                select(lead_stage_moves)
                .where(lead_stage_moves.c.lead_id == lead_id)
                .order_by(lead_stage_moves.c.at, lead_stage_moves.c.id)
            )
        ]
        lead["activities"] = [
            json_row(a)
            for a in await connection.execute(
                select(activities)
                .where(activities.c.lead_id == lead_id)
                .order_by(activities.c.at, activities.c.id)
            )
        ]
    return lead


async def list_leads(
    engine: AsyncEngine,
    principal: Principal,
    *,
    stage: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    require_staff(principal, "reading the pipeline")
    query = select(leads).order_by(leads.c.id).limit(limit).offset(offset)
    if stage:
        query = query.where(leads.c.stage == stage)
    async with read_connection(engine) as connection:
        return [_lead_out(r) for r in await connection.execute(query)]


async def move_lead(
    engine: AsyncEngine, principal: Principal, lead_id: int, body: StageMove, path: str
) -> dict[str, Any]:
    """Move a lead to another stage; the new stage's deadline starts now."""
    require_staff(principal, "moving a lead")
    now = utc_now()
    if body.deadline is not None and body.deadline.tzinfo is None:
        raise BadInput("deadline: give a time zone (e.g. Z)", field="deadline")
    async with writing(engine) as connection:
        row = await lead_row(connection, lead_id)
        pipeline.check_move(row.stage, body.stage, body.reason)
        await connection.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(
                stage=body.stage,
                stage_entered_at=now,
                stage_deadline=body.deadline or pipeline.deadline(body.stage, now),
                lost_reason=body.reason if body.stage == "lost" else None,
                updated_at=now,
            )
        )
        await connection.execute(
            insert(lead_stage_moves).values(
                lead_id=lead_id,
                from_stage=row.stage,
                to_stage=body.stage,
                at=now,
                by=principal.name,
                reason=body.reason,
            )
        )
        await audit(connection, principal, "POST", path, "InvestLead", lead_id)
    return await get_lead(engine, principal, lead_id)


async def overdue(
    engine: AsyncEngine, principal: Principal, at: datetime | None = None
) -> dict[str, Any]:
    """Leads past their stage's deadline and activities past their next-action day, at `at`."""
    require_staff(principal, "reading the pipeline")
    moment = at or utc_now()
    async with read_connection(engine) as connection:
        late_leads = [
            _lead_out(r, moment)
            for r in await connection.execute(
                select(leads)
                .where(leads.c.stage_deadline.is_not(None), leads.c.stage_deadline < moment)
                .order_by(leads.c.stage_deadline)
            )
        ]
        late_activities = [
            json_row(a)
            for a in await connection.execute(
                select(activities)
                .join(leads, leads.c.id == activities.c.lead_id)
                .where(
                    activities.c.done.is_(False),
                    activities.c.next_action_on.is_not(None),
                    activities.c.next_action_on < moment.date(),
                    leads.c.stage != "lost",
                )
                .order_by(activities.c.next_action_on)
            )
        ]
    return {"at": plain(moment), "leads": late_leads, "activities": late_activities}


async def add_activity(
    engine: AsyncEngine, principal: Principal, lead_id: int, body: ActivityIn, path: str
) -> dict[str, Any]:
    require_staff(principal, "recording an activity")
    async with writing(engine) as connection:
        await lead_row(connection, lead_id)
        activity_id = (
            await connection.execute(
                insert(activities)
                .values(**body.model_dump(), lead_id=lead_id, at=utc_now())
                .returning(activities.c.id)
            )
        ).scalar_one()
        await audit(connection, principal, "POST", path, "InvestActivity", activity_id)
        row = (
            await connection.execute(select(activities).where(activities.c.id == activity_id))
        ).one()
    return json_row(row)


def stage_deadlines() -> dict[str, int | None]:
    """Days allowed in each stage."""
    return dict(pipeline.STAGE_DAYS)


async def submit_enquiry(engine: AsyncEngine, body: EnquiryIn, path: str) -> dict[str, Any]:
    """A portal enquiry becomes a lead (source "portal"); the answer repeats nothing of it."""
    if body.website:
        # a robot filled the hidden field: answer as if accepted, keep nothing
        return {"received": True}
    lead = LeadIn(
        organisation=body.organisation,
        country=body.country,
        contact={
            "name": body.name,
            "email": body.email,
            **({"phone": body.phone} if body.phone else {}),
            **({"message": body.message[:300]} if body.message else {}),
        },
        needs=body.needs,
    )
    portal = Principal("portal", Role.PUBLIC)
    async with writing(engine) as connection:
        lead_id = await insert_lead(connection, portal, lead, "portal")
        if body.message:
            await connection.execute(
                insert(activities).values(
                    lead_id=lead_id,
                    kind="note",
                    note=body.message,
                    owner="portal",
                    at=utc_now(),
                    next_action_on=None,
                    done=False,
                )
            )
        await audit(connection, portal, "POST", path, "InvestLead", lead_id)
    return {"received": True}
