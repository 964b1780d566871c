"""Fixtures of the browser tests: Chromium for the session, a served demo city per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.web.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    City,
    Watched,
    fresh_database,
    served_city,
    watched_page,
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module: Playwright's sync API runs an event loop in this thread
    while it is open, which async tests collected after the module could not run beside."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Watched]]:
    """Opens watched pages for one test and closes them after it (ending their streams)."""
    opened: list[Watched] = []

    def open_one(city: City, **context: object) -> Watched:
        watched = watched_page(browser, city, **context)
        opened.append(watched)
        return watched

    yield open_one
    for watched in opened:
        watched.page.context.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[City]:
    """A `cityhelix serve` process with the demo province, on each database backend."""
    tmp: Path = tmp_path_factory.mktemp(f"city-{request.param}")
    with fresh_database(request.param, tmp) as url, served_city(url, tmp / "serve.log") as served:
        yield served


@pytest.fixture(scope="module")
def sqlite_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """The demo city on SQLite only, for flows that do not touch the database's dialect."""
    tmp: Path = tmp_path_factory.mktemp("city-sqlite-only")
    with fresh_database("sqlite", tmp) as url, served_city(url, tmp / "serve.log") as served:
        yield served
