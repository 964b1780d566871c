"""Actors and collaborations over HTTP: creation exactly as issue 16's bodies, reads,
search, updates with history, validation that names the field and writes nothing, roles."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from tests.conftest import bearer
from tests.helix.factories import actor, collaboration


async def test_an_actor_posted_as_the_issue_says_is_read_back_with_its_enterprise_fields(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    answer = await client.post(
        "/api/helix/actors",
        json={
            "name": "Becamex IDC",
            "kind": "enterprise",
            "size": "large",
            "sector": "industrial parks",
            "ownership": "domestic",
            "invest_ref": "project:17",
            "location": {"address": "230 Binh Duong Ave", "latitude": 10.98, "longitude": 106.65},
            "links": ["https://becamex.com.vn"],
            "people": [{"name": "A. Director", "role": "CEO", "email": "ceo@example.org"}],
        },
        headers=analyst,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["kind"] == "enterprise" and created["invest_ref"] == "project:17"
    assert created["invest_link"] == "/api/invest/projects/17"
    assert created["people"] == [{"name": "A. Director", "role": "CEO", "email": "ceo@example.org"}]

    public = (await client.get(f"/api/helix/actors/{created['id']}")).json()
    assert public["name"] == "Becamex IDC" and public["sector"] == "industrial parks"
    assert "people" not in public  # personal data: analysts and admins only


async def test_actors_are_searched_by_text_and_kind(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    await actor(client, analyst, "Thu Dau Mot University", "university")
    await actor(client, analyst, "Eastern International University", "university")
    await actor(client, analyst, "Binh Duong Innovation Center", "intermediary")

    universities = (await client.get("/api/helix/actors", params={"kind": "university"})).json()
    assert universities["count"] == 2
    found = (await client.get("/api/helix/actors", params={"q": "eastern"})).json()
    assert [a["name"] for a in found["value"]] == ["Eastern International University"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "state"}, "name"),
        ({"name": "X", "kind": "church"}, "kind"),
        ({"name": "X", "kind": "university", "size": "large"}, "size"),
        ({"name": "X", "kind": "enterprise", "ownership": "foreign"}, "ownership"),
        ({"name": "X", "kind": "enterprise", "invest_ref": "17"}, "invest_ref"),
        ({"name": "X", "kind": "state", "links": ["ftp://x"]}, "links[0]"),
        ({"name": "X", "kind": "state", "location": {"latitude": 95, "longitude": 1}}, "latitude"),
        ({"name": "X", "kind": "state", "people": [{"role": "head"}]}, "people[0].name"),
        ({"name": "X", "kind": "state", "colour": "red"}, "colour"),
        ({"name": "x" * 301, "kind": "state"}, "name"),
    ],
)
async def test_a_bad_actor_is_refused_naming_its_field_and_nothing_is_written(
    client: httpx.AsyncClient, tokens: dict[str, str], engine: AsyncEngine, body: dict, field: str
) -> None:
    answer = await client.post("/api/helix/actors", json=body, headers=bearer(tokens["analyst"]))
    assert answer.status_code in (400, 422)
    assert field in answer.json()["detail"]
    assert (await client.get("/api/helix/actors")).json()["count"] == 0
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(audit_log))).scalar() == 0


async def test_only_analysts_and_admins_write_and_writes_are_audited(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str], engine: AsyncEngine
) -> None:
    body = {"name": "Province DOST", "kind": "state"}
    assert (await client.post("/api/helix/actors", json=body)).status_code == 401
    for role in ("operator", "department", "tenant", "public"):
        answer = await client.post("/api/helix/actors", json=body, headers=bearer(tokens[role]))
        assert answer.status_code == 403, role
        assert "analyst" in answer.json()["detail"]
    assert (await client.post("/api/helix/actors", json=body, headers=admin)).status_code == 201
    async with engine.connect() as connection:
        rows = (await connection.execute(select(audit_log))).all()
    assert [(r.entity_type, r.method, r.path) for r in rows] == [
        ("HelixActor", "POST", "/api/helix/actors")
    ]


async def test_a_collaboration_posted_as_the_issue_says_lists_its_participants_and_outputs(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(client, analyst, "Vietnam-Germany University", "university")
    company = await actor(client, analyst, "Becamex IDC", "enterprise")
    department = await actor(client, analyst, "Department of Science and Technology", "state")
    answer = await client.post(
        "/api/helix/collaborations",
        json={
            "title": "Smart traffic lab",
            "kind": "lab",
            "start_date": "2026-02-01",
            "end_date": "2027-01-31",
            "domain": "technology",
            "budget": 2_500_000_000,
            "currency": "VND",
            "funding": [{"source": "provincial S&T fund", "amount": 1_500_000_000}],
            "outputs": {"publications": 3, "patents": 1, "startups_formed": 1},
            "participants": [
                {"actor_id": university, "role": "lead"},
                {"actor_id": company, "role": "partner"},
                {"actor_id": department, "role": "funder"},
            ],
        },
        headers=analyst,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert [(p["actor_id"], p["role"], p["kind"]) for p in created["participants"]] == [
        (university, "lead", "university"),
        (company, "partner", "enterprise"),
        (department, "funder", "state"),
    ]
    assert created["outputs"]["patents"] == 1 and created["outputs"]["trained_people"] == 0
    assert created["status"] == "active"

    by_actor = await client.get("/api/helix/collaborations", params={"actor_id": company})
    assert [c["id"] for c in by_actor.json()["value"]] == [created["id"]]
    none_yet = await client.get("/api/helix/collaborations", params={"from": "2026-03-01"})
    assert none_yet.json()["count"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"participants": []}, "participants"),
        ({"participants": [{"actor_id": 999, "role": "lead"}]}, "participants[0].actor_id"),
        ({"participants": [{"actor_id": 1, "role": "boss"}]}, "participants[0].role"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"end_date": "2025-01-01"}, "end_date"),
        ({"kind": "party"}, "kind"),
        ({"outputs": {"patents": -1}}, "outputs.patents"),
        ({"funding": [{"source": "fund"}]}, "funding[0].amount"),
        ({"budget": "lots"}, "budget"),
        ({"currency": "dong"}, "currency"),
    ],
)
async def test_a_bad_collaboration_is_refused_naming_its_field_and_nothing_is_written(
    client: httpx.AsyncClient, tokens: dict[str, str], change: dict, field: str
) -> None:
    analyst = bearer(tokens["analyst"])
    first = await actor(client, analyst, "Thu Dau Mot University", "university")
    body = {
        "title": "A project",
        "kind": "joint_project",
        "start_date": "2026-03-01",
        "participants": [{"actor_id": first, "role": "lead"}],
        **change,
    }
    answer = await client.post("/api/helix/collaborations", json=body, headers=analyst)
    assert answer.status_code in (400, 422), answer.text
    assert field in answer.json()["detail"]
    assert (await client.get("/api/helix/collaborations")).json()["count"] == 0


async def test_a_patch_changes_only_its_fields_keeps_history_and_a_bad_patch_changes_nothing(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(client, analyst, "Thu Dau Mot University", "university")
    company = await actor(client, analyst, "Block71 Saigon", "intermediary")
    made = await collaboration(client, analyst, [university], title="Start-up school")

    patched = await client.patch(
        f"/api/helix/collaborations/{made}",
        json={
            "status": "completed",
            "participants": [
                {"actor_id": university, "role": "lead"},
                {"actor_id": company, "role": "partner"},
            ],
        },
        headers=analyst,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "Start-up school"
    assert patched.json()["status"] == "completed"
    assert len(patched.json()["participants"]) == 2

    refused = await client.patch(
        f"/api/helix/collaborations/{made}", json={"status": "sleeping"}, headers=analyst
    )
    assert refused.status_code == 422 and "status" in refused.json()["detail"]
    assert (await client.get(f"/api/helix/collaborations/{made}")).json()["status"] == "completed"

    history = await client.get(f"/api/helix/collaborations/{made}/history", headers=analyst)
    changes = [entry["changes"] for entry in history.json()["value"]]
    assert len(changes) == 2
    assert changes[1]["status"] == {"before": "active", "after": "completed"}
    assert "title" not in changes[1]
    assert (await client.get(f"/api/helix/collaborations/{made}/history")).status_code == 401

    renamed = await client.patch(
        f"/api/helix/actors/{company}", json={"name": "Block71 Saigon (NUS)"}, headers=analyst
    )
    assert renamed.json()["name"] == "Block71 Saigon (NUS)"
    actor_history = await client.get(f"/api/helix/actors/{company}/history", headers=analyst)
    assert actor_history.json()["value"][-1]["changes"]["name"] == {
        "before": "Block71 Saigon",
        "after": "Block71 Saigon (NUS)",
    }


async def test_unknown_ids_and_bad_json_answer_detail_not_500(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    missing = await client.get("/api/helix/actors/42")
    assert missing.status_code == 404 and "actor 42" in missing.json()["detail"]
    assert (await client.get("/api/helix/collaborations/42")).status_code == 404
    broken = await client.post(
        "/api/helix/actors",
        content=b"{not json",
        headers={**analyst, "content-type": "application/json"},
    )
    assert broken.status_code == 400 and "body" in broken.json()["detail"]
    listed = await client.post("/api/helix/actors", json=[1, 2], headers=analyst)
    assert listed.status_code == 400
    assert (await client.get("/api/helix/actors", params={"limit": "x"})).status_code == 400
