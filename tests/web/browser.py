"""A served CityHelix with the demo province and a signed-in-able operator, and Chromium.

The browser is Debian's Chromium driven by Playwright (its own browser download is not
used); every page a test opens records console errors and requests to other origins.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from cityhelix.demo.loader import load_province
from tests.conftest import ADMIN_TOKEN, _run_outside_loop
from tests.hub.processes import wait_until
from tests.served import cli_env, free_port

CHROMIUM = os.environ.get("CITYHELIX_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
OPERATOR = "ops"
OPERATOR_PASSWORD = "lantern-river-42"
_ROOT = Path(__file__).resolve().parents[2]
#: where the tests save their screenshots (git-ignored); `CITYHELIX_SCREENSHOTS=docs/img`
#: refreshes the ones the docs show
SCREENSHOTS = _ROOT / os.environ.get("CITYHELIX_SCREENSHOTS", "build/screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
START_SECONDS = 60.0


@dataclass
class City:
    """A served CityHelix process: its URL, database, MQTT port."""

    url: str
    database_url: str
    mqtt_port: int

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )


def cli(
    database_url: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=cli_env(database_url),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def fresh_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database of `backend` for one served city, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'web.db'}"
        return
    from tests.conftest import POSTGRES_ADMIN_DSN

    name = f"cityhelix_web_{uuid.uuid4().hex[:10]}"
    _run_outside_loop(f'CREATE DATABASE "{name}"')
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}"
    finally:
        _run_outside_loop(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def served_city(database_url: str, log: Path) -> Iterator[City]:
    """`cityhelix serve` with its embedded MQTT broker, an operator with a password, and the
    demo province loaded over HTTP."""
    made = cli(database_url, "users", "create", OPERATOR, "--role", "operator")
    assert made.returncode == 0, made.stdout + made.stderr
    password = cli(database_url, "users", "set-password", OPERATOR, stdin=OPERATOR_PASSWORD + "\n")
    assert password.returncode == 0, password.stdout + password.stderr
    port, mqtt_port = free_port(), free_port()
    env = cli_env(
        database_url, CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN, CITYHELIX_MQTT_PORT=str(mqtt_port)
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            assert process.poll() is None, log.read_text()
            try:
                return httpx.get(f"{url}/v1.1", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, START_SECONDS, "cityhelix serve to answer", every=0.1)
        # Playwright's sync API runs an event loop in this thread: load from another one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _load_demo(url)).result()
        yield City(url, database_url, mqtt_port)
    finally:
        process.terminate()
        process.wait(timeout=20)


async def _load_demo(url: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        await load_province(client)


@dataclass
class Watched:
    """A page and what it did wrong: console errors, requests to other origins."""

    page: Page
    origin: str
    errors: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.foreign == [], f"requests to other origins: {self.foreign}"
        assert self.errors == [], f"console errors: {self.errors}"


def watched_page(browser: Browser, city: City, **context: object) -> Watched:
    """A new page in its own context (no cookies), recording errors and foreign requests."""
    page = browser.new_context(**context).new_page()  # type: ignore[arg-type]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(city.url))
    watched = Watched(page, origin)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(f"{message.text} at {message.location}")

    def on_request(request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob"):
            return
        if f"{parts.scheme}://{parts.netloc}" != origin:
            watched.foreign.append(request.url)

    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    page.on("request", on_request)
    return watched


def sign_in(
    watched: Watched, city: City, *, name: str = OPERATOR, password: str = OPERATOR_PASSWORD
) -> None:
    page = watched.page
    page.goto(f"{city.url}/login")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
