"""The helix demo: the actors named in the reference facts plus synthetic collaborations,
programmes, applications and start-ups (every generated record says `synthetic`), so that
the synergy, the network and every computable indicator show believable values.

Deterministic (a seeded generator), written through the service like any analyst's
writes, and skipped when the registry already holds actors.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.helix import service
from cityhelix.helix.registry import DOMAINS
from cityhelix.helix.tables import helix_actors

DEMO_FILE = Path(__file__).with_name("demo.json")
DEMO_WRITER = Principal("helix-demo", Role.ADMIN)
SEED = 16
COLLABORATIONS_PER_YEAR = 14
YEARS = (2022, 2023, 2024, 2025, 2026)


@dataclass(frozen=True)
class DemoSummary:
    loaded: bool
    actors: int
    collaborations: int
    applications: int


async def load_demo(engine: AsyncEngine, today: date | None = None) -> DemoSummary:
    """Load the helix demo unless the registry already holds actors."""
    async with engine.connect() as connection:
        existing = (
            await connection.execute(select(func.count()).select_from(helix_actors))
        ).scalar_one()
    if existing:
        return DemoSummary(False, int(existing), 0, 0)
    today = today or date.today()
    raw = json.loads(DEMO_FILE.read_text())
    rng = random.Random(SEED)
    path = "cityhelix helix load-demo"
    actors: list[dict[str, Any]] = []
    for body in raw["actors"]:
        actors.append(await service.create_actor(engine, DEMO_WRITER, body, path))
    by_kind = {
        kind: [a["id"] for a in actors if a["kind"] == kind]
        for kind in ("state", "enterprise", "university", "intermediary")
    }
    collaborations = 0
    for event in raw["events"]:
        participants = [*rng.sample(by_kind["state"], 1), *rng.sample(by_kind["enterprise"], 3)]
        participants += rng.sample(by_kind["intermediary"], 1)
        await service.create_collaboration(
            engine,
            DEMO_WRITER,
            {
                **event,
                "kind": "event",
                "status": "completed",
                "synthetic": True,
                "participants": _roles(participants),
            },
            path,
        )
        collaborations += 1
    for year in YEARS:
        for number in range(COLLABORATIONS_PER_YEAR):
            start = date(year, 1, 1) + timedelta(days=rng.randrange(0, 360))
            if start > today:
                continue
            await service.create_collaboration(
                engine,
                DEMO_WRITER,
                _collaboration(rng, raw["topics"], by_kind, start, number),
                path,
            )
            collaborations += 1
    applications = await _programmes(engine, rng, raw, by_kind, today, path)
    await _manual_indicators(engine, raw["manual_indicators"], today, path)
    return DemoSummary(True, len(actors), collaborations, applications)


async def _manual_indicators(
    engine: AsyncEngine, entries: list[dict[str, Any]], today: date, path: str
) -> None:
    """The manual indicators' values of last year and this year, sourced as synthetic, so
    that the scorecard shows a value and a trend for them too."""
    for entry in entries:
        for year, value in zip((today.year - 1, today.year), entry["values"], strict=True):
            await service.enter_indicator_value(
                engine,
                DEMO_WRITER,
                {
                    "code": entry["code"],
                    "period": str(year),
                    "value": value,
                    "source": entry["source"],
                    "source_date": min(today, date(year, 6, 30)).isoformat(),
                },
                path,
            )


def _roles(participants: list[int]) -> list[dict[str, Any]]:
    return [
        {"actor_id": actor_id, "role": "lead" if n == 0 else "partner"}
        for n, actor_id in enumerate(participants)
    ]


def _collaboration(
    rng: random.Random,
    topics: list[str],
    by_kind: dict[str, list[int]],
    start: date,
    number: int,
) -> dict[str, Any]:
    """A synthetic collaboration: each helix takes part with its own likelihood, so the
    co-occurrence table is neither empty nor uniform."""
    participants: list[int] = []
    for kind, chance in (("university", 0.7), ("enterprise", 0.75), ("state", 0.5)):
        if rng.random() < chance:
            participants += rng.sample(by_kind[kind], rng.choice((1, 1, 2)))
    if not participants or rng.random() < 0.3:
        participants += rng.sample(by_kind["intermediary"], 1)
    topic = rng.choice(topics)
    kind = rng.choice(("joint_project", "research_project", "research_project", "lab", "agreement"))
    funding_share = rng.choice((0.3, 0.5, 0.7))
    budget = float(rng.randrange(300, 5000) * 1_000_000)
    state_funder = [p for p in participants if p in by_kind["state"]]
    return {
        "title": f"{topic.capitalize()} ({start.year}-{number + 1}, synthetic)",
        "kind": kind,
        "domain": rng.choice(DOMAINS),
        "status": "completed" if start.year < 2025 else "active",
        "start_date": start.isoformat(),
        "end_date": (start + timedelta(days=rng.randrange(180, 900))).isoformat(),
        "budget": budget,
        "currency": "VND",
        "funding": [
            {"source": "provincial S&T fund", "amount": round(budget * funding_share)},
            {"source": "partners' own funds", "amount": round(budget * (1 - funding_share))},
        ],
        "outputs": {
            "publications": rng.choice((0, 0, 1, 2, 3)),
            "patents": rng.choice((0, 0, 0, 1)),
            "products": rng.choice((0, 1)),
            "trained_people": rng.randrange(0, 40),
            "startups_formed": rng.choice((0, 0, 0, 1)),
            "technology_transfers": rng.choice((0, 0, 1)),
        },
        "synthetic": True,
        "participants": [
            {
                "actor_id": actor_id,
                "role": "lead" if n == 0 else "funder" if actor_id in state_funder else "partner",
            }
            for n, actor_id in enumerate(participants)
        ],
    }


async def _programmes(
    engine: AsyncEngine,
    rng: random.Random,
    raw: dict[str, Any],
    by_kind: dict[str, list[int]],
    today: date,
    path: str,
) -> int:
    """Each programme gets one call this year with applications through review, decision,
    a paid tranche and, for some, a final report."""
    applications = 0
    year = today.year
    for entry in raw["programmes"]:
        programme = await service.create_programme(
            engine,
            DEMO_WRITER,
            {**entry, "owner_actor_id": by_kind["state"][0], "synthetic": True},
            path,
        )
        call = await service.create_call(
            engine,
            DEMO_WRITER,
            programme["id"],
            {
                "title": f"Call {year} (synthetic)",
                "opens": date(year, 1, 1).isoformat(),
                "deadline": date(year, 3, 31).isoformat(),
                "budget": 20e9,
                "criteria": [
                    {"code": "merit", "name": "Merit and novelty", "max": 10, "weight": 2},
                    {"code": "impact", "name": "Impact on the province", "max": 10, "weight": 2},
                    {"code": "team", "name": "Team and partners", "max": 5, "weight": 1},
                ],
            },
            path,
        )
        applicants = by_kind["enterprise"] + by_kind["university"]
        for number, applicant in enumerate(rng.sample(applicants, 6)):
            submitted = min(today, date(year, 3, 1) + timedelta(days=number))
            application = await service.submit_application(
                engine,
                DEMO_WRITER,
                call["id"],
                {
                    "applicant_actor_id": applicant,
                    "title": f"{rng.choice(raw['topics']).capitalize()} (synthetic)",
                    "requested": float(rng.randrange(5, 30) * 100_000_000),
                    "submitted_on": submitted.isoformat(),
                },
                path,
            )
            applications += 1
            await _review_and_decide(engine, rng, application, path)
    return applications


async def _review_and_decide(
    engine: AsyncEngine, rng: random.Random, application: dict[str, Any], path: str
) -> None:
    application_id = application["id"]
    reviewers = ("Reviewer A (synthetic)", "Reviewer B (synthetic)", "Reviewer C (synthetic)")
    conflicted = rng.choice(reviewers)
    await service.application_step(
        engine, DEMO_WRITER, application_id, "conflicts",
        {"reviewer": conflicted, "note": "former colleague of the applicant (synthetic)"}, path,
    )  # fmt: skip
    for reviewer in reviewers:
        if reviewer == conflicted:
            continue
        scores = {"merit": rng.randrange(4, 11), "impact": rng.randrange(4, 11)}
        scores["team"] = rng.randrange(2, 6)
        await service.application_step(
            engine, DEMO_WRITER, application_id, "reviews",
            {"reviewer": reviewer, "scores": scores}, path,
        )  # fmt: skip
    accepted = rng.random() < 0.5
    decided = await service.decide(
        engine,
        DEMO_WRITER,
        application_id,
        {"decision": "accepted", "awarded": application["requested"] * 0.8}
        if accepted
        else {"decision": "rejected"},
        path,
    )
    if not accepted:
        return
    awarded = decided["awarded"]
    await service.application_step(
        engine, DEMO_WRITER, application_id, "tranches",
        {"amount": awarded / 2, "due_date": "2026-05-01", "paid_on": "2026-05-03"}, path,
    )  # fmt: skip
    await service.application_step(
        engine, DEMO_WRITER, application_id, "tranches",
        {"amount": awarded / 2, "due_date": "2027-05-01"}, path,
    )  # fmt: skip
    if rng.random() < 0.5:
        outputs = {"publications": rng.choice((0, 1)), "startups_formed": rng.choice((0, 1))}
        await service.application_step(
            engine, DEMO_WRITER, application_id, "reports",
            {
                "kind": "progress",
                "summary": "First year's work as planned (synthetic).",
                "outputs": outputs,
            },
            path,
        )  # fmt: skip
