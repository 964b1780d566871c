"""The investment pages over HTTP, on both databases: staff sign-in and roles, the board's
moves, the registry's as-of view, screening explained, the portal's wizard and enquiry,
and bad form input answered 4xx naming the field with nothing stored."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import authenticate, create_user, start_session
from cityhelix.invest.tables import leads
from cityhelix.web.const import LANGUAGE_COOKIE, SESSION_COOKIE
from tests.invest.factories import make_park, make_plot, make_project, square


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, "no CSRF field in the form"
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, name: str) -> None:
    """A session for `name` as /login starts it (the password check itself, argon2 at about
    a second a try, is tested in test_signin.py)."""
    app = client._transport.app  # type: ignore[attr-defined]
    principal = await authenticate(
        app.state.engine, app.state.settings, app.state.test_tokens[name]
    )
    assert principal is not None
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, await start_session(app.state.engine, principal))


async def _lead_count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(leads))).scalar_one())


@pytest.fixture
async def demo(
    engine: AsyncEngine, running_app: Any, client: httpx.AsyncClient, admin: dict[str, str]
) -> AsyncEngine:
    """Three parks with free plots and two registered projects (small: the demo registry
    takes seconds to load), an analyst and an operator, and the enquiry limit of this
    session-wide app started afresh."""
    if hasattr(running_app.state, "invest_enquiries"):
        del running_app.state.invest_enquiries
    for index, (name, rent, seaport) in enumerate(
        (("VSIP III", 150, 45), ("My Phuoc 3", 110, 60), ("Dai Dang", 95, 30))
    ):
        park_id = await make_park(
            client,
            admin,
            name=name,
            land_rent_usd_m2=rent,
            seaport_km=seaport,
            boundary=square(106.6 + index * 0.05),
        )
        for code, area, price in (("A1", 12, rent), ("A2", 3, rent - 10)):
            await make_plot(client, admin, park_id, code, area_ha=area, price_usd_m2=price)
        await make_plot(
            client, admin, park_id, "B1", area_ha=1, boundary=square(106.6, 11.1, 0.001)
        )
    await make_project(client, admin)
    await make_project(client, admin, certificate_no="3210000002", investors=[])
    running_app.state.test_tokens = {
        name: await create_user(engine, name, role)
        for name, role in (("analyst", Role.ANALYST), ("ops", Role.OPERATOR))
    }
    return engine


async def _staff_pages_need_an_analyst_or_admin(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    for page in ("/invest/staff/pipeline", "/invest/staff/registry", "/invest/staff/map"):
        answer = await client.get(page)
        assert answer.status_code == 302 and answer.headers["location"].startswith("/login")
    await _sign_in(client, "ops")
    refused = await client.get("/invest/staff/pipeline")
    assert refused.status_code == 403 and "operator" in refused.text
    assert 'href="/invest/staff/pipeline"' not in (await client.get("/console/kpi")).text
    await _sign_in(client, "analyst")
    assert 'href="/invest/staff/pipeline"' in (await client.get("/console/kpi")).text


async def _board_moves_a_lead_and_refuses_a_backward_move_naming_the_field(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    made = await client.post(
        "/api/invest/leads", json={"organisation": "Kestrel Chips"}, headers=admin
    )
    lead_id = made.json()["id"]
    late = await client.post(
        f"/api/invest/leads/{lead_id}/stage",
        json={"stage": "first_contact", "deadline": "2020-01-01T00:00:00Z"},
        headers=admin,
    )
    assert late.status_code == 200
    await _sign_in(client, "analyst")
    board = await client.get("/invest/staff/pipeline")
    assert board.status_code == 200
    card = re.search(r'<li class="lead-card overdue"[^>]*data-lead="(\d+)"', board.text)
    assert card is not None and int(card.group(1)) == lead_id
    moved = await client.post(
        f"/invest/staff/leads/{lead_id}/stage",
        data={"csrf_token": _csrf(board), "stage": "site_visit"},
    )
    assert moved.status_code == 303
    back = await client.post(
        f"/invest/staff/leads/{lead_id}/stage",
        data={"csrf_token": _csrf(board), "stage": "lead"},
        headers={"Accept": "application/json"},
    )
    assert back.status_code == 409 and back.json()["field"] == "stage"
    unknown = await client.post(
        f"/invest/staff/leads/{lead_id}/stage",
        data={"csrf_token": _csrf(board), "stage": "somewhere"},
    )
    assert unknown.status_code == 400 and "<code>stage</code>" in unknown.text
    lost = await client.post(
        f"/invest/staff/leads/{lead_id}/stage", data={"csrf_token": _csrf(board), "stage": "lost"}
    )
    assert lost.status_code == 400 and "<code>reason</code>" in lost.text
    stored = (await client.get(f"/api/invest/leads/{lead_id}", headers=admin)).json()
    assert stored["stage"] == "site_visit"
    assert [m["to_stage"] for m in stored["moves"]] == ["lead", "first_contact", "site_visit"]


async def _registry_shows_a_project_as_of_a_day_with_its_history(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    project = (await client.get("/api/invest/projects?limit=1&country=TW", headers=admin)).json()[0]
    changed = await client.patch(
        f"/api/invest/projects/{project['id']}",
        json={
            "changes": {"capital_usd": 123_456_789},
            "effective_on": "2030-01-01",
            "change_note": "capital increase",
        },
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    await _sign_in(client, "analyst")
    country = project["investors"][0]["country"]
    listed = await client.get("/invest/staff/registry", params={"country": country})
    assert listed.status_code == 200 and project["certificate_no"] in listed.text
    now = await client.get(f"/invest/staff/registry/{project['id']}")
    assert '<dd id="project-capital">123,456,789</dd>' in now.text
    assert "capital increase" in now.text
    assert "capital_usd" in now.text  # the changed field of version 2
    before = await client.get(f"/invest/staff/registry/{project['id']}?as_of=2029-12-31")
    assert '<dd id="project-capital">123,456,789</dd>' not in before.text
    assert "Version 1, as it stood on 2029-12-31" in before.text
    for field, value in (("offset", "-1"), ("country", "Taiwan"), ("status", "gone")):
        wrong = await client.get("/invest/staff/registry", params={field: value})
        assert wrong.status_code == 400 and f"<code>{field}</code>" in wrong.text, field
    assert (await client.get(f"/invest/staff/registry/{2**63}")).status_code == 422
    assert (await client.get("/invest/staff/registry/999999")).status_code == 404
    bad = await client.get(f"/invest/staff/registry/{project['id']}?as_of=31.12.2029")
    assert bad.status_code == 400 and "<code>as_of</code>" in bad.text


async def _screening_page_explains_each_criterion_and_names_a_bad_field(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    await _sign_in(client, "analyst")
    answer = await client.get(
        "/invest/staff/screening",
        params={"run": "1", "sector_vsic": "2610", "capital_usd": "100000000", "land_ha": "5"},
    )
    assert answer.status_code == 200
    assert 'data-code="capital_intensity"' in answer.text
    assert "needs hitech_revenue_pct, which was not given" in answer.text
    assert "Decision 10/2021/QD-TTg" in answer.text
    # Decree 08/2022 Art. 97(1), Appendix XXVIII: automatic monitoring from 500 m3/day for
    # an Appendix II type (textiles with dyeing: type 5), from 1,000 m3/day for others
    for pollution, wastewater, passed in (
        ("5", "499", True),
        ("5", "500", False),
        ("none", "999", True),
        ("none", "1000", False),
    ):
        screened = await client.get(
            "/invest/staff/screening",
            params={"run": "1", "pollution_type": pollution, "wastewater_m3_day": wastewater},
        )
        row = re.search(r'<tr data-code="wastewater_monitoring">(.*?)</tr>', screened.text, re.S)
        assert row is not None and "Appendix XXVIII" in row.group(1)
        assert ("Not passed" not in row.group(1)) is passed, (pollution, wastewater)
    bad = await client.get("/invest/staff/screening", params={"run": "1", "employees": "many"})
    assert bad.status_code == 400 and 'data-field="employees"' in bad.text


async def _wizard_top(client: httpx.AsyncClient, params: dict[str, str]) -> str:
    page = await client.get("/invest/find-a-site", params={"run": "1", **params})
    assert page.status_code == 200, page.text
    top = re.search(r'data-candidate="([^"]+)"[^>]*data-rank="1"', page.text)
    assert top is not None
    return top.group(1)


async def _wizard_ranks_as_the_ranking_engine_does_and_names_bad_fields(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    needs = {"land_ha": "5", "power_mw": "5", "sector_vsic": "2610"}
    top = await _wizard_top(client, needs)
    match: dict[str, Any] = (await client.get("/api/invest/sites/match", params=needs)).json()
    ranked = await client.post(
        "/api/invest/sites/rank",
        json={
            "method": "topsis",
            "criteria": match["criteria"],
            "candidates": [
                {"id": c["id"], "values": {x["code"]: x["raw"] for x in c["criteria"]}}
                for c in match["candidates"]
            ],
        },
    )
    assert ranked.json()["candidates"][0]["id"] == top
    for field, value in (("land_ha", "lots"), ("land_ha", "-3"), ("ready_by", "soon")):
        bad = await client.get("/invest/find-a-site", params={"run": "1", field: value})
        assert bad.status_code == 400 and f'data-field="{field}"' in bad.text, (field, value)
    weights = await client.get("/invest/find-a-site", params={"run": "1", "weight_land_price": "9"})
    assert weights.status_code == 400 and 'data-field="weight_land_price"' in weights.text


async def _enquiry_creates_a_lead_and_bad_or_robot_input_stores_nothing(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    form = await client.get("/invest/enquiry")
    token = _csrf(form)
    good = {
        "csrf_token": token,
        "organisation": "Lotus Wafer Co",
        "name": "Mai Tran",
        "email": "mai@example.org",
        "land_ha": "8",
        "sector_vsic": "2610",
    }
    for field, value in (("email", "not-an-address"), ("land_ha", "eight"), ("country", "XYZ")):
        bad = await client.post("/invest/enquiry", data={**good, field: value})
        assert bad.status_code == 400 and f'data-field="{field}"' in bad.text, field
    missing = await client.post("/invest/enquiry", data={**good, "organisation": ""})
    assert missing.status_code == 400 and 'data-field="organisation"' in missing.text
    robot = await client.post("/invest/enquiry", data={**good, "website": "http://spam"})
    assert robot.status_code == 303
    assert await _lead_count(demo) == 0
    sent = await client.post("/invest/enquiry", data=good)
    assert sent.status_code == 303 and sent.headers["location"] == "/invest/enquiry/thanks"
    assert await _lead_count(demo) == 1
    # the form and the API share one limit per address: 5 in 10 minutes (robot + 1 counted)
    for _ in range(3):
        assert (await client.post("/invest/enquiry", data=good)).status_code == 303
    limited = await client.post("/invest/enquiry", data=good)
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert await _lead_count(demo) == 4


async def _portal_speaks_chinese_and_vietnamese_and_the_console_keeps_its_languages(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    home = await client.get("/invest")
    assert home.status_code == 200 and "Industrial parks and free land" in home.text
    chosen = await client.post(
        "/invest/language", data={"csrf_token": _csrf(home), "language": "zh", "next": "/invest"}
    )
    assert chosen.status_code == 303 and client.cookies.get(LANGUAGE_COOKIE) == "zh"
    chinese = await client.get("/invest")
    assert 'lang="zh-Hans"' in chinese.text and "工业园区" in chinese.text
    # the console has no Chinese: its pages fall back to Accept-Language, then English
    welcome = await client.get("/welcome", headers={"Accept-Language": "vi"})
    assert '<html lang="vi">' in welcome.text
    await client.post(
        "/invest/language", data={"csrf_token": _csrf(home), "language": "vi", "next": "/invest"}
    )
    vietnamese = await client.get("/invest/find-a-site")
    assert "Tìm địa điểm" in vietnamese.text
    refused = await client.post(
        "/invest/language", data={"csrf_token": _csrf(home), "language": "fr", "next": "/invest"}
    )
    assert refused.status_code == 303 and client.cookies.get(LANGUAGE_COOKIE) == "vi"
    shapes = (await client.get("/invest/parks.geojson")).json()["features"]
    assert sorted(f["properties"]["kind"] for f in shapes) == ["park"] * 3 + ["plot"] * 3
    assert "contacts" not in shapes[0]["properties"]
    assert (await client.get("/invest/parks/999999")).status_code == 404
    assert (await client.get(f"/invest/parks/{2**63}")).status_code == 422
    bad = await client.get("/invest", params={"max_price": "cheap"})
    assert bad.status_code == 400 and 'data-field="max_price"' in bad.text


async def _policy_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/invest/policies")).json())


async def _policy_editor_drafts_shows_what_if_and_adopts(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    old = await make_project(
        client, admin, certificate_no="3210000003", name="Old press line", equipment_age_years=10.5
    )
    stored = await client.post(f"/api/invest/projects/{old['id']}/screenings", headers=admin)
    assert stored.json()["verdict"] == "not_recommended"
    # any staff member reads the policy; only analysts and admins draft and adopt
    await _sign_in(client, "ops")
    read = await client.get("/invest/staff/policies")
    assert read.status_code == 200 and 'data-code="used_equipment_age"' in read.text
    assert 'id="draft-form"' not in read.text
    refused = await client.post(
        "/invest/staff/policies",
        data={"csrf_token": _csrf(read), "rules.used_equipment_age.threshold": "11"},
    )
    assert refused.status_code == 403
    await _sign_in(client, "analyst")
    editor = await client.get("/invest/staff/policies")
    assert 'id="draft-form"' in editor.text
    assert 'name="rules.used_equipment_age.threshold" inputmode="decimal" size="12" value="10"' in (
        editor.text
    )
    token = _csrf(editor)
    for field, value in (
        ("rules.used_equipment_age.threshold", "eleven"),
        ("rules.used_equipment_age.threshold", "-1"),
        ("rules.capital_intensity.severity", "forbid"),
        ("rules.nonexistent.threshold", "3"),
        ("rules.rd_spend_share.bands.7.threshold", "3"),
    ):
        bad = await client.post("/invest/staff/policies", data={"csrf_token": token, field: value})
        assert bad.status_code in (400, 404) and f'data-field="{field}"' in bad.text, field
    same = await client.post(
        "/invest/staff/policies",
        data={"csrf_token": token, "rules.used_equipment_age.threshold": "10"},
    )
    assert same.status_code == 400 and 'data-field="rules"' in same.text
    stale = await client.post(
        "/invest/staff/policies",
        data={"csrf_token": "stale", "rules.used_equipment_age.threshold": "11"},
    )
    assert stale.status_code == 403
    assert await _policy_count(client) == 1
    made = await client.post(
        "/invest/staff/policies",
        data={
            "csrf_token": token,
            "rules.used_equipment_age.threshold": "11",
            "rules.used_equipment_age.severity": "block",
            "note": "equipment up to 11 years",
        },
    )
    assert made.status_code == 303
    draft_url = made.headers["location"].split("?")[0]
    version = int(draft_url.rsplit("/", 1)[1])
    draft = (await client.get(f"/api/invest/policies/{version}")).json()
    assert draft["status"] == "draft" and draft["note"] == "equipment up to 11 years"
    page = await client.get(draft_url)
    assert page.status_code == 200
    assert 'data-changed="rules.used_equipment_age.threshold"' in page.text
    change = re.search(rf'<tr data-project="{old["id"]}">(.*?)</tr>', page.text, re.S)
    assert change is not None and 'data-verdict="not_recommended"' in change.group(1)
    what_if = (await client.get(f"/api/invest/policies/{version}/portfolio", headers=admin)).json()
    assert [c["id"] for c in what_if["changes"]] == [old["id"]]
    mix = re.search(r'<tr data-verdict="not_recommended">(.*?)</tr>', page.text, re.S)
    assert mix is not None
    assert re.findall(r'data-count="\w+">(\d+)<', mix.group(1)) == ["1", "0"]
    # the operator reads the draft but has no what-if (it screens the registry) nor adoption
    await _sign_in(client, "ops")
    seen = await client.get(draft_url)
    assert seen.status_code == 200 and 'id="verdict-mix"' not in seen.text
    assert 'id="adopt-form"' not in seen.text
    assert (
        await client.post(f"{draft_url}/adopt", data={"csrf_token": _csrf(seen)})
    ).status_code == 403
    await _sign_in(client, "analyst")
    page = await client.get(draft_url)
    adopted = await client.post(f"{draft_url}/adopt", data={"csrf_token": _csrf(page)})
    assert adopted.status_code == 303
    assert (await client.get("/api/invest/policies/current")).json()["version"] == version
    again = await client.post(f"{draft_url}/adopt", data={"csrf_token": _csrf(page)})
    assert again.status_code == 409 and 'data-field="version"' in again.text
    project = await client.get(f"/invest/staff/registry/{old['id']}")
    first = re.search(r'id="stored-screenings".*?<tbody>(.*?)</tbody>', project.text, re.S)
    assert first is not None and "<td>1</td>" in first.group(1)
    assert (await client.get("/invest/staff/policies/999")).status_code == 404
    assert (await client.get(f"/invest/staff/policies/{2**40}")).status_code == 422


def _table(*rows: str) -> bytes:
    return ("\n".join(rows) + "\n").encode()


async def _import_page_refuses_a_bad_file_whole_and_imports_a_good_one(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    await _sign_in(client, "ops")
    assert (await client.get("/invest/staff/import")).status_code == 403
    await _sign_in(client, "analyst")
    form = await client.get("/invest/staff/import")
    assert form.status_code == 200 and "<code>certificate_no</code>" in form.text
    token = _csrf(form)
    parks_before = len((await client.get("/api/invest/parks")).json())
    bad = _table(
        "name,total_ha,power_spare_mw",
        "Song Than 4,500,20",
        "Tan Dinh 2,lots,10",
        "Bau Bang 9,300,5",
    )
    refused = await client.post(
        "/invest/staff/import",
        data={"csrf_token": token, "kind": "parks"},
        files={"file": ("parks.csv", bad, "text/csv")},
    )
    assert refused.status_code == 422, re.findall(r"<p class=\"error\".*?</p>", refused.text, re.S)
    assert '<tr data-row="3" data-column="total_ha">' in refused.text
    assert len((await client.get("/api/invest/parks")).json()) == parks_before
    for data, file, field in (
        ({"kind": "parks"}, ("parks.txt", bad, "text/plain"), "file"),
        ({"kind": "castles"}, ("parks.csv", bad, "text/csv"), "kind"),
        ({"kind": "parks"}, ("parks.xlsx", b"not a workbook", "application/octet-stream"), "file"),
    ):
        wrong = await client.post(
            "/invest/staff/import", data={"csrf_token": token, **data}, files={"file": file}
        )
        assert wrong.status_code == 400 and f'data-field="{field}"' in wrong.text, field
    no_token = await client.post(
        "/invest/staff/import", data={"kind": "parks"}, files={"file": ("p.csv", bad, "text/csv")}
    )
    assert no_token.status_code == 403
    good = _table("name,total_ha,power_spare_mw", "Song Than 4,500,20", "Bau Bang 9,300,5")
    done = await client.post(
        "/invest/staff/import",
        data={"csrf_token": token, "kind": "parks"},
        files={"file": ("parks.csv", good, "text/csv")},
    )
    assert done.status_code == 303
    outcome = await client.get(done.headers["location"])
    assert 'data-imported="2"' in outcome.text
    names = {p["name"] for p in (await client.get("/api/invest/parks")).json()}
    assert {"Song Than 4", "Bau Bang 9"} <= names


async def _registry_page_searches_name_investor_and_certificate(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    await make_project(
        client,
        admin,
        certificate_no="GCN-77",
        name="Lotus wafer line",
        investors=[{"name": "Heron Optics", "country": "JP"}],
    )
    await _sign_in(client, "analyst")
    for text in ("LOTUS WAFER", "heron", "gcn-7"):
        found = await client.get("/invest/staff/registry", params={"q": text})
        assert found.status_code == 200 and "GCN-77" in found.text, text
        assert "3210000001" not in found.text
    long = await client.get("/invest/staff/registry", params={"q": "x" * 201})
    assert long.status_code == 400 and "<code>q</code>" in long.text


# The demo registry takes a few seconds to load on PostgreSQL: each test below loads it
# once and checks several behaviours on it.


async def test_staff_pages_board_registry_and_screening(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    await _staff_pages_need_an_analyst_or_admin(client, demo)
    await _board_moves_a_lead_and_refuses_a_backward_move_naming_the_field(client, demo, admin)
    await _registry_shows_a_project_as_of_a_day_with_its_history(client, demo, admin)
    await _screening_page_explains_each_criterion_and_names_a_bad_field(client, demo)


async def test_portal_wizard_languages_and_enquiry(
    client: httpx.AsyncClient, demo: AsyncEngine
) -> None:
    await _wizard_ranks_as_the_ranking_engine_does_and_names_bad_fields(client, demo)
    await _enquiry_creates_a_lead_and_bad_or_robot_input_stores_nothing(client, demo)
    await _portal_speaks_chinese_and_vietnamese_and_the_console_keeps_its_languages(client, demo)


async def test_policy_editor_import_page_and_registry_search(
    client: httpx.AsyncClient, demo: AsyncEngine, admin: dict[str, str]
) -> None:
    await _registry_page_searches_name_investor_and_certificate(client, demo, admin)
    await _import_page_refuses_a_bad_file_whole_and_imports_a_good_one(client, demo, admin)
    await _policy_editor_drafts_shows_what_if_and_adopts(client, demo, admin)
