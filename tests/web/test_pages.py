"""Every page in Chromium: no request to another origin, no console error, Vietnamese on
request, the sign-in flow and its refusals, phone width for the public pages."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import expect

from tests.web.browser import OPERATOR_PASSWORD, SCREENSHOTS, City, Watched, sign_in

PHONE = {"width": 390, "height": 844}


def test_every_page_loads_only_from_this_site_without_console_errors(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city, viewport={"width": 1280, "height": 800})
    page = watched.page
    page.goto(f"{sqlite_city.url}/")
    expect(page).to_have_url(f"{sqlite_city.url}/welcome")
    page.screenshot(path=str(SCREENSHOTS / "landing.png"))
    page.goto(f"{sqlite_city.url}/login")
    page.screenshot(path=str(SCREENSHOTS / "login.png"))
    sign_in(watched, sqlite_city)
    expect(page).to_have_url(f"{sqlite_city.url}/console")
    page.wait_for_function("() => window.cityhelixConsole && window.cityhelixConsole.ready")
    page.locator("summary", has_text="Operations").click()  # the console's links are grouped
    page.get_by_role("link", name="KPIs").click()
    expect(page.get_by_role("heading", name="Data hub KPIs")).to_be_visible()
    page.wait_for_selector("#rate-chart canvas")
    page.screenshot(path=str(SCREENSHOTS / "kpi.png"))
    page.get_by_role("link", name="API docs").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("CityHelix")
    page.goto(f"{sqlite_city.url}/")
    expect(page).to_have_url(f"{sqlite_city.url}/console")
    watched.assert_clean()


def test_staff_page_without_a_session_leads_to_login_and_back(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city)
    page = watched.page
    page.goto(f"{sqlite_city.url}/console/kpi")
    expect(page).to_have_url(f"{sqlite_city.url}/login?next=%2Fconsole%2Fkpi")
    page.get_by_label("User name").fill("ops")
    page.get_by_label("Password").fill(OPERATOR_PASSWORD)
    page.get_by_label("Password").press("Enter")  # the keyboard alone signs in
    expect(page).to_have_url(f"{sqlite_city.url}/console/kpi")
    page.get_by_label("User menu").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{sqlite_city.url}/welcome")
    page.goto(f"{sqlite_city.url}/console")
    expect(page).to_have_url(f"{sqlite_city.url}/login?next=%2Fconsole")
    watched.assert_clean()


def test_wrong_passwords_are_refused_then_slowed_down(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city)
    page = watched.page
    # a name of its own: the throttle counts per user name and address, for the process
    for _ in range(3):
        sign_in(watched, sqlite_city, name="guesser", password="not-the-password")
        expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    sign_in(watched, sqlite_city, name="guesser")
    expect(page.get_by_role("alert")).to_contain_text("Too many wrong passwords")
    expect(page).to_have_url(f"{sqlite_city.url}/login")
    # the refusals are the page's answer (401/429), logged by Chromium as failed loads
    assert all("401" in error or "429" in error for error in watched.errors), watched.errors
    assert watched.foreign == []


def test_switching_to_vietnamese_translates_the_pages_and_is_remembered(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city, viewport={"width": 1280, "height": 800})
    page = watched.page
    page.goto(f"{sqlite_city.url}/welcome")
    page.get_by_label("Language").select_option("vi")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Dữ liệu của thành phố, mở và trực tuyến"
    )
    page.get_by_role("link", name="Cán bộ đăng nhập").click()
    page.get_by_label("Tên đăng nhập").fill("ops")
    page.get_by_label("Mật khẩu").fill(OPERATOR_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(f"{sqlite_city.url}/console")
    page.wait_for_function("() => window.cityhelixConsole && window.cityhelixConsole.ready")
    page.locator("summary", has_text="Điều hành").click()
    expect(page.get_by_role("link", name="Bản đồ thành phố")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_label("Đèn đường")).to_be_checked()
    expect(page.locator("#map-summary")).to_contain_text("Đang hiển thị")
    expect(page.locator("#live-status")).to_have_text("Trực tuyến")
    page.screenshot(path=str(SCREENSHOTS / "console-map-vi.png"))
    watched.assert_clean()


def test_public_pages_fit_a_phone_screen(
    open_page: Callable[..., Watched], sqlite_city: City
) -> None:
    watched = open_page(sqlite_city, viewport=PHONE, is_mobile=True, has_touch=True)
    page = watched.page
    for path in ("/welcome", "/login"):
        page.goto(f"{sqlite_city.url}{path}")
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow} px wider than a phone"
    page.goto(f"{sqlite_city.url}/welcome")
    page.screenshot(path=str(SCREENSHOTS / "landing-phone.png"), full_page=True)
    watched.assert_clean()
