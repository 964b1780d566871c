"""The Triple Helix pages over HTTP on both databases: the programme office's forms take an
application from review to a paid tranche (refusals name the field and write nothing), the
pages and exports answer staff only, bad parameters are 400s naming them, and the public
open-data page and its downloads need no session."""

from __future__ import annotations

import re
from io import BytesIO

import httpx
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from tests.conftest import bearer
from tests.helix.factories import actor, collaboration
from tests.web.test_signin import _csrf, _sign_in

PASSWORD = "correct horse battery"


async def _session(client: httpx.AsyncClient, engine: AsyncEngine, name: str, role: Role) -> str:
    """Sign `name` in on `client` (its cookies) and return a CSRF token for its forms."""
    await create_user(engine, name, role)
    await set_password(engine, name, PASSWORD)
    signed = await _sign_in(client, name, PASSWORD, next_page="/helix/programmes")
    assert signed.status_code == 303, signed.text
    return _csrf(await client.get("/helix/programmes"))


async def _application(client: httpx.AsyncClient, analyst: dict[str, str]) -> tuple[int, int]:
    applicant = await actor(client, analyst, "Thu Dau Mot University", "university")
    programme = await client.post(
        "/api/helix/programmes",
        json={"name": "S&T projects", "kind": "st_research"},
        headers=analyst,
    )
    call = await client.post(
        f"/api/helix/programmes/{programme.json()['id']}/calls",
        json={
            "title": "Smart mobility",
            "opens": "2020-01-01",
            "deadline": "2099-12-31",
            "criteria": [
                {"code": "merit", "name": "Merit", "max": 10, "weight": 2},
                {"code": "impact", "name": "Impact", "max": 5, "weight": 1},
            ],
        },
        headers=analyst,
    )
    assert call.status_code == 201, call.text
    applied = await client.post(
        f"/api/helix/calls/{call.json()['id']}/applications",
        json={"applicant_actor_id": applicant, "title": "Adaptive signals", "requested": 8e8},
        headers=analyst,
    )
    assert applied.status_code == 201, applied.text
    return call.json()["id"], applied.json()["id"]


