"""The citizen's report, the wall screen and the clustered map in Chromium, on the demo city
(SQLite): a report with a photo filed at phone size and found by the operator; the wall's
figures equal to `/api/ops/kpis`; the map's clusters opening as it zooms in. Every page
loads only from this site and logs no console error."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser import SCREENSHOTS, City, Watched, sign_in
from tests.web.test_kpi_http import expected_figures
from tests.web.test_report_http import PNG

PHONE = {"width": 375, "height": 812}
#: the phone's position: in Di An
HERE = {"latitude": 10.9068, "longitude": 106.769}


def test_a_citizen_files_a_report_with_a_photo_on_a_phone_and_the_operator_finds_it(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(
        sqlite_city,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation=HERE,
        permissions=["geolocation"],
    )
    page = watched.page
    page.goto(f"{sqlite_city.url}/report")
    page.wait_for_function("() => window.cityhelixReport && window.cityhelixReport.ready")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the report page is {overflow} px wider than a phone"
    page.get_by_label("What is the problem?").select_option("road_damage")
    page.get_by_role("button", name="Use my location").click()
    expect(page.locator("#pin-status")).to_contain_text("Pin placed at 10.90680, 106.76900")
    page.get_by_label("Describe the problem").fill("A deep pothole in the left lane")
    page.get_by_label(re.compile("^Photo")).set_input_files(
        files=[{"name": "pothole.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.screenshot(path=str(SCREENSHOTS / "report-phone.png"), full_page=True)
    page.get_by_role("button", name="Send the report").click()
    expect(page).to_have_url(re.compile(r"/report/\d+\?filed=1$"))
    number = int(page.locator("#tracking-number").inner_text())

    page.goto(f"{sqlite_city.url}/report/{number}")
    expect(page.locator("#report-status")).to_have_text("Received")
    expect(page.locator("#report-timeline li")).to_have_count(1)
    page.screenshot(path=str(SCREENSHOTS / "report-status-phone.png"), full_page=True)
    watched.assert_clean()

    with sqlite_city.client() as operator:
        incident = operator.get(f"/api/ops/incidents/{number}").json()
        listed = operator.get("/api/ops/incidents", params={"category": "road_damage"}).json()
    assert number in [i["id"] for i in listed["value"]]
    assert (incident["source"], incident["channel"], incident["district"]) == (
        "citizen",
        "web",
        "di_an",
    )
    assert incident["location"]["coordinates"] == [106.769, 10.9068]
    assert incident["description"] == "A deep pothole in the left lane"
    assert [(a["media_type"], a["size"]) for a in incident["attachments"]] == [
        ("image/png", len(PNG))
    ]
    # and on the operator's incident board, with the citizen's words and photo
    desk = open_page(sqlite_city)
    sign_in(desk, sqlite_city)
    desk.page.goto(f"{sqlite_city.url}/console/incidents")
    card = desk.page.locator(f'a[href="/console/incidents/{number}"]').first
    expect(card).to_be_visible()
    card.click()
    expect(desk.page.get_by_text("A deep pothole in the left lane")).to_be_visible()
    expect(desk.page.get_by_text("pothole.png").first).to_be_visible()
    desk.assert_clean()


def test_the_wall_screen_shows_the_figures_the_kpi_api_answers(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    with sqlite_city.client() as operator:
        for category in ("flooding", "traffic_signal"):
            made = operator.post(
                "/api/ops/incidents", json={"category": category, "title": f"{category} test"}
            )
            assert made.status_code == 201, made.text
        acknowledged = operator.patch(
            f"/api/ops/incidents/{made.json()['id']}", json={"status": "assigned"}
        )
        assert acknowledged.status_code == 200, acknowledged.text
    watched = open_page(sqlite_city, viewport={"width": 1920, "height": 1080})
    sign_in(watched, sqlite_city)
    page = watched.page
    expect(page).to_have_url(f"{sqlite_city.url}/console")
    page.goto(f"{sqlite_city.url}/console/kpi?layout=wall")
    expect(page.locator("#wall-live")).to_have_text("Live")
    expect(page.locator(".topbar")).to_have_count(0)
    shown = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('[data-kpi]')].map(
             (e) => [e.dataset.kpi, e.dataset.value]))"""
    )
    window = page.locator("#ops-figures")
    with sqlite_city.client() as operator:
        kpis = operator.get(
            "/api/ops/kpis",
            params={
                "from": window.get_attribute("data-from"),
                "to": window.get_attribute("data-to"),
            },
        ).json()
    expected = expected_figures(kpis)
    assert {k: shown.get(k) for k in expected} == expected
    assert int(shown["open_total"]) >= 2
    # the demo province's air stations: each district's VN_AQI in its band colour
    assert page.locator("#air-quality tbody tr .aqi-swatch[data-colour^='#']").count() >= 1
    page.screenshot(path=str(SCREENSHOTS / "kpi-wall.png"))
    watched.assert_clean()


def test_the_map_loads_clustered_and_its_clusters_open_as_it_zooms_in(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city, viewport={"width": 1400, "height": 900})
    sign_in(watched, sqlite_city)
    page = watched.page
    expect(page).to_have_url(f"{sqlite_city.url}/console")
    # at most 10 devices as themselves: the demo's 43 are "many" for this view
    page.goto(f"{sqlite_city.url}/console?points=10")
    page.wait_for_function("() => window.cityhelixConsole && window.cityhelixConsole.ready")
    console = "window.cityhelixConsole"
    shown, points, clusters, clustered, zoom = page.evaluate(
        f"() => [{console}.shownCount(), {console}.pointCount(), {console}.clusterCount(),"
        f" {console}.clusteredCount(), {console}.map().getZoom()]"
    )
    assert clusters > 0
    assert points + clustered == shown
    page.screenshot(path=str(SCREENSHOTS / "console-map-clusters.png"))
    biggest = page.locator("button.cluster").first
    label = biggest.get_attribute("aria-label") or ""
    assert re.match(r"^\d+ devices here: zoom in \(", label)
    loaded = page.evaluate(f"() => {console}.viewLoaded")
    biggest.focus()
    page.keyboard.press("Enter")  # a cluster is a button: the keyboard opens it too
    page.wait_for_function(f"() => {console}.viewLoaded > {loaded}")
    closer_zoom, closer_points = page.evaluate(
        f"() => [{console}.map().getZoom(), {console}.pointCount()]"
    )
    assert closer_zoom >= zoom + 1
    assert closer_points >= 2  # the cluster's devices, each as itself
    watched.assert_clean()
