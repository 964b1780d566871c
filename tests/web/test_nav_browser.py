"""The staff's top bar in Chromium: at 1,400 px it is one line whose groups open as
dropdowns (one at a time, by mouse and by keyboard, closed by Escape or a click elsewhere)
and whose links navigate; at 360 px it is one "Menu" that shows every link with nothing
wider than the screen; each role reaches exactly the links it reached before the grouping;
and the signed-in pages keep their CSP with no inline script.

On SQLite only (`sqlite_city`): the bar reads nothing from the database but the user.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.db.engine import create_engine
from cityhelix.settings import Settings
from cityhelix.web.const import LANGUAGE_COOKIE
from tests.web.browser import OPERATOR, OPERATOR_PASSWORD, SCREENSHOTS, City, Watched

WIDE: ViewportSize = {"width": 1400, "height": 900}
PHONE: ViewportSize = {"width": 360, "height": 740}
PASSWORD = "signal-tower-2026"

#: the console's links as base.html offered them before the grouping (the contract):
#: every staff role sees these...
STAFF_LINKS = {
    "/console": "City map",
    "/console/alerts": "Alerts",
    "/console/incidents": "Incidents",
    "/console/rules": "Rules",
    "/console/kpi": "KPIs",
    "/air": "Air quality",
    "/console/water": "Water levels",
    "/console/traffic": "Traffic",
    "/console/lighting": "Street lighting",
    "/helix": "Triple Helix",
    "/docs": "API docs",
}
#: ...analysts and admins the investment pages, and all but the department clerks the parks
INVESTMENT = {"/invest/staff/pipeline": "Investment"}
PARKS = {"/parks": "Parks"}
EXPECTED_LINKS = {
    Role.ADMIN: STAFF_LINKS | INVESTMENT | PARKS,
    Role.OPERATOR: STAFF_LINKS | PARKS,
    Role.ANALYST: STAFF_LINKS | INVESTMENT | PARKS,
    Role.DEPARTMENT: STAFF_LINKS,
    Role.TENANT: PARKS,
}
#: the disclosures each role sees (a group of one visible link is that link)
EXPECTED_GROUPS = {
    Role.ADMIN: ["Operations", "City services"],
    Role.OPERATOR: ["Operations", "City services"],
    Role.ANALYST: ["Operations", "City services"],
    Role.DEPARTMENT: ["Operations", "City services"],
    Role.TENANT: [],
}
GROUP_LINKS = {
    "Operations": ["/console", "/console/alerts", "/console/incidents", "/console/rules",
                   "/console/kpi"],
    "City services": ["/air", "/console/water", "/console/traffic", "/console/lighting",
                      "/parks"],
}  # fmt: skip

#: every visible control of the bar, with its box (the one-line check)
BAR_BOXES = """() => {
  const bar = document.querySelector("header.topbar");
  const items = [...bar.querySelectorAll("a, summary, label, select, button")]
    .filter((element) => element.checkVisibility({ visibilityProperty: true }))
    .map((element) => {
      const box = element.getBoundingClientRect();
      return { text: element.textContent.trim(), top: box.top, bottom: box.bottom };
    });
  return { height: bar.getBoundingClientRect().height, items };
}"""
#: how much wider than the window the page is (0 or less: no horizontal scroll)
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


async def _create_users(database_url: str, users: dict[Role, str]) -> None:
    engine = create_engine(Settings(database_url=database_url))
    try:
        for role, name in users.items():
            await create_user(engine, name, role, "water" if role is Role.DEPARTMENT else None)
            await set_password(engine, name, PASSWORD)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def accounts(sqlite_city: City) -> dict[Role, tuple[str, str]]:
    """A user of each role that signs in on the web, by role: (name, password)."""
    made = {role: f"nav-{role.value}" for role in (Role.ADMIN, Role.ANALYST, Role.DEPARTMENT,
                                                   Role.TENANT)}  # fmt: skip
    # Playwright's sync API may run a loop in this thread: write from another one
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _create_users(sqlite_city.database_url, made)).result()
    return {Role.OPERATOR: (OPERATOR, OPERATOR_PASSWORD)} | {
        role: (name, PASSWORD) for role, name in made.items()
    }


def _signed_in(
    open_page: Callable[..., Watched],
    city: City,
    account: tuple[str, str],
    next_page: str,
    *,
    language: str = "en",
    **context: Any,
) -> Watched:
    """A page of a new context signed in as `account` and on `next_page`."""
    watched = open_page(city, **context)
    page = watched.page
    page.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language, "url": city.url}])
    page.goto(f"{city.url}/login?next={quote(next_page, safe='')}")
    name, password = account
    page.locator("#username").fill(name)
    page.locator("#password").fill(password)
    page.locator("#password").press("Enter")
    expect(page).to_have_url(f"{city.url}{next_page}")
    return watched


def _nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name=re.compile(r"^(Console|Bảng điều khiển)$"))


def _visible_links(page: Page) -> dict[str, str]:
    """href → text of the Console navigation's links the user sees now."""
    links = _nav(page).get_by_role("link")
    return {
        str(link.get_attribute("href")): link.inner_text().strip()
        for link in links.all()
        if link.is_visible()
    }


