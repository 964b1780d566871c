"""Fixtures of the browser tests: Chromium for the session, a served demo city per backend."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.web.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    City,
    Watched,
    fresh_database,
    load_demo_province,
    served_city,
    watched_page,
)

#: how long `expect` waits in the browser tests
PATIENT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one module: Playwright's sync API runs an event loop in this thread
    while it is open, which async tests collected after the module could not run beside."""
    # Playwright's `expect` gives up after 5 s by default: on a loaded machine (2 cores, two
    # workers, a served city each) a page's write, redirect and render can take longer
    expect.set_options(timeout=PATIENT_MS)
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        expect.set_options(timeout=5_000)


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


@contextmanager
def demo_city(backend: str, tmp: Path) -> Iterator[City]:
    """A `cityhelix serve` process on a fresh database of `backend`: the demo province
    loaded, the operator who signs in with a password, the embedded MQTT broker."""
    with (
        fresh_database(backend, tmp) as url,
        served_city(
            url, tmp / "serve.log", operator=True, embedded_mqtt=True, populate=load_demo_province
        ) as served,
    ):
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[City]:
    """The demo city, on each database backend."""
    with demo_city(request.param, tmp_path_factory.mktemp(f"city-{request.param}")) as served:
        yield served


@pytest.fixture(scope="module")
def sqlite_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """The demo city on SQLite only, for flows that do not touch the database's dialect."""
    with demo_city("sqlite", tmp_path_factory.mktemp("city-sqlite-only")) as served:
        yield served
