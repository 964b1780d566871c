"""The city services' pages in Chromium (SQLite, one served city for the module): an
operator opens the water, traffic, street-lighting and parks pages over crafted data; the key
figures on each equal what the city API answers, the water page draws each gauge's bar and
its 24-hour chart from the page's JSON, and no page asks another origin or logs an error.
Screenshots are saved for the docs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.city.factories import CATEGORY, stream
from tests.web.browser import SCREENSHOTS, City, Watched, fresh_database, served_city, sign_in

WIDE = {"width": 1400, "height": 1000}


@pytest.fixture(scope="module")
def crafted_city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    """`cityhelix serve` on a fresh SQLite database (MQTT off, no demo province) with an
    operator who signs in with a password; the data are each test's."""
    tmp: Path = tmp_path_factory.mktemp("city-pages")
    with (
        fresh_database("sqlite", tmp) as url,
        served_city(url, tmp / "serve.log", operator=True) as city,
    ):
        yield city


def wire(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _thing(
    client: httpx.Client, name: str, properties: dict[str, Any], streams: list[dict[str, Any]]
) -> tuple[int, dict[str, int]]:
    """A Thing at Thu Dau Mot with `streams`; (its id, Datastream id by property name)."""
    made = client.post(
        "/v1.1/Things",
        json={
            "name": name,
            "description": name,
            "properties": properties,
            "Locations": [
                {
                    "name": f"{name} site",
                    "description": "site",
                    "encodingType": "application/geo+json",
                    "location": {"type": "Point", "coordinates": [106.65, 10.98]},
                }
            ],
            "Datastreams": streams,
        },
    )
    assert made.status_code == 201, made.text
    thing_id = int(made.json()["@iot.id"])
    listed = client.get(
        f"/v1.1/Things({thing_id})/Datastreams", params={"$expand": "ObservedProperty"}
    )
    return thing_id, {
        d["ObservedProperty"]["name"]: int(d["@iot.id"]) for d in listed.json()["value"]
    }


def _readings(
    client: httpx.Client,
    datastream_id: int,
    rows: list[tuple[datetime, Any]],
    parameters: list[dict[str, Any]] | None = None,
) -> None:
    components = ["phenomenonTime", "result"] + (["parameters"] if parameters else [])
    data = [
        [wire(time), result] + ([parameters[i]] if parameters else [])
        for i, (time, result) in enumerate(rows)
    ]
    answer = client.post(
        "/v1.1/CreateObservations",
        json=[{"Datastream": {"@iot.id": datastream_id}, "components": components,
               "dataArray": data}],
    )  # fmt: skip
    assert answer.status_code == 201, answer.text


def _signed_in(open_page: Callable[..., Watched], city: City, path: str) -> tuple[Watched, Page]:
    watched = open_page(city, viewport=WIDE)
    sign_in(watched, city)
    page = watched.page
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    page.goto(f"{city.url}{path}")
    page.wait_for_load_state("domcontentloaded")
    return watched, page


def _figure(page: Page, row: str, name: str) -> str | None:
    return page.locator(f'{row} [data-figure="{name}"]').first.get_attribute("data-value")


def test_the_water_page_draws_each_gauge_as_the_api_says(
    open_page: Callable[..., Watched], crafted_city: City
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    with crafted_city.client() as client:
        gauge, ids = _thing(
            client, "Thu Dau Mot gauge", {"kind": "water_level", "station_code": "TDM-SG"},
            [stream("Water level", "cm"), stream("Rainfall", "mm/h")],
        )  # fmt: skip
        steps = [(now - timedelta(minutes=10 * k), 145 - 4 * k) for k in range(12, -1, -1)]
        _readings(client, ids["Water level"], steps)
        _readings(client, ids["Rainfall"], [(now, 32.5)])
        api = client.get(f"/api/city/water/gauges/{gauge}").json()
    watched, page = _signed_in(open_page, crafted_city, "/console/water")
    page.wait_for_function("() => window.cityhelixWater && window.cityhelixWater.ready")
    row = f'#water-gauges tr[data-thing-id="{gauge}"]'
    for name in ("level_m", "reached", "rate_cm_per_h", "hours_to_next_level", "rain_mm_per_h"):
        assert _figure(page, row, name) == ("" if api[name] is None else str(api[name])), name
    expect(page.locator(row)).to_contain_text("Level II")
    expect(page.locator(f"{row} td").first).to_have_text("1.45")
    bar = page.locator(f"#gauge-{gauge} .water-bar")
    floor, top = (float(bar.get_attribute(f"data-{end}") or "nan") for end in ("floor", "top"))
    share = bar.evaluate("e => e.firstElementChild.getBoundingClientRect().width / e.clientWidth")
    assert share == pytest.approx((1.45 - floor) / (top - floor), abs=0.01)
    points = page.evaluate(f"() => window.cityhelixWater.points[{gauge}]")
    day = page.request.get(f"{crafted_city.url}/console/water/{gauge}/day.json").json()
    assert points == day["points"] and len(points) == 13
    assert page.locator(f"#gauge-{gauge} canvas").count() >= 1
    expect(page.locator(f'#gauge-{gauge} a[href="/console?thing={gauge}"]')).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "city-water.png"), full_page=True)
    watched.assert_clean()


