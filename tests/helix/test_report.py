"""The scorecard's printable PDF report and a call's list of applications, over HTTP on
both databases: the PDF parsed back holds every indicator's value as the API answers it."""

from __future__ import annotations

from io import BytesIO

import httpx
from pypdf import PdfReader

from cityhelix.helix.scorecard.report import format_value
from tests.conftest import bearer
from tests.helix.factories import actor, collaboration
from tests.helix.test_programmes import _call


async def test_the_scorecard_pdf_shows_every_indicator_with_the_api_value(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(client, analyst, "Eastern International University", "university")
    enterprise = await actor(client, analyst, "Becamex IDC", "enterprise")
    await collaboration(
        client, analyst, [university, enterprise], "2026-02-01", outputs={"patents": 7}
    )
    entered = await client.post(
        "/api/helix/scorecard/values",
        json={
            "code": "ICF-BROADBAND-HOUSEHOLDS",
            "period": "2026",
            "value": 87.5,
            "source": "DIC yearly report",
            "source_date": "2026-06-30",
        },
        headers=analyst,
    )
    assert entered.status_code == 201, entered.text
    recomputed = await client.post(
        "/api/helix/scorecard/recompute", params={"period": "2026"}, headers=analyst
    )
    assert recomputed.status_code == 200, recomputed.text
    card = (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()

    answer = await client.get("/api/helix/scorecard.pdf", params={"period": "2026"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert 'filename="scorecard-2026.pdf"' in answer.headers["content-disposition"]
    reader = PdfReader(BytesIO(answer.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Smart-city scorecard 2026" in text
    for indicator in card["indicators"]:
        assert indicator["code"] in text
    flat = text.replace("\n", " ")
    by_code = {i["code"]: i for i in card["indicators"]}
    assert by_code["HELIX-PATENTS"]["value"] == 7
    assert by_code["ICF-BROADBAND-HOUSEHOLDS"]["value"] == 87.5
    for code in ("HELIX-PATENTS", "ICF-BROADBAND-HOUSEHOLDS", "HELIX-UI-COLLABORATIONS"):
        row = flat[flat.index(code) :]
        assert format_value(by_code[code]["value"]) in row[:400], (code, row[:400])
    assert "Source: DIC yearly report" in flat  # the manual value's provenance
    assert "Value as % of target" in flat  # the chart

    bad = await client.get("/api/helix/scorecard.pdf", params={"period": "26"})
    assert bad.status_code == 400 and "period" in bad.json()["detail"]


async def test_a_call_lists_its_applications_with_score_and_decision_for_analysts_only(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    _, call_id = await _call(client, analyst)
    applicant = await actor(client, analyst, "Thu Dau Mot University", "university")
    made = []
    for title in ("Adaptive signals", "Flood sensing"):
        applied = await client.post(
            f"/api/helix/calls/{call_id}/applications",
            json={"applicant_actor_id": applicant, "title": title, "requested": 5e8},
            headers=analyst,
        )
        assert applied.status_code == 201, applied.text
        made.append(applied.json()["id"])
    scored = await client.post(
        f"/api/helix/applications/{made[0]}/reviews",
        json={"reviewer": "Dr. Minh", "scores": {"merit": 10, "impact": 0}},
        headers=analyst,
    )
    assert scored.status_code == 201, scored.text
    await client.post(
        f"/api/helix/applications/{made[0]}/conflicts",
        json={"reviewer": "Dr. Lan", "note": "co-author"},
        headers=analyst,
    )
    listed = await client.get(f"/api/helix/calls/{call_id}/applications", headers=analyst)
    assert listed.status_code == 200, listed.text
    rows = listed.json()["value"]
    assert [r["id"] for r in rows] == made
    first = rows[0]
    assert first["applicant"] == "Thu Dau Mot University"
    # merit 10/10 weighs 2, impact 0/5 weighs 1: the conflict's row does not count
    assert (first["status"], first["reviews"], round(first["score"], 4)) == (
        "under_review",
        1,
        round(200 / 3, 4),
    )
    assert rows[1]["score"] is None and rows[1]["status"] == "submitted"
    assert (await client.get(f"/api/helix/calls/{call_id}/applications")).status_code == 401
    operator = await client.get(
        f"/api/helix/calls/{call_id}/applications", headers=bearer(tokens["operator"])
    )
    assert operator.status_code == 403
    missing = await client.get("/api/helix/calls/999999/applications", headers=analyst)
    assert missing.status_code == 404 and "call" in missing.json()["detail"]
