"""The investor pipeline through HTTP: stage moves, deadlines, the overdue view, activities."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import bearer


async def make_lead(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "organisation": "Example Chips Ltd",
        "country": "KR",
        "contact": {"name": "Ms Kim", "email": "kim@example.com"},
        "needs": {"land_ha": 8, "power_mw": 20, "sector_vsic": "26100", "ready_by": "2027-06-30"},
        **fields,
    }
    response = await client.post("/api/invest/leads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    lead: dict[str, Any] = response.json()
    return lead


async def overdue_at(
    client: httpx.AsyncClient, headers: dict[str, str], at: datetime
) -> dict[str, Any]:
    response = await client.get(
        "/api/invest/leads/overdue", params={"at": at.isoformat()}, headers=headers
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_lead_is_overdue_once_its_stage_deadline_passes(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    lead = await make_lead(client, analyst)
    assert (lead["stage"], lead["overdue"]) == ("lead", False)
    deadline = datetime.fromisoformat(lead["stage_deadline"])
    entered = datetime.fromisoformat(lead["stage_entered_at"])
    assert deadline - entered == timedelta(days=7)

    assert (await overdue_at(client, analyst, deadline - timedelta(seconds=1)))["leads"] == []
    late = await overdue_at(client, analyst, deadline + timedelta(seconds=1))
    assert [(x["id"], x["overdue"]) for x in late["leads"]] == [(lead["id"], True)]

    # moving on restarts the clock with the next stage's deadline (site visit: 30 days)
    moved = await client.post(
        f"/api/invest/leads/{lead['id']}/stage", json={"stage": "site_visit"}, headers=analyst
    )
    assert moved.status_code == 200, moved.text
    moved_lead = moved.json()
    new_deadline = datetime.fromisoformat(moved_lead["stage_deadline"])
    assert new_deadline - datetime.fromisoformat(moved_lead["stage_entered_at"]) == timedelta(
        days=30
    )
    assert (await overdue_at(client, analyst, deadline + timedelta(seconds=1)))["leads"] == []
    assert [m["to_stage"] for m in moved_lead["moves"]] == ["lead", "site_visit"]
    assert moved_lead["moves"][1]["from_stage"] == "lead"


async def test_a_deadline_can_be_set_with_the_move(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    lead = await make_lead(client, admin)
    soon = datetime.now(UTC) + timedelta(days=2)
    moved = await client.post(
        f"/api/invest/leads/{lead['id']}/stage",
        json={"stage": "proposal", "deadline": soon.isoformat()},
        headers=admin,
    )
    assert datetime.fromisoformat(moved.json()["stage_deadline"]) == soon
    late = await overdue_at(client, admin, soon + timedelta(minutes=1))
    assert [x["id"] for x in late["leads"]] == [lead["id"]]


async def test_leads_move_forward_only_and_lost_needs_a_reason_and_is_final(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    lead = await make_lead(client, admin)
    url = f"/api/invest/leads/{lead['id']}/stage"
    await client.post(url, json={"stage": "proposal"}, headers=admin)
    back = await client.post(url, json={"stage": "site_visit"}, headers=admin)
    assert (back.status_code, back.json()["field"]) == (409, "stage")
    no_reason = await client.post(url, json={"stage": "lost"}, headers=admin)
    assert (no_reason.status_code, no_reason.json()["field"]) == (400, "reason")
    lost = await client.post(
        url, json={"stage": "lost", "reason": "chose a site in Bac Ninh"}, headers=admin
    )
    assert (lost.json()["stage"], lost.json()["lost_reason"]) == (
        "lost",
        "chose a site in Bac Ninh",
    )
    assert lost.json()["stage_deadline"] is None
    again = await client.post(url, json={"stage": "application"}, headers=admin)
    assert again.status_code == 409
    unknown = await client.post(url, json={"stage": "signed"}, headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["loc"] == ["body", "stage"]
    lead_now = (await client.get(f"/api/invest/leads/{lead['id']}", headers=admin)).json()
    assert [m["to_stage"] for m in lead_now["moves"]] == ["lead", "proposal", "lost"]


async def test_activities_past_their_next_action_day_are_overdue(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    lead = await make_lead(client, admin)
    url = f"/api/invest/leads/{lead['id']}/activities"
    call = await client.post(
        url,
        json={
            "kind": "call",
            "owner": "Minh",
            "note": "send brochure",
            "next_action_on": "2027-01-10",
        },
        headers=admin,
    )
    assert call.status_code == 201, call.text
    await client.post(
        url,
        json={"kind": "email", "owner": "Minh", "next_action_on": "2027-01-05", "done": True},
        headers=admin,
    )
    before = await overdue_at(client, admin, datetime(2027, 1, 10, 12, tzinfo=UTC))
    assert before["activities"] == []
    after = await overdue_at(client, admin, datetime(2027, 1, 11, 0, 1, tzinfo=UTC))
    assert [a["id"] for a in after["activities"]] == [call.json()["id"]]
    timeline = (await client.get(f"/api/invest/leads/{lead['id']}", headers=admin)).json()
    assert [a["kind"] for a in timeline["activities"]] == ["call", "email"]


async def test_the_pipeline_is_private_and_a_bad_lead_names_its_field(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str]
) -> None:
    await make_lead(client, admin)
    assert (await client.get("/api/invest/leads")).status_code == 401
    assert (
        await client.get("/api/invest/leads", headers=bearer(tokens["operator"]))
    ).status_code == 403
    bad = await client.post(
        "/api/invest/leads",
        json={"organisation": "X", "needs": {"land_ha": -1}},
        headers=admin,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "needs", "land_ha"]
    naive = await client.get(
        "/api/invest/leads/overdue", params={"at": "2027-01-01T00:00:00"}, headers=admin
    )
    assert (naive.status_code, naive.json()["field"]) == (400, "at")
    assert len((await client.get("/api/invest/leads", headers=admin)).json()) == 1
