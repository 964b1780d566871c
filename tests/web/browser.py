"""A served CityHelix for the browser tests (one start for all of them: `served_city`, with
the demo province, an operator who signs in, what each test needs), and Chromium.

The browser is Debian's Chromium driven by Playwright (its own browser download is not
used); every page a test opens records console errors and requests to other origins.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, Request

from cityhelix.demo.loader import load_province
from tests.conftest import ADMIN_TOKEN, _run_outside_loop
from tests.served import cli_env, serving

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
def served_city(
    database_url: str,
    log: Path,
    *,
    operator: bool = False,
    embedded_mqtt: bool = False,
    ready: str = "/v1.1",
    prepare: Callable[[str], Coroutine[Any, Any, None]] | None = None,
    populate: Callable[[City], Coroutine[Any, Any, None]] | None = None,
    **env: str,
) -> Iterator[City]:
    """`cityhelix serve` on `database_url` (output to `log`), the one start of every served
    city of the browser tests, stopped on exit.

    With the operator who signs in with a password (`operator`, made by the CLI first), the
    embedded MQTT broker on a free port (`embedded_mqtt`, else MQTT off unless `env` says
    otherwise), `prepare(database_url)` awaited before it starts and `populate(city)` once
    `ready` answers. Both run on a loop of their own: Playwright's sync API runs one in this
    thread.
    """
    if operator:
        made = cli(database_url, "users", "create", OPERATOR, "--role", "operator")
        assert made.returncode == 0, made.stdout + made.stderr
        password = cli(
            database_url, "users", "set-password", OPERATOR, stdin=OPERATOR_PASSWORD + "\n"
        )
        assert password.returncode == 0, password.stdout + password.stderr
    if prepare is not None:
        _run_on_own_loop(prepare(database_url))
    with serving(
        database_url,
        log,
        embedded_mqtt=embedded_mqtt,
        ready=ready,
        CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
        **env,
    ) as process:
        city = City(process.url, database_url, process.mqtt_port)
        if populate is not None:
            _run_on_own_loop(populate(city))
        yield city


def _run_on_own_loop(work: Coroutine[Any, Any, None]) -> None:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, work).result()


async def load_demo_province(city: City) -> None:
    """The demo province, loaded over HTTP as an integrator would."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=city.url, headers=headers, timeout=120) as client:
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
    watched: Watched,
    city: City,
    *,
    name: str = OPERATOR,
    password: str = OPERATOR_PASSWORD,
    then: str | None = None,
) -> None:
    """Sign in on the login page (going to `then` afterwards, when given)."""
    page = watched.page
    page.goto(f"{city.url}/login" + ("" if then is None else f"?next={then}"))
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
