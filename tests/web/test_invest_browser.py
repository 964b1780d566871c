"""The investment pages in Chromium against a real `cityhelix serve` with the demo parks and
registry: the staff board with an overdue lead and a move (SQLite and PostgreSQL), the
portal's wizard agreeing with the ranking engine, an enquiry that staff then see, the
portal in Chinese and Vietnamese, and the portal at phone width. Every page loads only
from this site and logs no console error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from cityhelix.app import create_app
from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.invest import service
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.web.browser import SCREENSHOTS, City, Watched, fresh_database, served_city, sign_in

ANALYST = "promoter"
ANALYST_PASSWORD = "harbour-lotus-58"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _prepare(database_url: str, demo: bool) -> None:
    """Migrate, add the analyst with a password, and load the investment demo (the board's
    flow, the only one on PostgreSQL, needs none of it)."""
    app = create_app(Settings(database_url=database_url, mqtt_port=0, admin_token=ADMIN_TOKEN))
    async with app.router.lifespan_context(app):
        await create_user(app.state.engine, ANALYST, Role.ANALYST)
        await set_password(app.state.engine, ANALYST, ANALYST_PASSWORD)
        if demo:
            await service.load_demo(app.state.engine, Principal("test", Role.ADMIN))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[City]:
    tmp: Path = tmp_path_factory.mktemp(f"invest-{request.param}")
    demo = request.param == "sqlite"
    # the investment demo (no sensor province: these pages do not read it) and an analyst
    # who signs in with a password, prepared in this process: one migration, no interpreter
    # start per command
    with (
        fresh_database(request.param, tmp) as url,
        served_city(
            url, tmp / "serve.log", ready="/invest", prepare=lambda url: _prepare(url, demo)
        ) as city,
    ):
        city.backend = request.param  # type: ignore[attr-defined]
        yield city


def _sign_in(watched: Watched, city: City) -> None:
    staff = "/invest/staff/pipeline"
    sign_in(watched, city, name=ANALYST, password=ANALYST_PASSWORD, then=staff)
    expect(watched.page).to_have_url(f"{city.url}{staff}")


def _column_of(page: Page, lead_id: int) -> str | None:
    value: str | None = page.locator(f"#lead-{lead_id}").evaluate(
        "card => card.closest('.board-column').dataset.stage"
    )
    return value


def test_staff_board_shows_the_overdue_lead_and_moves_a_case(
    open_page: Callable[..., Watched], city: City
) -> None:
    with city.client() as api:
        late = api.post("/api/invest/leads", json={"organisation": "Overdue Optics"}).json()
        api.post(
            f"/api/invest/leads/{late['id']}/stage",
            json={"stage": "proposal", "deadline": "2021-06-01T00:00:00Z"},
        ).raise_for_status()
        fresh = api.post("/api/invest/leads", json={"organisation": "Fresh Foundry"}).json()
    watched = open_page(city, viewport=DESKTOP)
    page = watched.page
    _sign_in(watched, city)
    overdue_card = page.locator(f"#lead-{late['id']}")
    expect(overdue_card).to_have_class("lead-card overdue")
    expect(page.locator("#overdue-leads")).to_contain_text("Overdue Optics")
    expect(page.locator(f"#lead-{fresh['id']}")).to_have_class("lead-card")
    if getattr(city, "backend", "") == "sqlite":
        page.screenshot(path=str(SCREENSHOTS / "invest-board.png"))
    # drag the fresh lead onto "site visit"; the board reloads with it there
    page.locator(f"#lead-{fresh['id']} h3").drag_to(
        page.locator('section[data-stage="site_visit"]')
    )
    expect(page).to_have_url(f"{city.url}/invest/staff/pipeline?moved={fresh['id']}")
    assert _column_of(page, fresh["id"]) == "site_visit"
    # the keyboard way: the card's own form moves the overdue lead on; it is no longer late
    page.get_by_label("Move to").and_(page.locator(f"#move-{late['id']}")).select_option(
        "application"
    )
    page.locator(f"#lead-{late['id']} button[type=submit]").click()
    expect(page).to_have_url(f"{city.url}/invest/staff/pipeline?moved={late['id']}")
    assert _column_of(page, late["id"]) == "application"
    expect(page.locator(f"#lead-{late['id']}")).to_have_class("lead-card")
    with city.client() as api:
        stored = api.get(f"/api/invest/leads/{fresh['id']}").json()
    assert stored["stage"] == "site_visit"
    watched.assert_clean()


def _match_top(city: City, needs: dict[str, str]) -> Any:
    """The first candidate `POST /api/invest/sites/rank` ranks over the values match found."""
    with httpx.Client(base_url=city.url, timeout=30) as api:
        match = api.get("/api/invest/sites/match", params=needs).json()
        ranked = api.post(
            "/api/invest/sites/rank",
            json={
                "method": "topsis",
                "criteria": match["criteria"],
                "candidates": [
                    {"id": c["id"], "values": {x["code"]: x["raw"] for x in c["criteria"]}}
                    for c in match["candidates"]
                ],
            },
        ).json()
    return ranked["candidates"][0]


#: the portal's flows do not depend on the database: SQLite's city only (the same served
#: process as the board's SQLite run)
sqlite_only = pytest.mark.parametrize("city", ["sqlite"], indirect=True)


@sqlite_only
def test_portal_wizard_enquiry_languages_and_staff_pages(
    open_page: Callable[..., Watched], city: City
) -> None:
    watched = open_page(city, viewport=DESKTOP)
    page = watched.page
    page.goto(f"{city.url}/invest")
    page.wait_for_function("() => window.cityhelixInvestMap && window.cityhelixInvestMap.ready")
    assert page.evaluate("window.cityhelixInvestMap.parks") == 28  # the demo's parks
    page.screenshot(path=str(SCREENSHOTS / "invest-portal.png"))
    page.get_by_role("link", name="Find a site", exact=True).click()
    page.get_by_label("Land (ha)", exact=True).fill("5")
    page.get_by_label("Power (MW)", exact=True).fill("5")
    page.get_by_label("Sector", exact=True).select_option("2610")
    page.get_by_role("button", name="Rank the sites").click()
    top = page.locator('#ranked-sites li[data-rank="1"]')
    expect(top).to_be_visible()
    top.get_by_text("Why this score").click()
    expect(top.locator("table")).to_contain_text("Land price")
    page.screenshot(path=str(SCREENSHOTS / "invest-wizard.png"), full_page=True)
    expected = _match_top(city, {"land_ha": "5", "power_mw": "5", "sector_vsic": "2610"})
    assert top.get_attribute("data-candidate") == expected["id"]
    shown = float(top.locator(".closeness").inner_text())
    assert shown == round(expected["closeness"], 3)

    page.get_by_role("link", name="Ask us about these sites").click()
    expect(page.get_by_label("Land (ha)")).to_have_value("5")
    page.get_by_label("Company or organisation").fill("Lotus Wafer Works")
    page.get_by_label("Your name").fill("Mai Tran")
    page.get_by_label("E-mail").fill("mai@example.org")
    page.get_by_label("Message").fill("We need 5 ha for a chip test line.")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#enquiry-received")).to_be_visible()

    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("谢谢")
    page.get_by_role("link", name="选址").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("为您的项目选址")
    page.screenshot(path=str(SCREENSHOTS / "invest-wizard-zh.png"))
    page.get_by_role("button", name="VI").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tìm địa điểm cho dự án của bạn")
    page.get_by_role("button", name="EN").click()
    watched.assert_clean()

    staff = open_page(city, viewport=DESKTOP)
    _sign_in(staff, city)
    card = staff.page.locator(".lead-card", has_text="Lotus Wafer Works")
    expect(card).to_contain_text("portal")
    card.get_by_role("link", name="Lotus Wafer Works").click()
    expect(staff.page.locator("body")).to_contain_text("We need 5 ha for a chip test line.")
    staff.page.get_by_role("link", name="FDI registry").click()
    expect(staff.page.locator("#registry-table tbody tr")).to_have_count(50)
    staff.page.screenshot(path=str(SCREENSHOTS / "invest-registry.png"))
    staff.page.get_by_label("Source country").fill("TW")
    staff.page.get_by_role("button", name="Show").click()
    staff.page.get_by_role("link", name="Next").click()
    expect(staff.page).to_have_url(re.compile(r"country=TW.*offset=50"))
    expect(staff.page.locator("#registry-table tbody tr")).to_have_count(50)
    staff.page.locator("#registry-table tbody a").first.click()
    expect(staff.page.locator("#history-table")).to_be_visible()
    staff.page.get_by_role("link", name="Screening").click()
    staff.page.get_by_label("Sector (VSIC code)").fill("2610")
    staff.page.get_by_label("Registered capital (USD)").fill("200000000")
    staff.page.get_by_label("Land (ha)", exact=True).fill("10")
    staff.page.get_by_label("Employees", exact=True).fill("300")
    staff.page.get_by_role("button", name="Screen", exact=True).click()
    expect(staff.page.locator('tr[data-code="capital_intensity"]')).to_contain_text("Passed")
    staff.page.screenshot(path=str(SCREENSHOTS / "invest-screening.png"), full_page=True)
    staff.page.get_by_role("link", name="Parks and free plots").click()
    staff.page.wait_for_function(
        "() => window.cityhelixInvestMap && window.cityhelixInvestMap.ready"
    )
    staff.page.screenshot(path=str(SCREENSHOTS / "invest-map.png"))
    staff.assert_clean()


#: the elements that reach past the screen's right edge (to name them when a page does)
_WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .slice(0, 8).map((e) => `${e.tagName}#${e.id}.${e.className}`)"""