def test_traffic_lighting_and_parks_show_the_apis_figures(
    open_page: Callable[..., Watched], crafted_city: City
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    yesterday_noon = (now - timedelta(days=1)).replace(hour=5, minute=0)  # 12:00 in the province
    with crafted_city.client() as client:
        counter, counter_ids = _thing(
            client, "Counter QL13-02",
            {"kind": "traffic", "road_segment": "QL13 km 12", "free_flow_speed_kmh": 60},
            [stream("Vehicle count", "vehicles"), stream("Speed", "km/h")],
        )  # fmt: skip
        minutes = [now - timedelta(minutes=m) for m in (10, 5, 0)]
        _readings(client, counter_ids["Vehicle count"], [(m, 160) for m in minutes])
        _readings(client, counter_ids["Speed"], [(m, 12) for m in minutes])
        camera, camera_ids = _thing(
            client, "Camera Ngã tư 550", {"kind": "camera", "district": "Thu Dau Mot"},
            [stream("Camera event", "event", CATEGORY)],
        )  # fmt: skip
        events = [
            (now - timedelta(minutes=50), "vehicle_count", {"vehicle_class": "car", "count": 7}),
            (now - timedelta(minutes=40), "red_light",
             {"confidence": 0.88, "clip_url": "https://gw.example/clip/1.mp4"}),
        ]  # fmt: skip
        _readings(
            client, camera_ids["Camera event"], [(t, e) for t, e, _ in events],
            [p for _, _, p in events],
        )  # fmt: skip
        lamp = client.post(
            "/api/city/lighting/lamps",
            json={"name": "Lamp Yersin 1", "kind": "lamp", "lon": 106.652, "lat": 10.98,
                  "district": "Thu Dau Mot", "road": "Yersin", "cabinet": "TDM-01",
                  "rated_watts": 100},
        ).json()  # fmt: skip
        schedule = client.post(
            "/api/city/lighting/schedules",
            json={"name": "Thu Dau Mot nights",
                  "group": {"kind": "district", "value": "Thu Dau Mot"},
                  "profile": [{"from": "23:00", "level": 60}]},
        ).json()  # fmt: skip
        evening = yesterday_noon + timedelta(hours=7)
        power = [(yesterday_noon, 80), (yesterday_noon + timedelta(minutes=30), 0), (evening, 60),
                 (evening + timedelta(hours=2), 60), (evening + timedelta(hours=3), 0)]  # fmt: skip
        _readings(client, lamp["power_datastream_id"], power)
        faults = client.get(
            "/api/city/lighting/faults",
            params={"from": wire(yesterday_noon - timedelta(hours=1)),
                    "to": wire(yesterday_noon + timedelta(hours=3))},
        )  # fmt: skip
        assert faults.status_code == 200, faults.text
        for tenant, cod in (("Kumho Tire", 180), ("Minh Long", 90)):
            _, ids = _thing(
                client, f"Connection {tenant}",
                {"kind": "park_tenant", "park": "VSIP II", "tenant": tenant,
                 "qcvn40_column": "B", "output_per_month": 100, "output_unit": "t"},
                [stream("COD", "mg/l"), stream("Water consumption", "m3")],
            )  # fmt: skip
            hours = [now - timedelta(hours=h) for h in range(1, 7)]
            _readings(client, ids["COD"], [(t, cod if i % 2 else 100) for i, t in enumerate(hours)])
            _readings(client, ids["Water consumption"], [(t, 25) for t in hours])
        level = client.get("/api/city/traffic/levels", params={"thing_id": counter}).json()

        watched, page = _signed_in(open_page, crafted_city, "/console/traffic")
        page.wait_for_function("() => window.cityhelixTraffic && window.cityhelixTraffic.ready")
        row = f'#traffic-segments tr[data-thing-id="{counter}"]'
        assert _figure(page, row, "level") == level["value"][0]["level"] == "jammed"
        expect(page.locator(row)).to_contain_text("Jammed")
        swatch = page.locator(f"{row} .swatch")
        assert swatch.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(164, 14, 38)"
        window = page.locator("#camera-window")
        period = {"from": window.get_attribute("data-from"), "to": window.get_attribute("data-to")}
        listed = client.get(f"/api/city/traffic/cameras/{camera}/events", params=period).json()
        assert _figure(page, f"#camera-{camera}", "event_count") == str(listed["count"]) == "2"
        clip = page.get_by_role("link", name="Open the clip")
        expect(clip).to_have_attribute("href", "https://gw.example/clip/1.mp4")
        page.screenshot(path=str(SCREENSHOTS / "city-traffic.png"), full_page=True)

        page.goto(f"{crafted_city.url}/console/lighting")
        page.wait_for_load_state("domcontentloaded")
        table = page.locator("#lighting-energy")
        energy = client.get(
            "/api/city/lighting/energy",
            params={"from": table.get_attribute("data-from"), "to": table.get_attribute("data-to")},
        ).json()
        group = energy["groups"][0]
        district = f'#lighting-energy tr[data-group="{group["group"]}"]'
        for name in ("kwh", "baseline_kwh", "savings_kwh", "savings_percent"):
            assert _figure(page, district, name) == str(group[name]), name
        assert group["savings_kwh"] > 0
        expect(
            page.locator(f'#lighting-schedules tr[data-schedule-id="{schedule["id"]}"]')
        ).to_contain_text("60 % from 23:00")
        expect(page.locator('#lighting-faults tr[data-fault="day_burner"]')).to_contain_text(
            "Lamp Yersin 1"
        )
        page.screenshot(path=str(SCREENSHOTS / "city-lighting.png"), full_page=True)

        page.goto(f"{crafted_city.url}/parks")
        page.wait_for_load_state("domcontentloaded")
        window = page.locator("#parks-window")
        overview = client.get(
            "/api/city/parks/VSIP II",
            params={
                "from": window.get_attribute("data-from"),
                "to": window.get_attribute("data-to"),
            },
        ).json()
        for name in ("compliance_rate", "readings_checked", "exceedances"):
            assert _figure(page, "#park-overview", name) == str(overview[name]), name
        assert (overview["readings_checked"], overview["exceedances"]) == (12, 3)
        expect(page.locator('#exceedances-by-tenant tr[data-tenant="Kumho Tire"]')).to_be_visible()
        expect(page.locator(".park-station").first).to_contain_text("QCVN 40:2011/BTNMT")
        page.screenshot(path=str(SCREENSHOTS / "city-parks.png"), full_page=True)
        page.get_by_label("Language").select_option("vi")
        expect(
            page.get_by_role("heading", name="Khu công nghiệp: tuân thủ môi trường")
        ).to_be_visible()
        watched.assert_clean()
