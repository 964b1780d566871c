"""The helix pillar's door: the registry, synergy, programmes and the scorecard as plain
async functions. HTTP, the CLI, the web pages and other pillars call only these.

Each write is one transaction with its audit row (`auth.service.record_write`) and its
history; only analysts and admins write; people's names and e-mails (personal data) are
shown to analysts and admins only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import record_write
from cityhelix.db.engine import read_connection
from cityhelix.helix import open_data, programmes, registry, synergy
from cityhelix.helix.errors import BadRequest, Forbidden
from cityhelix.helix.errors import HelixError as HelixError  # the web pages show its message
from cityhelix.helix.scorecard import card
from cityhelix.settings import Settings

#: roles that write the helix registry, programmes and manual indicators
WRITERS = frozenset({Role.ADMIN, Role.ANALYST})


def require_writer(principal: Principal) -> None:
    if principal.role not in WRITERS:
        raise Forbidden(f"role {principal.role.value}: the helix registry is written by analysts")


def sees_personal_data(principal: Principal) -> bool:
    return principal.role in WRITERS


def page_bounds(limit: int | None, offset: int | None) -> tuple[int, int]:
    limit = registry.MAX_PAGE if limit is None else limit
    offset = 0 if offset is None else offset
    if not 1 <= limit <= registry.MAX_PAGE:
        raise BadRequest(f"limit: expected 1 to {registry.MAX_PAGE}", "limit")
    if offset < 0:
        raise BadRequest("offset: expected 0 or more", "offset")
    return limit, offset


# --- actors -------------------------------------------------------------------------


async def create_actor(
    engine: AsyncEngine, principal: Principal, body: object, path: str
) -> dict[str, Any]:
    require_writer(principal)
    values = registry.actor_values(body)
    async with engine.begin() as connection:
        actor_id = await registry.insert_actor(connection, values, principal.name)
        await record_write(connection, principal, "POST", path, [("HelixActor", actor_id)])
    return await read_actor(engine, principal, actor_id)


async def update_actor(
    engine: AsyncEngine, principal: Principal, actor_id: int, body: object, path: str
) -> dict[str, Any]:
    require_writer(principal)
    async with engine.begin() as connection:
        await registry.patch_actor(connection, actor_id, body, principal.name)
        await record_write(connection, principal, "PATCH", path, [("HelixActor", actor_id)])
    return await read_actor(engine, principal, actor_id)


async def read_actor(engine: AsyncEngine, principal: Principal, actor_id: int) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        row = await registry.actor_row(connection, actor_id)
    return registry.actor_json(row, personal=sees_personal_data(principal))


async def list_actors(
    engine: AsyncEngine,
    principal: Principal,
    *,
    q: str | None = None,
    kind: str | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    if kind is not None and kind not in registry.ACTOR_KINDS:
        raise BadRequest(f"kind: expected one of {', '.join(registry.ACTOR_KINDS)}", "kind")
    async with read_connection(engine) as connection:
        total, rows = await registry.search_actors(
            connection, q=q, kind=kind, limit=limit, offset=offset
        )
    personal = sees_personal_data(principal)
    return {
        "count": total,
        "value": [registry.actor_json(row, personal=personal) for row in rows],
    }


async def history(
    engine: AsyncEngine, principal: Principal, entity_type: str, entity_id: int
) -> dict[str, Any]:
    """Every change of an actor or a collaboration; analysts only (it holds people)."""
    require_writer(principal)
    async with read_connection(engine) as connection:
        if entity_type == "actor":
            await registry.actor_row(connection, entity_id)
        else:
            await registry.collaboration_row(connection, entity_id)
        changes = await registry.history_of(connection, entity_type, entity_id)
    return {"entity_type": entity_type, "id": entity_id, "value": changes}


# --- collaborations -----------------------------------------------------------------


async def create_collaboration(
    engine: AsyncEngine, principal: Principal, body: object, path: str
) -> dict[str, Any]:
    require_writer(principal)
    values, participants = registry.collaboration_values(body)
    async with engine.begin() as connection:
        collaboration_id = await registry.insert_collaboration(
            connection, values, participants, principal.name
        )
        await record_write(
            connection, principal, "POST", path, [("HelixCollaboration", collaboration_id)]
        )
    return await read_collaboration(engine, collaboration_id)


async def update_collaboration(
    engine: AsyncEngine, principal: Principal, collaboration_id: int, body: object, path: str
) -> dict[str, Any]:
    require_writer(principal)
    async with engine.begin() as connection:
        await registry.patch_collaboration(connection, collaboration_id, body, principal.name)
        await record_write(
            connection, principal, "PATCH", path, [("HelixCollaboration", collaboration_id)]
        )
    return await read_collaboration(engine, collaboration_id)


async def read_collaboration(engine: AsyncEngine, collaboration_id: int) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        row = await registry.collaboration_row(connection, collaboration_id)
        participants = await registry.participants_of(connection, [collaboration_id])
    return registry.collaboration_json(row, participants[collaboration_id])


async def list_collaborations(
    engine: AsyncEngine,
    *,
    q: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    domain: str | None = None,
    actor_id: int | None = None,
    start_from: date | None = None,
    start_to: date | None = None,
    limit: int | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    limit, offset = page_bounds(limit, offset)
    async with read_connection(engine) as connection:
        total, rows = await registry.search_collaborations(
            connection,
            q=q,
            kind=kind,
            status=status,
            domain=domain,
            actor_id=actor_id,
            start_from=start_from,
            start_to=start_to,
            limit=limit,
            offset=offset,
        )
        participants = await registry.participants_of(connection, [row.id for row in rows])
    return {
        "count": total,
        "value": [registry.collaboration_json(row, participants[row.id]) for row in rows],
    }


# --- synergy ------------------------------------------------------------------------


def _period(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise BadRequest("to: before from", "to")


async def synergy_between(
    engine: AsyncEngine, start: date | None, end: date | None
) -> dict[str, Any]:
    """T_uig, T_ui, T_ug, T_ig over the collaborations starting in [start, end], per year
    and per domain."""
    _period(start, end)
    async with read_connection(engine) as connection:
        collaborations = await synergy.collaborations_between(connection, start, end)
    report = synergy.synergy_report(collaborations)
    report["from"] = start.isoformat() if start else None
    report["to"] = end.isoformat() if end else None
    return report


async def network_between(
    engine: AsyncEngine, start: date | None, end: date | None
) -> dict[str, Any]:
    """Actors and their co-participation in the collaborations starting in [start, end]."""
    _period(start, end)
    async with read_connection(engine) as connection:
        collaborations = await synergy.collaborations_between(connection, start, end)
    return synergy.network(collaborations)


# --- programmes ---------------------------------------------------------------------


async def _write(
    engine: AsyncEngine,
    principal: Principal,
    path: str,
    entity_type: str,
    write: Callable[[AsyncConnection], Awaitable[int]],
) -> int:
    """One programme write in one transaction with its audit row; the written row's id."""
    require_writer(principal)
    async with engine.begin() as connection:
        written = await write(connection)
        await record_write(connection, principal, "POST", path, [(entity_type, written)])
    return written