def _summaries(page: Page) -> list[str]:
    return [s.inner_text().strip() for s in _nav(page).locator("summary").all() if s.is_visible()]


def _group(page: Page, name: str) -> Locator:
    """The <details> of the group `name`."""
    named = page.locator("summary", has_text=re.compile(f"^{name}$"))
    return _nav(page).locator("details", has=named)


def _assert_one_line(page: Page, where: str, *, least: int = 10) -> None:
    """Every control the closed bar shows is on one row, and the bar is that row's height."""
    bar = page.evaluate(BAR_BOXES)
    items = bar["items"]
    assert len(items) >= least, f"{where}: the bar shows only {items}"
    lowest_top = max(item["top"] for item in items)
    highest_bottom = min(item["bottom"] for item in items)
    below = [i["text"] for i in items if i["top"] >= highest_bottom]
    assert lowest_top < highest_bottom, f"{where}: on a second line: {below}"
    tallest = max(item["bottom"] - item["top"] for item in items)
    # one row: the tallest control and the bar's padding, not two rows' worth
    assert bar["height"] <= tallest + 24, f"{where}: the bar is {bar['height']} px high"


def test_the_bar_is_one_line_at_1400_px_in_english_and_vietnamese(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
) -> None:
    for language in ("en", "vi"):
        watched = _signed_in(
            open_page, sqlite_city, accounts[Role.ADMIN], "/console/alerts",
            language=language, viewport=WIDE,
        )  # fmt: skip
        page = watched.page
        expect(page.locator("html")).to_have_attribute("lang", language)
        _assert_one_line(page, f"/console/alerts in {language}")
        if language == "en":
            page.screenshot(path=str(SCREENSHOTS / "nav-wide.png"))
            _group(page, "Operations").locator("summary").click()
            page.screenshot(path=str(SCREENSHOTS / "nav-wide-operations.png"))
        else:
            expect(_nav(page).locator("summary")).to_have_text(["Điều hành", "Dịch vụ đô thị"])
        watched.assert_clean()


