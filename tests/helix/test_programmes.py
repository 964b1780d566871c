"""A programme call over HTTP from application through review (with a declared conflict
of interest) and decision to funding tranches and reports; the order of a call enforced;
deadlines listed."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import bearer
from tests.helix.factories import actor


async def _call(client: httpx.AsyncClient, analyst: dict[str, str]) -> tuple[int, int]:
    department = await actor(client, analyst, "Department of Science and Technology", "state")
    programme = await client.post(
        "/api/helix/programmes",
        json={
            "name": "Provincial S&T projects 2026",
            "kind": "st_research",
            "owner_actor_id": department,
        },
        headers=analyst,
    )
    assert programme.status_code == 201, programme.text
    call = await client.post(
        f"/api/helix/programmes/{programme.json()['id']}/calls",
        json={
            "title": "Smart mobility 2026",
            "opens": "2026-01-01",
            "deadline": "2099-12-31",
            "budget": 5e9,
            "criteria": [
                {"code": "merit", "name": "Scientific merit", "max": 10, "weight": 2},
                {"code": "impact", "name": "Impact on the province", "max": 5, "weight": 1},
            ],
        },
        headers=analyst,
    )
    assert call.status_code == 201, call.text
    return programme.json()["id"], call.json()["id"]


async def test_a_call_goes_from_application_through_review_and_decision_to_funding_and_report(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    _, call_id = await _call(client, analyst)
    university = await actor(client, analyst, "Thu Dau Mot University", "university")
    applied = await client.post(
        f"/api/helix/calls/{call_id}/applications",
        json={"applicant_actor_id": university, "title": "Adaptive signals", "requested": 8e8},
        headers=analyst,
    )
    assert applied.status_code == 201, applied.text
    application = applied.json()["id"]
    assert applied.json()["status"] == "submitted"
    base = f"/api/helix/applications/{application}"

    # a reviewer declares a conflict of interest: that reviewer cannot score
    conflict = await client.post(
        f"{base}/conflicts", json={"reviewer": "Dr. Lan", "note": "co-author"}, headers=analyst
    )
    assert conflict.status_code == 201, conflict.text
    refused = await client.post(
        f"{base}/reviews", json={"reviewer": "Dr. Lan", "scores": {"merit": 9, "impact": 5}},
        headers=analyst,
    )  # fmt: skip
    assert refused.status_code == 409 and "conflict of interest" in refused.json()["detail"]

    # too early to decide: no review yet
    early = await client.post(
        f"{base}/decision", json={"decision": "accepted", "awarded": 5e8}, headers=analyst
    )
    assert early.status_code == 422 and "review" in early.json()["detail"]

    for reviewer, merit, impact in (("Dr. Minh", 8, 4), ("Prof. Hoa", 6, 5)):
        scored = await client.post(
            f"{base}/reviews",
            json={"reviewer": reviewer, "scores": {"merit": merit, "impact": impact}},
            headers=analyst,
        )
        assert scored.status_code == 201, scored.text
    reviewed = scored.json()
    # by hand: (2*8/10 + 1*4/5)/3*100 = 80; (2*6/10 + 1*5/5)/3*100 = 73.33..; mean 76.666..
    assert [r["score"] for r in reviewed["reviews"]] == [None, 80.0, pytest.approx(73.333333)]
    assert reviewed["score"] == pytest.approx(76.666667)
    assert reviewed["status"] == "under_review"

    over = await client.post(
        f"{base}/decision", json={"decision": "accepted", "awarded": 9e8}, headers=analyst
    )
    assert over.status_code == 422 and "awarded" in over.json()["detail"]
    decided = await client.post(
        f"{base}/decision",
        json={"decision": "accepted", "awarded": 6e8, "note": "fund the pilot"},
        headers=analyst,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "accepted" and decided.json()["awarded"] == 6e8
    again = await client.post(f"{base}/decision", json={"decision": "rejected"}, headers=analyst)
    assert again.status_code == 409

    early_report = await client.post(
        f"{base}/reports", json={"kind": "progress", "summary": "begun"}, headers=analyst
    )
    assert early_report.status_code == 422

    first = await client.post(
        f"{base}/tranches", json={"amount": 4e8, "due_date": "2026-03-01"}, headers=analyst
    )
    assert first.status_code == 201, first.text
    beyond = await client.post(
        f"{base}/tranches", json={"amount": 3e8, "due_date": "2026-09-01"}, headers=analyst
    )
    assert beyond.status_code == 422 and "amount" in beyond.json()["detail"]
    await client.post(
        f"{base}/tranches", json={"amount": 2e8, "due_date": "2026-09-01"}, headers=analyst
    )

    due = await client.get("/api/helix/deadlines", params={"today": "2026-02-15", "days": 30})
    assert [(d["kind"], d["date"]) for d in due.json()["value"]] == [("tranche_due", "2026-03-01")]

    tranche = first.json()["tranches"][0]["id"]
    paid = await client.post(
        f"/api/helix/tranches/{tranche}/paid", json={"paid_on": "2026-03-02"}, headers=analyst
    )
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "funded" and paid.json()["paid"] == 4e8

    report = await client.post(
        f"{base}/reports",
        json={
            "kind": "final",
            "summary": "signals adapt",
            "outputs": {"publications": 2, "patents": 1},
        },
        headers=analyst,
    )
    assert report.status_code == 201, report.text
    final = report.json()
    assert final["status"] == "reported"
    assert final["reports"][0]["outputs"]["patents"] == 1

    call = (await client.get(f"/api/helix/calls/{call_id}")).json()
    assert call["applications"] == {"reported": 1}
    assert (await client.get(base)).status_code == 401  # reviews are confidential


async def test_applications_outside_the_call_or_with_bad_fields_are_refused(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    programme_id, call_id = await _call(client, analyst)
    company = await actor(client, analyst, "Becamex IDC", "enterprise")
    url = f"/api/helix/calls/{call_id}/applications"
    body = {"applicant_actor_id": company, "title": "X", "requested": 1e6}
    cases = [
        ({**body, "submitted_on": "2025-12-31"}, "submitted_on"),
        ({**body, "applicant_actor_id": 999}, "applicant_actor_id"),
        ({**body, "requested": -5}, "requested"),
        ({k: v for k, v in body.items() if k != "title"}, "title"),
    ]
    for wrong, field in cases:
        answer = await client.post(url, json=wrong, headers=analyst)
        assert answer.status_code in (400, 422), wrong
        assert field in answer.json()["detail"]
    assert (await client.get(f"/api/helix/calls/{call_id}")).json()["applications"] == {}

    bad_call = await client.post(
        f"/api/helix/programmes/{programme_id}/calls",
        json={
            "title": "x",
            "opens": "2026-05-01",
            "deadline": "2026-04-01",
            "criteria": [{"code": "a", "max": 5}],
        },
        headers=analyst,
    )
    assert bad_call.status_code == 422 and "deadline" in bad_call.json()["detail"]
    made = await client.post(url, json=body, headers=analyst)
    scores = await client.post(
        f"/api/helix/applications/{made.json()['id']}/reviews",
        json={"reviewer": "R", "scores": {"merit": 11, "impact": 1}},
        headers=analyst,
    )
    assert scores.status_code == 422 and "scores.merit" in scores.json()["detail"]
    unknown = await client.post(
        f"/api/helix/applications/{made.json()['id']}/votes", json={}, headers=analyst
    )
    assert unknown.status_code == 404
    assert (
        await client.post(url, json=body, headers=bearer(tokens["operator"]))
    ).status_code == 403
