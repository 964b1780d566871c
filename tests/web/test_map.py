"""The city map in Chromium: sign in, see the demo markers, watch a marker change live, open
a device's panel; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
from playwright.sync_api import expect

from tests.conftest import ADMIN_TOKEN
from tests.web.browser import SCREENSHOTS, City, Watched, sign_in

#: the demo province's Things (province.json: 30 + 5 + 5 + 3)
DEMO_THINGS = 43
#: a reading reaches an open console within this: pushed, well before the console's own
#: 30 s refresh would show it; generous for a loaded machine (2 cores, two workers)
LIVE_SECONDS = 10.0


def _stale_thing(city: City, name: str) -> tuple[int, int]:
    """A Thing whose only reading is two hours old (stale), with its Datastream's id."""
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    with city.client() as client:
        sensor = client.post(
            "/v1.1/Sensors",
            json={"name": "probe", "description": "", "encodingType": "text/html", "metadata": "x"},
        )
        prop = client.post(
            "/v1.1/ObservedProperties",
            json={"name": "level", "definition": "https://example.org/level", "description": ""},
        )
        sensor_id, prop_id = sensor.json()["@iot.id"], prop.json()["@iot.id"]
        thing = client.post(
            "/v1.1/Things",
            json={
                "name": name,
                "description": "a probe for the live map test",
                "properties": {"kind": "water_level", "district": "Thu Dau Mot"},
                "Locations": [
                    {
                        "name": f"{name} site",
                        "description": "",
                        "encodingType": "application/geo+json",
                        "location": {"type": "Point", "coordinates": [106.65, 10.98]},
                    }
                ],
                "Datastreams": [
                    {
                        "name": f"{name} level",
                        "description": "",
                        "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                        "unitOfMeasurement": {"name": "metre", "symbol": "m", "definition": "m"},
                        "Sensor": {"@iot.id": sensor_id},
                        "ObservedProperty": {"@iot.id": prop_id},
                        "Observations": [{"phenomenonTime": two_hours_ago, "result": 1.25}],
                    }
                ],
            },
        )
        assert thing.status_code == 201, thing.text
        thing_id = int(thing.headers["Location"].rsplit("(", 1)[1].rstrip(")"))
        streams = client.get(f"/v1.1/Things({thing_id})/Datastreams").json()["value"]
    return thing_id, streams[0]["@iot.id"]


def _open_console(open_page: Callable[..., Watched], city: City) -> Watched:
    watched = open_page(city, viewport={"width": 1400, "height": 900})
    sign_in(watched, city)
    expect(watched.page).to_have_url(f"{city.url}/console")
    watched.page.wait_for_function("() => window.cityhelixConsole && window.cityhelixConsole.ready")
    return watched


def _thing_count(city: City) -> int:
    with city.client() as client:
        return int(
            client.get("/v1.1/Things", params={"$count": "true", "$top": 0}).json()["@iot.count"]
        )


def test_signed_in_operator_sees_every_demo_device_on_the_map(
    open_page: Callable[..., Watched], city: City
) -> None:
    things = _thing_count(city)
    assert things >= DEMO_THINGS
    watched = _open_console(open_page, city)
    page = watched.page
    assert page.evaluate("() => window.cityhelixConsole.shownCount()") == things
    expect(page.locator("#map-summary")).to_contain_text(f"{things} of {things}")
    expect(page.locator("#live-status")).to_have_text("Live")
    page.get_by_label("Streetlight").uncheck()
    expect(page.locator("#map-summary")).to_contain_text(f"{things - 30} of {things}")
    page.get_by_label("District", exact=True).select_option("Di An")
    # the server answers the filtered view: wait for it
    expect(page.locator("#map-summary")).not_to_contain_text(f"{things - 30} of {things}")
    shown = page.evaluate("() => window.cityhelixConsole.shownCount()")
    assert 0 < shown < things - 30
    page.get_by_label("Streetlight").check()
    page.get_by_label("District", exact=True).select_option("")
    expect(page.locator("#map-summary")).to_contain_text(f"{things} of {things}")
    if city.database_url.startswith("sqlite"):
        page.screenshot(path=str(SCREENSHOTS / "console-map.png"))
    watched.assert_clean()


def test_reading_posted_over_http_turns_a_stale_marker_normal_without_reload(
    open_page: Callable[..., Watched], city: City
) -> None:
    thing_id, datastream_id = _stale_thing(city, "Gauge HTTP probe")
    watched = _open_console(open_page, city)
    page = watched.page
    assert page.evaluate(f"() => window.cityhelixConsole.stateOf({thing_id})") == "stale"
    with city.client() as client:
        posted = client.post(
            f"/v1.1/Datastreams({datastream_id})/Observations", json={"result": 2.5}
        )
        assert posted.status_code == 201, posted.text
    started = time.monotonic()
    page.wait_for_function(
        f"() => window.cityhelixConsole.stateOf({thing_id}) === 'normal'",
        timeout=LIVE_SECONDS * 1000,
    )
    assert time.monotonic() - started < LIVE_SECONDS
    watched.assert_clean()


def test_reading_published_over_mqtt_updates_the_marker_and_the_open_panel(
    open_page: Callable[..., Watched], city: City
) -> None:
    thing_id, datastream_id = _stale_thing(city, "Gauge MQTT probe")
    watched = _open_console(open_page, city)
    page = watched.page
    page.get_by_label("Find a device").fill("Gauge MQTT probe")
    page.get_by_role("button", name="Show").click()
    panel = page.locator("#panel")
    expect(panel.get_by_role("heading", name="Gauge MQTT probe")).to_be_visible()
    row = panel.locator(f'tr[data-datastream="{datastream_id}"] .number')
    expect(row).to_have_text("1.25")
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    publisher.username_pw_set("mqtt-probe", ADMIN_TOKEN)
    publisher.connect("127.0.0.1", city.mqtt_port)
    publisher.loop_start()
    try:
        info = publisher.publish(
            f"v1.1/Datastreams({datastream_id})/Observations",
            json.dumps({"result": 3.75}),
            qos=1,
        )
        info.wait_for_publish(timeout=30)
        page.wait_for_function(
            f"() => window.cityhelixConsole.stateOf({thing_id}) === 'normal'",
            timeout=LIVE_SECONDS * 1000,
        )
        expect(row).to_have_text("3.75", timeout=LIVE_SECONDS * 1000)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    watched.assert_clean()


def test_a_device_panel_shows_its_latest_values_and_a_day_chart(
    open_page: Callable[..., Watched], city: City
) -> None:
    watched = _open_console(open_page, city)
    page = watched.page
    # click the first streetlight's marker where the map draws it
    point = page.evaluate(
        """async () => {
          const map = window.cityhelixConsole.map();
          const feature = map.querySourceFeatures('things').find(
            (f) => f.properties.kind === 'streetlight');
          map.jumpTo({center: feature.geometry.coordinates, zoom: 15});
          await new Promise((resolve) => map.once('idle', resolve));
          const p = map.project(feature.geometry.coordinates);
          return {x: p.x, y: p.y};
        }"""
    )
    box = page.locator("#map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    panel = page.locator("#panel")
    expect(panel).to_be_visible()
    expect(panel.locator("table.latest tbody tr")).to_have_count(2)  # power and dimming
    # the demo's history has a reading every 10 minutes: 144 minute buckets in a day
    page.wait_for_function("() => Number(document.getElementById('chart').dataset.points) > 100")
    if city.database_url.startswith("sqlite"):
        page.screenshot(path=str(SCREENSHOTS / "console-panel.png"))
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    watched.assert_clean()