async def create_programme(
    engine: AsyncEngine, principal: Principal, body: object, path: str
) -> dict[str, Any]:
    programme_id = await _write(
        engine, principal, path, "HelixProgramme",
        lambda c: programmes.create_programme(c, body),
    )  # fmt: skip
    found = [p for p in await list_programmes(engine) if p["id"] == programme_id]
    return found[0]


async def list_programmes(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with read_connection(engine) as connection:
        return await programmes.read_programmes(connection)


async def create_call(
    engine: AsyncEngine, principal: Principal, programme_id: int, body: object, path: str
) -> dict[str, Any]:
    call_id = await _write(
        engine, principal, path, "HelixCall",
        lambda c: programmes.create_call(c, programme_id, body),
    )  # fmt: skip
    return await read_call(engine, call_id)


async def read_call(engine: AsyncEngine, call_id: int) -> dict[str, Any]:
    async with read_connection(engine) as connection:
        return await programmes.read_call(connection, call_id)


async def submit_application(
    engine: AsyncEngine, principal: Principal, call_id: int, body: object, path: str
) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    application_id = await _write(
        engine, principal, path, "HelixApplication",
        lambda c: programmes.submit_application(c, call_id, body, today),
    )  # fmt: skip
    return await read_application(engine, principal, application_id)


async def list_applications(
    engine: AsyncEngine, principal: Principal, call_id: int
) -> list[dict[str, Any]]:
    """A call's applications with their status, score and decision, oldest first; analysts
    only (scores are confidential until the decision)."""
    require_writer(principal)
    async with read_connection(engine) as connection:
        return await programmes.read_applications(connection, call_id)


async def read_application(
    engine: AsyncEngine, principal: Principal, application_id: int
) -> dict[str, Any]:
    """An application with its reviews, decision, tranches and reports; analysts only,
    because reviews and conflicts of interest are confidential."""
    require_writer(principal)
    async with read_connection(engine) as connection:
        return await programmes.read_application(connection, application_id)


#: the steps of an application after submission, by name: each one row written
APPLICATION_STEPS: dict[
    str, tuple[str, Callable[[AsyncConnection, int, object], Awaitable[int]]]
] = {
    "conflicts": ("HelixReview", programmes.declare_conflict),
    "reviews": ("HelixReview", programmes.score_application),
    "tranches": ("HelixTranche", programmes.add_tranche),
    "reports": ("HelixReport", programmes.add_report),
}


async def application_step(
    engine: AsyncEngine,
    principal: Principal,
    application_id: int,
    step: str,
    body: object,
    path: str,
) -> dict[str, Any]:
    """Declare a conflict, score, add a tranche or a report (`APPLICATION_STEPS`)."""
    entity_type, write = APPLICATION_STEPS[step]
    await _write(engine, principal, path, entity_type, lambda c: write(c, application_id, body))
    return await read_application(engine, principal, application_id)


async def decide(
    engine: AsyncEngine, principal: Principal, application_id: int, body: object, path: str
) -> dict[str, Any]:
    async def write(connection: AsyncConnection) -> int:
        await programmes.decide(connection, application_id, body)
        return application_id

    await _write(engine, principal, path, "HelixApplication", write)
    return await read_application(engine, principal, application_id)


async def pay_tranche(
    engine: AsyncEngine, principal: Principal, tranche_id: int, body: object, path: str
) -> dict[str, Any]:
    paid: list[int] = []

    async def write(connection: AsyncConnection) -> int:
        paid.append(await programmes.pay_tranche(connection, tranche_id, body))
        return tranche_id

    await _write(engine, principal, path, "HelixTranche", write)
    return await read_application(engine, principal, paid[0])


async def upcoming_deadlines(engine: AsyncEngine, today: date, days: int) -> dict[str, Any]:
    """What falls due within `days` of `today`: call deadlines, unpaid tranches."""
    if not 0 <= days <= 366:
        raise BadRequest("days: expected 0 to 366", "days")
    async with read_connection(engine) as connection:
        return {"value": await programmes.upcoming_deadlines(connection, today, days)}


# --- scorecard ----------------------------------------------------------------------


async def scorecard(engine: AsyncEngine, settings: Settings, period: str | None) -> dict[str, Any]:
    """Every indicator for the period (a year; the current one by default)."""
    return await card.scorecard(engine, settings, card.parse_period(period, _today()))


async def scorecard_xlsx(engine: AsyncEngine, settings: Settings, period: str | None) -> bytes:
    return card.workbook(await scorecard(engine, settings, period))


async def scorecard_pdf(engine: AsyncEngine, settings: Settings, period: str | None) -> bytes:
    """The printable report of the period, rendered in a thread (it is CPU work)."""
    # imported here: ReportLab is a quarter of a second of every process's start (each
    # `cityhelix` command's too), and only this download needs it
    from cityhelix.helix.scorecard import report

    answer = await scorecard(engine, settings, period)
    return await asyncio.to_thread(report.scorecard_pdf, answer)


async def recompute_scorecard(
    engine: AsyncEngine,
    settings: Settings,
    principal: Principal | None,
    period: str | None,
    path: str = "",
) -> list[dict[str, Any]]:
    """Recompute the computed indicators of the period; `principal` None is the schedule."""
    if principal is not None:
        require_writer(principal)
    chosen = card.parse_period(period, _today())
    who = "schedule" if principal is None else principal.name
    rows = await card.computed_rows(engine, settings, chosen, who)
    async with engine.begin() as connection:
        await card.insert_rows(connection, rows)
        if principal is not None:
            await record_write(connection, principal, "POST", path, [])
    return [{"code": r["code"], "value": r["value"]} for r in rows]


async def enter_indicator_value(
    engine: AsyncEngine, principal: Principal, body: object, path: str
) -> dict[str, Any]:
    """A manual indicator's value for a period, with its source and the source's date."""
    require_writer(principal)
    _, row = card.manual_entry(body, _today())
    async with engine.begin() as connection:
        value_id = await card.insert_manual(connection, row, principal.name)
        await record_write(connection, principal, "POST", path, [("HelixIndicatorValue", value_id)])
    return await card.history(engine, row["code"])


async def indicator_history(engine: AsyncEngine, code: str) -> dict[str, Any]:
    return await card.history(engine, code)


def _today() -> date:
    return datetime.now(UTC).date()


# --- open data ----------------------------------------------------------------------


async def open_data_catalog(engine: AsyncEngine, base_url: str) -> dict[str, Any]:
    """The DCAT-AP catalogue (JSON-LD) of the datasets the platform publishes."""
    return await open_data.catalog(engine, base_url)


async def open_data_download(engine: AsyncEngine, slug: str, file_format: str) -> tuple[bytes, str]:
    """A dataset as CSV, GeoJSON or Parquet: the bytes and their media type."""
    return await open_data.download(engine, slug, file_format)


#: roles that publish a department's dataset (departments publish their own tables)
PUBLISHERS = frozenset({Role.ADMIN, Role.ANALYST, Role.DEPARTMENT})


def _require_publisher(principal: Principal) -> None:
    if principal.role not in PUBLISHERS:
        raise Forbidden(
            f"role {principal.role.value}: datasets are published by departments and analysts"
        )


async def publish_dataset(
    engine: AsyncEngine, principal: Principal, body: object, path: str
) -> dict[str, Any]:
    """A department's table as a dataset; in the catalogue once `public` is true."""
    _require_publisher(principal)
    values = open_data.dataset_values(body, creating=True)
    async with engine.begin() as connection:
        dataset_id = await open_data.create_dataset(connection, values, principal.name)
        await record_write(connection, principal, "POST", path, [("OpenDataset", dataset_id)])
    return _dataset_summary(values)


async def change_dataset(
    engine: AsyncEngine, principal: Principal, slug: str, body: object, path: str
) -> dict[str, Any]:
    """Mark a department's dataset public (or not), or replace its records or metadata."""
    _require_publisher(principal)
    values = open_data.dataset_values(body, creating=False)
    async with engine.begin() as connection:
        dataset_id = await open_data.change_dataset(connection, slug, values)
        await record_write(connection, principal, "PATCH", path, [("OpenDataset", dataset_id)])
    return {"slug": slug, **_dataset_summary(values)}


def _dataset_summary(values: dict[str, Any]) -> dict[str, Any]:
    summary = {k: v for k, v in values.items() if k != "records"}
    if "records" in values:
        summary["records"] = len(values["records"])
    return summary