@sqlite_only
def test_portal_at_phone_width(open_page: Callable[..., Watched], city: City) -> None:
    watched = open_page(city, viewport=PHONE, is_mobile=True, has_touch=True)
    page = watched.page
    for path in ("/invest", "/invest/find-a-site?run=1&land_ha=5", "/invest/enquiry"):
        page.goto(f"{city.url}{path}")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(_WIDER_THAN_SCREEN)
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px: {wide}"
    page.goto(f"{city.url}/invest")
    page.wait_for_function("() => window.cityhelixInvestMap && window.cityhelixInvestMap.ready")
    expect(page.get_by_role("link", name="Find a site", exact=True)).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "invest-portal-phone.png"))
    watched.assert_clean()


# The flows below change the city they run on (a policy adopted, parks imported): they come
# last in the module, after the flows that count the demo's parks or screen under v1.


def test_policy_editor_drafts_a_flip_shows_it_in_the_what_if_view_and_adopts(
    open_page: Callable[..., Watched], city: City
) -> None:
    with city.client() as api:
        made = api.post(
            "/api/invest/projects",
            json={
                "certificate_no": "GCN-OLD-PRESS",
                "name": "Old press line",
                "issued_on": "2021-04-01",
                "investors": [{"name": "Heron Metal Works", "country": "KR"}],
                "sector_vsic": "25920",
                "capital_usd": 30_000_000,
                "land_ha": 3,
                "employees_planned": 90,
                "equipment_age_years": 10.5,
                "status": "active",
            },
        )
        assert made.status_code == 201, made.text
        project = made.json()
        before = api.post(f"/api/invest/projects/{project['id']}/screenings").json()
    assert before["verdict"] == "not_recommended"
    watched = open_page(city, viewport=DESKTOP)
    page = watched.page
    _sign_in(watched, city)
    page.get_by_role("link", name="Policies").click()
    page.wait_for_load_state("domcontentloaded")
    threshold = page.locator('[name="rules.used_equipment_age.threshold"]')
    expect(threshold).to_have_value("10")
    threshold.fill("11")
    page.get_by_label("Note for the draft").fill("used equipment up to 11 years")
    page.get_by_role("button", name="Make a draft").click()
    expect(page).to_have_url(re.compile(r"/invest/staff/policies/\d+\?made=1$"))
    version = int(page.url.split("?")[0].rsplit("/", 1)[1])
    expect(page.locator("#draft-made")).to_be_visible()
    expect(page.locator('tr[data-code="used_equipment_age"]')).to_have_class("changed")
    flipped = page.locator(f'#verdict-changes tr[data-project="{project["id"]}"]')
    expect(flipped).to_contain_text("Old press line")
    expect(flipped.locator("td").nth(1)).to_have_attribute("data-verdict", "not_recommended")
    expect(flipped.locator("td").nth(2)).not_to_have_attribute("data-verdict", "not_recommended")
    proposed = flipped.locator("td").nth(2).get_attribute("data-verdict")
    if getattr(city, "backend", "") == "sqlite":
        page.screenshot(path=str(SCREENSHOTS / "invest-policy-what-if.png"), full_page=True)
    with city.client() as api:
        assert api.get("/api/invest/policies/current").json()["version"] != version
    page.get_by_role("button", name=f"Adopt version {version}").click()
    expect(page.locator("#adopted")).to_be_visible()
    expect(page.locator("#policy-status")).to_contain_text("in force")
    expect(page.locator("#what-if")).to_contain_text("nothing to compare")
    # the old screening keeps its version and verdict; the re-screen beside it is the new
    page.goto(f"{city.url}/invest/staff/registry/{project['id']}")
    stored = page.locator("#stored-screenings tbody tr")
    expect(stored).to_have_count(1)
    expect(stored.locator("td").nth(1)).to_have_text(str(before["policy_version"]))
    expect(stored).to_contain_text("Not recommended")
    with city.client() as api:
        assert api.get("/api/invest/policies/current").json()["version"] == version
        now = api.get(f"/api/invest/projects/{project['id']}/screenings").json()
    assert now["stored"][0]["policy_version"] == before["policy_version"]
    assert (now["current"]["policy_version"], now["current"]["verdict"]) == (version, proposed)
    watched.assert_clean()