async def test_the_programme_office_forms_take_an_application_to_a_paid_tranche(
    client: httpx.AsyncClient, engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    call, application = await _application(client, analyst)
    csrf = await _session(client, engine, "dr-minh", Role.ANALYST)
    page = f"/helix/applications/{application}"

    listed = await client.get(f"/helix/calls/{call}")
    assert listed.status_code == 200 and f'href="{page}"' in listed.text
    form = await client.get(page)
    assert 'id="score-form"' in form.text and 'for="score-merit"' in form.text

    scored = await client.post(
        f"{page}/reviews", data={"csrf_token": csrf, "score-merit": "8", "score-impact": "4"}
    )
    assert (scored.status_code, scored.headers["location"]) == (303, page)
    again = await client.post(
        f"{page}/reviews", data={"csrf_token": csrf, "score-merit": "1", "score-impact": "1"}
    )
    assert again.status_code == 409 and "scored this application already" in again.text
    too_high = await client.post(
        f"{page}/reviews", data={"csrf_token": csrf, "score-merit": "11", "score-impact": "x"}
    )
    assert too_high.status_code == 422 and "scores.merit" in too_high.text

    greedy = await client.post(
        f"{page}/decision", data={"csrf_token": csrf, "decision": "accepted", "awarded": "9e8"}
    )
    assert greedy.status_code == 422 and "awarded" in greedy.text
    no_token = await client.post(f"{page}/decision", data={"decision": "rejected"})
    assert no_token.status_code == 403
    state = (await client.get(f"/api/helix/applications/{application}", headers=analyst)).json()
    assert (state["decision"], state["status"]) == (None, "under_review")
    assert state["reviews"][0]["reviewer"] == "dr-minh"
    assert state["reviews"][0]["scores"] == {"merit": 8, "impact": 4}

    decided = await client.post(
        f"{page}/decision",
        data={"csrf_token": csrf, "decision": "accepted", "awarded": "6e8", "note": "strong"},
    )
    assert decided.status_code == 303
    over = await client.post(
        f"{page}/tranches", data={"csrf_token": csrf, "amount": "7e8", "due_date": "2026-09-01"}
    )
    assert over.status_code == 422 and "amount" in over.text
    planned = await client.post(
        f"{page}/tranches", data={"csrf_token": csrf, "amount": "4e8", "due_date": "2026-09-01"}
    )
    assert planned.status_code == 303
    shown = await client.get(page)
    tranche = re.search(r"/tranches/(\d+)/paid", shown.text)
    assert tranche is not None and 'id="tranche-form"' in shown.text
    bad_day = await client.post(
        f"{page}/tranches/{tranche.group(1)}/paid", data={"csrf_token": csrf, "paid_on": "soon"}
    )
    assert bad_day.status_code == 400 and "paid_on" in bad_day.text
    paid = await client.post(
        f"{page}/tranches/{tranche.group(1)}/paid",
        data={"csrf_token": csrf, "paid_on": "2026-09-02"},
    )
    assert paid.status_code == 303
    state = (await client.get(f"/api/helix/applications/{application}", headers=analyst)).json()
    assert (state["decision"], state["awarded"], state["status"]) == ("accepted", 6e8, "funded")
    assert state["paid"] == 4e8 and state["decision_note"] == "strong"


async def test_a_conflicted_reviewer_gets_the_bar_and_the_form_refuses_the_score(
    client: httpx.AsyncClient, engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    _, application = await _application(client, bearer(tokens["analyst"]))
    csrf = await _session(client, engine, "prof-hoa", Role.ANALYST)
    page = f"/helix/applications/{application}"
    declared = await client.post(
        f"{page}/conflicts", data={"csrf_token": csrf, "note": "co-author"}
    )
    assert declared.status_code == 303
    shown = await client.get(page)
    assert 'id="conflict-bar"' in shown.text and 'id="score-form"' not in shown.text
    refused = await client.post(
        f"{page}/reviews", data={"csrf_token": csrf, "score-merit": "9", "score-impact": "5"}
    )
    assert refused.status_code == 409 and "conflict of interest" in refused.text
    state = (
        await client.get(
            f"/api/helix/applications/{application}", headers=bearer(tokens["analyst"])
        )
    ).json()
    assert [(r["reviewer"], r["conflict"], r["scores"]) for r in state["reviews"]] == [
        ("prof-hoa", True, None)
    ]


async def test_pages_and_exports_answer_staff_and_name_bad_parameters(
    client: httpx.AsyncClient, engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(client, analyst, "Vietnam-Germany University", "university")
    enterprise = await actor(client, analyst, "Becamex IDC", "enterprise")
    await collaboration(client, analyst, [university, enterprise], "2026-04-01")
    await client.post("/api/helix/scorecard/recompute", params={"period": "2026"}, headers=analyst)
    for period, value in (("2025", 55.0), ("2026", 70.0)):  # a manual value with a trend
        entered = await client.post(
            "/api/helix/scorecard/values",
            json={
                "code": "ICF-BROADBAND-HOUSEHOLDS",
                "period": period,
                "value": value,
                "source": "DIC yearly report",
                "source_date": f"{period}-06-30",
            },
            headers=analyst,
        )
        assert entered.status_code == 201, entered.text
    for page in ("/helix", "/helix/scorecard", "/helix/programmes", "/helix/scorecard.pdf"):
        answer = await client.get(page)
        assert answer.status_code == 302 and answer.headers["location"].startswith("/login")

    await _session(client, engine, "ops-lan", Role.OPERATOR)
    network = await client.get("/helix", params={"from": "2026-01-01", "to": "2026-12-31"})
    assert network.status_code == 200
    assert "Vietnam-Germany University" in network.text and 'id="helix-network"' in network.text
    bad = await client.get("/helix", params={"from": "1 April"})
    assert bad.status_code == 400 and "from: expected a date" in bad.text
    backwards = await client.get("/helix", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert backwards.status_code == 400 and "to: before from" in backwards.text

    card = (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()
    page = await client.get("/helix/scorecard", params={"period": "2026"})
    assert page.status_code == 200
    values = dict(re.findall(r'data-code="([^"]+)">.*?data-value="([^"]*)"', page.text, re.S))
    assert values == {
        i["code"]: "" if i["value"] is None else str(i["value"]) for i in card["indicators"]
    }
    assert "Improving" in page.text and "2025: 55" in page.text  # the trend and its base
    assert "DIC yearly report" in page.text  # the manual value's source in its drill-down
    assert "Recompute now" not in page.text  # operators read the scorecard, analysts recompute
    wrong = await client.get("/helix/scorecard", params={"period": "20x6"})
    assert wrong.status_code == 400 and "period" in wrong.text

    pdf = await client.get("/helix/scorecard.pdf", params={"period": "2026"})
    assert pdf.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
    assert "HELIX-UI-COLLABORATIONS" in text
    xlsx = await client.get("/helix/scorecard.xlsx", params={"period": "2026"})
    assert load_workbook(BytesIO(xlsx.content))["Scorecard 2026"]["A1"].value == "code"
    assert (await client.get("/helix/scorecard.pdf", params={"period": "x"})).status_code == 400
    forbidden = await client.get("/helix/applications/1")
    assert forbidden.status_code == 403 and "analysts" in forbidden.text
    refused = await client.post(
        "/helix/scorecard/recompute",
        data={"csrf_token": _csrf(page), "period": "2026"},
    )
    assert refused.status_code == 403


async def test_the_open_data_page_and_its_downloads_need_no_session(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    await actor(client, bearer(tokens["analyst"]), "Binh Duong Innovation Center", "intermediary")
    page = await client.get("/open-data")
    assert page.status_code == 200
    catalogue = (await client.get("/api/open-data/catalog")).json()
    for dataset in catalogue["dcat:dataset"]:
        assert dataset["dct:title"] in page.text
    for file_format in ("csv", "geojson", "parquet"):
        href = f"/open-data/datasets/helix-actors.{file_format}"
        assert f'href="{href}"' in page.text
        download = await client.get(href)
        api = await client.get(f"/api/open-data/datasets/helix-actors.{file_format}")
        assert download.status_code == 200 and download.content == api.content
        assert download.headers["content-type"] == api.headers["content-type"]
        assert b"Binh Duong Innovation Center" in download.content or file_format == "parquet"
        missing = await client.get(f"/open-data/datasets/nothing.{file_format}")
        assert missing.status_code == 404
    assert (await client.get("/open-data/datasets/helix-actors.xml")).status_code in (400, 404)


async def test_an_analyst_recomputes_the_scorecard_from_its_page(
    client: httpx.AsyncClient, engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    university = await actor(client, analyst, "Eastern International University", "university")
    enterprise = await actor(client, analyst, "Becamex IDC", "enterprise")
    await collaboration(client, analyst, [university, enterprise], "2026-05-01")
    before = (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()
    joint = next(i for i in before["indicators"] if i["code"] == "HELIX-UI-COLLABORATIONS")
    assert joint["value"] is None
    await _session(client, engine, "dr-thao", Role.ANALYST)
    page = await client.get("/helix/scorecard", params={"period": "2026"})
    assert "Recompute now" in page.text
    done = await client.post(
        "/helix/scorecard/recompute", data={"csrf_token": _csrf(page), "period": "2026"}
    )
    assert (done.status_code, done.headers["location"]) == (303, "/helix/scorecard?period=2026")
    after = (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()
    joint = next(i for i in after["indicators"] if i["code"] == "HELIX-UI-COLLABORATIONS")
    assert joint["value"] == 1 and joint["provenance"]["by"] == "dr-thao"
    shown = await client.get("/helix/scorecard", params={"period": "2026"})
    assert 'data-code="HELIX-UI-COLLABORATIONS">' in shown.text
    assert re.search(r'data-code="HELIX-UI-COLLABORATIONS">.*?data-value="1.0"', shown.text, re.S)