def test_each_group_opens_one_at_a_time_and_its_links_navigate(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
) -> None:
    watched = _signed_in(
        open_page, sqlite_city, accounts[Role.ADMIN], "/console/alerts", viewport=WIDE
    )
    page = watched.page
    operations, services = _group(page, "Operations"), _group(page, "City services")
    # the current page's link, and a marker on its group's (closed) summary
    expect(operations.locator("summary")).to_have_attribute("aria-current", "true")
    expect(services.locator("summary")).not_to_have_attribute("aria-current", "true")
    alerts = operations.locator('a[href="/console/alerts"]')  # a hidden link has no role
    expect(alerts).to_have_attribute("aria-current", "page")
    expect(alerts).to_be_hidden()

    operations.locator("summary").click()
    expect(operations.get_by_role("link", name="KPIs")).to_be_visible()
    services.locator("summary").click()
    expect(operations).not_to_have_attribute("open", "")
    expect(services.get_by_role("link", name="Traffic")).to_be_visible()
    page.get_by_label("User menu").click()  # the user menu is one of the bar's menus too
    expect(services).not_to_have_attribute("open", "")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    page.locator("main h1").click()  # a click elsewhere
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()

    for group, hrefs in GROUP_LINKS.items():
        for href in hrefs:
            summary = _group(page, group).locator("summary")
            summary.click()
            _group(page, group).locator(f'a[href="{href}"]').click()
            expect(page).to_have_url(f"{sqlite_city.url}{href}")
            current = _nav(page).locator('a[aria-current="page"]')
            expect(current).to_have_attribute("href", href)
            expect(_group(page, group).locator("summary")).to_have_attribute("aria-current", "true")
            expect(_nav(page).locator("summary[aria-current]")).to_have_count(1)
            _assert_one_line(page, href)
    for href, name in (("/invest/staff/pipeline", "Investment"), ("/helix", "Triple Helix")):
        _nav(page).get_by_role("link", name=name, exact=True).click()
        expect(page).to_have_url(f"{sqlite_city.url}{href}")
        expect(_nav(page).get_by_role("link", name=name, exact=True)).to_have_attribute(
            "aria-current", "page"
        )
        expect(_nav(page).locator("summary[aria-current]")).to_have_count(0)
    _nav(page).get_by_role("link", name="API docs").click()
    expect(page).to_have_url(f"{sqlite_city.url}/docs")
    watched.assert_clean()