def _parks_table(path: Path, rows: list[list[object]]) -> Path:
    """`rows` (the header first) as an XLSX workbook at `path`."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


@sqlite_only
def test_import_page_refuses_a_bad_row_naming_it_and_imports_a_good_file(
    open_page: Callable[..., Watched], city: City, tmp_path: Path
) -> None:
    bad = tmp_path / "parks-bad.csv"
    bad.write_text(
        "name,total_ha,power_spare_mw\nSong Than 9,500,20\nTan Binh 9,lots,10\n", encoding="utf-8"
    )
    good = _parks_table(
        tmp_path / "parks.xlsx",
        [["name", "total_ha", "power_spare_mw"], ["Song Than 9", 500, 20], ["Tan Binh 9", 320, 8]],
    )
    with city.client() as api:
        before = len(api.get("/api/invest/parks", params={"limit": 1000}).json())
    watched = open_page(city, viewport=DESKTOP)
    page = watched.page
    _sign_in(watched, city)
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_load_state("domcontentloaded")
    page.get_by_label("The file holds").select_option("parks")
    page.get_by_label("File (.csv or .xlsx)").set_input_files(bad)
    page.get_by_role("button", name="Import", exact=True).click()
    problem = page.locator('#import-problems tr[data-row="3"][data-column="total_ha"]')
    expect(problem).to_be_visible()
    expect(page.locator("#import-problems tbody tr")).to_have_count(1)
    expect(page.locator("#import-refused")).to_contain_text("Nothing was imported")
    page.screenshot(path=str(SCREENSHOTS / "invest-import-refused.png"), full_page=True)
    # the refusal answers 422, which Chromium logs as a failed load: that one and no other
    refusal = [e for e in watched.errors if "status of 422" in e and "/invest/staff/import" in e]
    assert len(refusal) == 1, watched.errors
    watched.errors.remove(refusal[0])
    with city.client() as api:
        assert len(api.get("/api/invest/parks", params={"limit": 1000}).json()) == before
    page.get_by_label("The file holds").select_option("parks")
    page.get_by_label("File (.csv or .xlsx)").set_input_files(good)
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#import-done")).to_have_attribute("data-imported", "2")
    with city.client() as api:
        parks = api.get("/api/invest/parks", params={"limit": 1000}).json()
    assert len(parks) == before + 2
    assert {"Song Than 9", "Tan Binh 9"} <= {park["name"] for park in parks}
    watched.assert_clean()
