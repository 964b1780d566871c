"""The public air-quality page in Chromium (SQLite): without signing in, every station is a
circle on the map in its VN_AQI category's colour (Decision 1459/QĐ-TCMT, Table 1), the table
lists the same index with its category and advice, in English and Vietnamese.

A `cityhelix serve` of its own without the demo province: the stations are the test's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.web.browser import SCREENSHOTS, City, Watched, fresh_database, served_city

MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"


@pytest.fixture(scope="module")
def air_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """`cityhelix serve` on a fresh SQLite database, MQTT off, no demo province."""
    tmp: Path = tmp_path_factory.mktemp("air-page")
    with fresh_database("sqlite", tmp) as url, served_city(url, tmp / "serve.log") as city:
        yield city


def _station(city: City, name: str, pm25: float | None) -> int:
    """An air station with PM2.5 `pm25` for each of the last three hours."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with city.client() as client:
        made = client.post(
            "/v1.1/Things",
            json={
                "name": name,
                "description": "air-quality station for the page test",
                "properties": {"kind": "air_quality", "district": "Thu Dau Mot"},
                "Locations": [
                    {
                        "name": f"{name} site",
                        "description": "",
                        "encodingType": "application/geo+json",
                        "location": {"type": "Point", "coordinates": [106.66, 10.99]},
                    }
                ],
                "Datastreams": [
                    {
                        "name": f"{name} PM2.5",
                        "description": "",
                        "observationType": MEASUREMENT,
                        "unitOfMeasurement": {"name": "ug/m3", "symbol": "ug/m3",
                                              "definition": "ug/m3"},
                        "Sensor": {"name": "BAM", "description": "", "encodingType": "text/html",
                                   "metadata": "x"},
                        "ObservedProperty": {"name": "PM2.5", "description": "",
                                             "definition": "https://example.org/pm25"},
                        "Observations": [
                            {"phenomenonTime": (now - timedelta(hours=h)).isoformat(),
                             "result": pm25}
                            for h in range(3)
                            if pm25 is not None
                        ],
                    }
                ],
            },
        )  # fmt: skip
        assert made.status_code == 201, made.text
        return int(made.headers["Location"].rsplit("(", 1)[1].rstrip(")"))


def test_the_air_page_shows_each_station_in_its_index_colour(
    open_page: Callable[..., Watched], air_city: City
) -> None:
    moderate = _station(air_city, "Air page moderate", 40.0)  # NowCast 40 -> 80, yellow
    bad = _station(air_city, "Air page bad", 100.0)  # 100 -> 150 + 50 * 20/70 = 164, red
    silent = _station(air_city, "Air page silent", None)
    watched = open_page(air_city, viewport={"width": 1300, "height": 900})
    page = watched.page
    page.goto(f"{air_city.url}/air")
    expect(page.get_by_role("heading", name="Air quality now (VN_AQI)")).to_be_visible()
    page.wait_for_function("() => window.cityhelixAir && window.cityhelixAir.ready")
    colours = {
        row["id"]: row["colour"]
        for row in page.evaluate("() => window.cityhelixAir.renderedColours()")
    }
    assert colours[moderate] == "#FFFF00" and colours[bad] == "#FF0000"
    assert colours[silent] == "#9aa3ab"  # no reading yet: no index, drawn grey
    row = page.locator(f'tr[data-thing-id="{bad}"]')
    expect(row).to_contain_text("164")
    expect(row).to_contain_text("Bad")
    swatch = row.locator(".swatch")
    assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 0, 0)"
    page.screenshot(path=str(SCREENSHOTS / "air-quality.png"))
    page.get_by_label("Language").select_option("vi")
    expect(
        page.get_by_role("heading", name="Chất lượng không khí hiện tại (VN_AQI)")
    ).to_be_visible()
    expect(page.locator(f'tr[data-thing-id="{moderate}"]')).to_contain_text("Trung bình")
    watched.assert_clean()
