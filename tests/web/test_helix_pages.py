"""The Triple Helix pages in Chromium on a served demo city (SQLite) with the helix demo:
the scorecard page shows the API's values and downloads its PDF, the network graph draws
every actor, a reviewer who declared a conflict of interest cannot score, the public
open-data page downloads every format, Vietnamese on request; no foreign request, no
console error on any of them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.db.engine import create_engine
from cityhelix.helix.demo import load_demo
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.hub.processes import fresh_postgres
from tests.served import served
from tests.web.browser import (
    OPERATOR,
    OPERATOR_PASSWORD,
    SCREENSHOTS,
    City,
    Watched,
    sign_in,
)

ANALYST = "analyst-lan"
ANALYST_PASSWORD = "willow-harbour-58"


async def _prepare(database_url: str) -> None:
    """The helix demo, its scorecard, and the users, written in-process through the
    services (the database is the served one, already migrated by `serve`)."""
    settings = Settings(database_url=database_url, admin_token=ADMIN_TOKEN)
    engine = create_engine(settings)
    try:
        for name, role, password in ((OPERATOR, Role.OPERATOR, OPERATOR_PASSWORD),
                                     (ANALYST, Role.ANALYST, ANALYST_PASSWORD)):  # fmt: skip
            await create_user(engine, name, role)
            await set_password(engine, name, password)
        await load_demo(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def helix_city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[City]:
    """A served city with the helix demo, a few hub Things the scorecard counts, an operator
    and an analyst who sign in (no sensor province: these pages do not need its history),
    on each backend."""
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            database_url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('helix-web') / 'web.db'}"
        else:
            database_url = stack.enter_context(fresh_postgres())
        yield from _served_helix_city(database_url)


def _served_helix_city(database_url: str) -> Iterator[City]:
    with served(database_url, CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN) as url:
        # Playwright's sync API may run an event loop in this thread: prepare from another
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _prepare(database_url)).result()
        city = City(url, database_url, 0)
        with city.client() as client:
            things = [
                ("Light", {"kind": "streetlight", "remote_managed": n != 3}) for n in range(4)
            ]
            for number, (name, properties) in enumerate([*things, ("AQ", {"kind": "air_quality"})]):
                site = {"type": "Point", "coordinates": [106.65 + number / 100, 10.98]}
                thing = {
                    "name": f"{name} {number}",
                    "description": name,
                    "properties": properties,
                    "Locations": [
                        {
                            "name": f"{name} {number} site",
                            "description": "installation site",
                            "encodingType": "application/geo+json",
                            "location": site,
                        }
                    ],
                }
                assert client.post("/v1.1/Things", json=thing).status_code == 201
            assert client.post("/api/helix/scorecard/recompute").status_code == 200
        yield city


def _value_cells(page: Page) -> dict[str, str]:
    found: dict[str, str] = page.eval_on_selector_all(
        "#indicators tr[data-code]",
        "rows => Object.fromEntries(rows.map("
        "r => [r.dataset.code, r.querySelector('[data-value]').dataset.value]))",
    )
    return found


def test_the_scorecard_page_shows_the_api_values_and_downloads_its_pdf(
    open_page: Callable[..., Watched], helix_city: City, tmp_path: Path
) -> None:
    year = str(datetime.now(UTC).year)
    with helix_city.client() as client:
        card = client.get("/api/helix/scorecard", params={"period": year}).json()
    computed = [i for i in card["indicators"] if i["value"] is not None]
    assert len(computed) >= 8  # the demo gives every computable indicator a value

    watched = open_page(helix_city, viewport={"width": 1280, "height": 900})
    page = watched.page
    sign_in(watched, helix_city)
    page.get_by_role("link", name="Triple Helix").click()
    page.get_by_role("link", name="Scorecard").click()
    expect(page.get_by_role("heading", name=f"Smart-city scorecard {year}")).to_be_visible()
    shown = _value_cells(page)
    assert set(shown) == {i["code"] for i in card["indicators"]}
    for indicator in card["indicators"]:
        value = shown[indicator["code"]]
        if indicator["value"] is None:
            assert value == "", indicator["code"]
        else:
            assert float(value) == indicator["value"], indicator["code"]
    page.screenshot(path=str(SCREENSHOTS / "helix-scorecard.png"))

    # drill-down: the streetlights' indicator lists the demo's lights as its inputs
    details = page.locator("#indicator-ISO37122-ENE-STREETLIGHT-REMOTE + tr details")
    details.locator("summary").click()
    expect(details).to_contain_text("remote_managed=True")
    expect(details).to_contain_text("hub_streetlights_remote_share")
    page.locator("#indicator-ISO37122-ENE-STREETLIGHT-REMOTE").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "helix-scorecard-drilldown.png"))

    with page.expect_download() as pdf:
        page.get_by_role("link", name="Download PDF report").click()
    saved = tmp_path / "scorecard.pdf"
    pdf.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF")

    page.get_by_label("Language").select_option("vi")
    expect(page.get_by_role("heading", name=f"Bảng điểm đô thị thông minh {year}")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    assert _value_cells(page) == shown
    page.screenshot(path=str(SCREENSHOTS / "helix-scorecard-vi.png"))
    watched.assert_clean()


def test_the_network_graph_draws_every_actor_and_synergy_by_year(
    open_page: Callable[..., Watched], helix_city: City
) -> None:
    with helix_city.client() as client:
        network = client.get("/api/helix/network").json()
        synergy = client.get("/api/helix/synergy").json()
    assert len(network["nodes"]) >= 15 and network["edges"]
    watched = open_page(helix_city, viewport={"width": 1280, "height": 900})
    page = watched.page
    sign_in(watched, helix_city)
    page.goto(f"{helix_city.url}/helix")
    page.wait_for_selector("#helix-network canvas")
    page.wait_for_selector("#synergy-chart canvas")
    drawn: dict[str, Any] = page.evaluate(
        """() => {
          const option = echarts.getInstanceByDom(document.getElementById('helix-network'))
            .getOption().series[0];
          return {nodes: option.data.length, links: option.links.length};
        }"""
    )
    assert drawn == {"nodes": len(network["nodes"]), "links": len(network["edges"])}
    assert page.locator("#t-uig").get_attribute("data-value") == str(synergy["T_uig"])
    years = page.locator("#synergy-by-year tbody tr th").all_inner_texts()
    assert years == list(synergy["by_year"])
    page.screenshot(path=str(SCREENSHOTS / "helix-network.png"))
    watched.assert_clean()


def test_a_reviewer_with_a_conflict_of_interest_cannot_score(
    open_page: Callable[..., Watched], helix_city: City
) -> None:
    with helix_city.client() as client:
        applicant = client.post(
            "/api/helix/actors", json={"name": "Binh Duong Start-up Lab", "kind": "enterprise"}
        ).json()["id"]
        programme = client.post(
            "/api/helix/programmes", json={"name": "Browser test call", "kind": "st_research"}
        ).json()["id"]
        call = client.post(
            f"/api/helix/programmes/{programme}/calls",
            json={
                "title": "Open innovation 2026",
                "opens": "2020-01-01",
                "deadline": "2099-12-31",
                "criteria": [{"code": "merit", "name": "Merit", "max": 10}],
            },
        ).json()["id"]
        application = client.post(
            f"/api/helix/calls/{call}/applications",
            json={"applicant_actor_id": applicant, "title": "Flood sensing", "requested": 1e8},
        ).json()["id"]

    watched = open_page(helix_city, viewport={"width": 1280, "height": 900})
    page = watched.page
    sign_in(watched, helix_city, name=ANALYST, password=ANALYST_PASSWORD)
    page.goto(f"{helix_city.url}/helix/calls/{call}")
    page.get_by_role("link", name="Flood sensing").click()
    expect(page.locator("#score-form")).to_be_visible()
    page.get_by_label("What the conflict is").fill("I advise the applicant")
    page.get_by_role("button", name="Declare a conflict of interest").click()
    expect(page.locator("#conflict-bar")).to_contain_text("you cannot score it")
    expect(page.locator("#score-form")).to_have_count(0)
    page.screenshot(path=str(SCREENSHOTS / "helix-review-conflict.png"))

    # a score posted anyway (a stale page, a crafted form) is refused by the service
    token = page.locator("#decision-form input[name=csrf_token]").input_value()
    refused = page.request.post(
        f"{helix_city.url}/helix/applications/{application}/reviews",
        form={"csrf_token": token, "score-merit": "9"},
        max_redirects=0,
    )
    assert refused.status == 409
    assert "conflict of interest" in refused.text()
    with helix_city.client() as client:
        reviews = client.get(f"/api/helix/applications/{application}").json()["reviews"]
    assert reviews == [
        {
            "reviewer": ANALYST,
            "conflict": True,
            "conflict_note": "I advise the applicant",
            "scores": None,
            "score": None,
            "comment": None,
        }
    ]
    watched.assert_clean()


def test_the_open_data_page_lists_the_catalogue_and_downloads_every_format(
    open_page: Callable[..., Watched], helix_city: City, tmp_path: Path
) -> None:
    with helix_city.client() as client:
        catalogue = client.get("/api/open-data/catalog").json()
    titles = [d["dct:title"] for d in catalogue["dcat:dataset"]]
    assert titles
    watched = open_page(helix_city, viewport={"width": 1280, "height": 900})
    page = watched.page  # a visitor: no sign-in
    page.goto(f"{helix_city.url}/welcome")
    page.get_by_role("link", name="Open data", exact=True).click()
    expect(page.get_by_role("heading", name="Open data", exact=True)).to_be_visible()
    assert page.locator("#datasets h2").all_inner_texts() == titles
    first = catalogue["dcat:dataset"][0]
    card = page.locator(f"#dataset-{first['dct:identifier']}")
    magic = {"CSV": None, "GeoJSON": b"{", "Parquet": b"PAR1"}
    for file_type, starts in magic.items():
        with page.expect_download() as download:
            card.get_by_role("link", name=f"Download {file_type}").click()
        saved = tmp_path / f"download.{file_type.lower()}"
        download.value.save_as(saved)
        content = saved.read_bytes()
        assert content, file_type
        if starts is not None:
            assert content.startswith(starts), file_type
        else:
            assert content.splitlines()[0].startswith(b"id,name,")
    page.screenshot(path=str(SCREENSHOTS / "helix-open-data.png"))
    watched.assert_clean()