def test_the_groups_work_from_the_keyboard(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
) -> None:
    watched = _signed_in(
        open_page, sqlite_city, accounts[Role.ADMIN], "/console/alerts", viewport=WIDE
    )
    page = watched.page
    operations, services = _group(page, "Operations"), _group(page, "City services")
    summary = operations.locator("summary")
    for _ in range(10):  # the skip link, the brand, then the first group
        page.keyboard.press("Tab")
        if summary.evaluate("element => element === document.activeElement"):
            break
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    expect(operations).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    expect(operations.get_by_role("link", name="City map")).to_be_focused()
    page.keyboard.press("Escape")  # closes, and the focus goes back to the summary
    expect(operations).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
    page.keyboard.press("Enter")
    for name in ("City map", "Alerts", "Incidents", "Rules", "KPIs"):
        page.keyboard.press("Tab")
        expect(operations.get_by_role("link", name=name)).to_be_focused()
    page.keyboard.press("Tab")  # on to the next group: the one left behind closes
    expect(services.locator("summary")).to_be_focused()
    expect(operations).not_to_have_attribute("open", "")
    page.keyboard.press(" ")
    expect(services).to_have_attribute("open", "")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(services.get_by_role("link", name="Water levels")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{sqlite_city.url}/console/water")
    watched.assert_clean()


def test_at_360_px_one_menu_shows_every_link_and_nothing_overflows(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
) -> None:
    watched = _signed_in(
        open_page, sqlite_city, accounts[Role.ADMIN], "/console/alerts",
        viewport=PHONE, is_mobile=True, has_touch=True,
    )  # fmt: skip
    page = watched.page
    assert page.evaluate(OVERFLOW) <= 0, "the page scrolls sideways"
    menu = page.locator("summary", has_text=re.compile("^Menu$"))
    expect(menu).to_be_visible()
    assert _visible_links(page) == {}, "links show before the Menu opens"
    bar = page.locator("header.topbar").bounding_box()
    assert bar is not None and bar["height"] < 80, f"the closed bar is {bar} high"

    menu.click()
    assert _visible_links(page) == EXPECTED_LINKS[Role.ADMIN]
    assert page.evaluate(OVERFLOW) <= 0, "the open Menu scrolls sideways"
    for link in _nav(page).get_by_role("link").all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    expect(page.get_by_role("link", name="Report a problem")).to_be_visible()
    expect(page.get_by_label("Language")).to_be_visible()
    expect(_nav(page).get_by_role("link", name="Alerts")).to_have_attribute("aria-current", "page")
    page.screenshot(path=str(SCREENSHOTS / "nav-phone-menu.png"))

    page.get_by_label("User menu").click()  # one menu at a time here too
    expect(_nav(page).get_by_role("link", name="Alerts")).to_be_hidden()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()

    menu.click()
    _nav(page).get_by_role("link", name="Water levels").click()
    expect(page).to_have_url(f"{sqlite_city.url}/console/water")
    assert page.evaluate(OVERFLOW) <= 0, "/console/water scrolls sideways"
    watched.assert_clean()


def test_the_menus_open_and_close_without_javascript(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
) -> None:
    watched = _signed_in(
        open_page, sqlite_city, accounts[Role.ADMIN], "/console/alerts",
        viewport=WIDE, java_script_enabled=False,
    )  # fmt: skip
    page = watched.page
    operations, services = _group(page, "Operations"), _group(page, "City services")
    operations.locator("summary").click()
    expect(operations.get_by_role("link", name="KPIs")).to_be_visible()
    services.locator("summary").click()  # the groups share a name: one open at a time
    expect(operations).not_to_have_attribute("open", "")
    expect(services.get_by_role("link", name="Parks")).to_be_visible()
    services.get_by_role("link", name="Parks").click()
    expect(page).to_have_url(f"{sqlite_city.url}/parks")

    page.set_viewport_size(PHONE)
    page.locator("summary", has_text=re.compile("^Menu$")).click()
    assert _visible_links(page) == EXPECTED_LINKS[Role.ADMIN]
    assert page.evaluate(OVERFLOW) <= 0
    watched.assert_clean()


@pytest.mark.parametrize(
    "role", [Role.ADMIN, Role.OPERATOR, Role.ANALYST, Role.DEPARTMENT, Role.TENANT],
    ids=lambda role: role.value,
)  # fmt: skip
def test_each_role_reaches_exactly_the_links_it_had(
    open_page: Callable[..., Watched],
    sqlite_city: City,
    accounts: dict[Role, tuple[str, str]],
    role: Role,
) -> None:
    start = "/parks" if role is Role.TENANT else "/console/alerts"
    watched = _signed_in(open_page, sqlite_city, accounts[role], start, viewport=WIDE)
    page = watched.page
    summaries = _summaries(page)
    reached = _visible_links(page)
    for group in summaries:
        _group(page, group).locator("summary").click()
        reached |= _visible_links(page)
    assert reached == EXPECTED_LINKS[role]  # (main's flat bar passes this line too)
    assert summaries == EXPECTED_GROUPS[role]
    page.keyboard.press("Escape")
    _assert_one_line(page, f"{role.value}'s bar", least=6)

    page.set_viewport_size(PHONE)
    page.keyboard.press("Escape")
    page.locator("summary", has_text=re.compile("^Menu$")).click()
    assert _visible_links(page) == EXPECTED_LINKS[role]
    watched.assert_clean()


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "no CSRF field in the form"
    return match.group(1)


@pytest.fixture
def admin_client(
    sqlite_city: City, accounts: dict[Role, tuple[str, str]]
) -> Iterator[httpx.Client]:
    """An HTTP client signed in as the admin through the sign-in form."""
    name, password = accounts[Role.ADMIN]
    with httpx.Client(base_url=sqlite_city.url, timeout=60) as client:
        form = client.get("/login")
        signed = client.post(
            "/login",
            data={"csrf_token": _csrf(form.text), "username": name, "password": password,
                  "next": "/console"},
        )  # fmt: skip
        assert signed.status_code == 303, signed.text
        yield client


def test_signed_in_pages_keep_the_csp_and_no_inline_script(admin_client: httpx.Client) -> None:
    for path in ("/console", "/console/alerts", "/console/kpi", "/air", "/parks", "/helix",
                 "/invest/staff/pipeline"):  # fmt: skip
        page = admin_client.get(path)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy, path
        scripts = re.findall(r"<script\b[^>]*>", page.text)
        assert scripts and all(" src=" in tag for tag in scripts), (path, scripts)
        bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", page.text, re.DOTALL)
        assert all(not body.strip() for body in bodies), f"{path}: an inline script"
        assert re.search(r"\son[a-z]+\s*=", page.text) is None, f"{path}: an event attribute"
        header = page.text[page.text.index("<header") : page.text.index("</header>")]
        assert ' style="' not in header, f"{path}: an inline style in the bar"
        assert '<script src="/static/js/topbar.js" defer></script>' in page.text, path
    script = admin_client.get("/static/js/topbar.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
