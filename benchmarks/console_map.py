"""The console's city map with 10,000 Things in Chromium: time to first render and to
interactive, and a reading published over MQTT until its marker changes.

A real `cityhelix serve` (its embedded MQTT broker on) on a new database; the Things are
made through the SensorThings API, each with one Datastream and one reading (most of them
recent, a tenth two hours old: stale); an operator signs in through `/login` in Debian's
Chromium (Playwright), and each load of `/console` is timed from navigation start:

- data: `/console/things.json` for the view fetched and parsed (the devices in view, or the
  server's clusters of them when they are more than 1,000);
- first render: the markers' layer drawn once (MapLibre's first `idle` after the data);
- interactive: the page ready for input (`window.cityhelixConsole.ready`: MapLibre idle,
  every marker and cluster drawn, the filters built).

The first load after the server started reads every Thing through the hub's service; the
later ones are served from the map cache (see `web/map_cache.py`): both are reported.

Then, `--live` times over, twice: a reading for a stale Thing is published over MQTT (QoS 1)

- at the city's zoom (the Thing inside a cluster): until the view's count of stale devices
  drops by one (the SSE message arrived, the view was asked for again and drawn);
- zoomed in on the Thing (a marker of its own): until the marker's state turns "normal"
  (the SSE message arrived and the feature state changed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from benchmarks.common import (
    ADMIN_HEADERS,
    ADMIN_TOKEN,
    CENTRE_LAT,
    CENTRE_LON,
    HALF_SPAN_LAT,
    HALF_SPAN_LON,
    MEASUREMENT,
    POSTGRES_ADMIN_DSN,
    Database,
    free_port,
    machine_load,
    postgres_database,
    served,
    server_env,
    sqlite_database,
)
from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
OPERATOR, PASSWORD = "bench-operator", "bench-password-1234"
KINDS = ("streetlight", "air_quality", "traffic", "water_level")
DISTRICTS = ("Thu Dau Mot", "Di An", "Thuan An", "Ben Cat", "Tan Uyen")
#: Things created at once (each its own POST with a deep insert)
CONCURRENCY = 8


def _thing(index: int, rng: random.Random, sensor: int, prop: int) -> dict[str, Any]:
    lon = CENTRE_LON + rng.uniform(-HALF_SPAN_LON, HALF_SPAN_LON)
    lat = CENTRE_LAT + rng.uniform(-HALF_SPAN_LAT, HALF_SPAN_LAT)
    return {
        "name": f"Device {index:05d}",
        "description": "benchmark device",
        "properties": {"kind": KINDS[index % 4], "district": DISTRICTS[index % 5]},
        "Locations": [
            {
                "name": f"Site {index}",
                "description": "",
                "encodingType": "application/geo+json",
                "location": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
            }
        ],
        "Datastreams": [
            {
                "name": f"Device {index:05d} reading",
                "description": "",
                "observationType": MEASUREMENT,
                "unitOfMeasurement": {"name": "unit", "symbol": "u", "definition": "u"},
                "Sensor": {"@iot.id": sensor},
                "ObservedProperty": {"@iot.id": prop},
            }
        ],
    }


async def _make_city(url: str, things: int) -> list[int]:
    """The Things through the API; their Datastream ids, with one reading each."""
    rng = random.Random(7)
    async with httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=120) as client:
        sensor = await client.post(
            "/v1.1/Sensors",
            json={"name": "s", "description": "", "encodingType": "text/html", "metadata": "x"},
        )
        prop = await client.post(
            "/v1.1/ObservedProperties",
            json={"name": "p", "definition": "https://example.org/p", "description": ""},
        )
        sensor_id, prop_id = sensor.json()["@iot.id"], prop.json()["@iot.id"]
        bodies = [_thing(i, rng, sensor_id, prop_id) for i in range(things)]
        gate = asyncio.Semaphore(CONCURRENCY)

        async def create(body: dict[str, Any]) -> None:
            async with gate:
                (await client.post("/v1.1/Things", json=body)).raise_for_status()

        await asyncio.gather(*(create(body) for body in bodies))
        streams: list[int] = []
        next_link: str | None = "/v1.1/Datastreams?$select=id&$orderby=id&$top=10000"
        while next_link:
            page = (await client.get(next_link)).json()
            streams.extend(int(d["@iot.id"]) for d in page["value"])
            next_link = page.get("@iot.nextLink")
        now = datetime.now(UTC)
        stale = now - timedelta(hours=2)
        for start in range(0, len(streams), 2000):
            chunk = streams[start : start + 2000]
            body = [
                {
                    "Datastream": {"@iot.id": stream},
                    "components": ["phenomenonTime", "result"],
                    "dataArray": [
                        [(stale if stream % 10 == 0 else now).isoformat(), round(rng.random(), 3)]
                    ],
                }
                for stream in chunk
            ]
            (await client.post("/v1.1/CreateObservations", json=body)).raise_for_status()
    return streams


def _cli(database: Database, *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        [sys.executable, "-m", "cityhelix", *args],
        env=server_env(CITYHELIX_DATABASE_URL=database.url),
        input=stdin,
        text=True,
        check=True,
        capture_output=True,
    )


@contextmanager
def _city(database: Database, things: int, folder: Path) -> Iterator[tuple[str, int, list[int]]]:
    _cli(database, "users", "create", OPERATOR, "--role", "operator")
    _cli(database, "users", "set-password", OPERATOR, stdin=PASSWORD + "\n")
    port, mqtt_port = free_port(), free_port()
    env = server_env(
        CITYHELIX_DATABASE_URL=database.url,
        CITYHELIX_ADMIN_TOKEN=ADMIN_TOKEN,
        CITYHELIX_MQTT_PORT=str(mqtt_port),
        CITYHELIX_MAX_TOP="10000",
    )
    argv = [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)]
    with served(argv, port, folder / "serve.log", env) as server:
        started = time.monotonic()
        streams = asyncio.run(_make_city(server.url, things))
        print(f"made {things} Things in {time.monotonic() - started:.0f} s")
        yield server.url, mqtt_port, streams


def _load(page: Page, url: str) -> dict[str, float]:
    page.goto(f"{url}/console")
    page.wait_for_function("() => window.cityhelixConsole && window.cityhelixConsole.ready")
    timings: dict[str, float] = page.evaluate("() => window.cityhelixConsole.timings")
    navigation: float = page.evaluate(
        "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
    )
    # console.js times from its own start (after DOMContentLoaded); add the page's part
    return {
        "dom_ms": navigation,
        "data_ms": navigation + timings["data"],
        "render_ms": navigation + timings["render"],
        "interactive_ms": navigation + timings["interactive"],
    }


def _publisher(mqtt_port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.username_pw_set("bench", ADMIN_TOKEN)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    return client


def _publish(client: mqtt.Client, stream: int) -> None:
    client.publish(f"v1.1/Datastreams({stream})/Observations", json.dumps({"result": 1.0}), qos=1)


def _live_in_clusters(page: Page, client: mqtt.Client, stale: list[int]) -> list[float]:
    """Seconds from an MQTT publish of a clustered stale Thing's reading to the view's count
    of stale devices dropping by one."""
    seconds = []
    for stream in stale:
        before = page.evaluate("() => window.cityhelixConsole.stateCounts().stale || 0")
        started = time.monotonic()
        _publish(client, stream)
        page.wait_for_function(
            f"() => (window.cityhelixConsole.stateCounts().stale || 0) === {before - 1}",
            polling="raf",
            timeout=10_000,
        )
        seconds.append(time.monotonic() - started)
    return seconds


def _live_on_markers(page: Page, url: str, client: mqtt.Client, stale: list[int]) -> list[float]:
    """Seconds from an MQTT publish of a stale Thing's reading to its own marker (the map
    zoomed in on it) turning normal."""
    seconds = []
    with httpx.Client(base_url=url, headers=ADMIN_HEADERS, timeout=30) as api:
        for stream in stale:
            located = api.get(
                f"/v1.1/Datastreams({stream})/Thing", params={"$expand": "Locations"}
            ).json()
            lon, lat = located["Locations"][0]["location"]["coordinates"]
            page.evaluate(
                "(c) => window.cityhelixConsole.map().jumpTo({center: c, zoom: 17})",
                [lon, lat],
            )
            page.wait_for_function(
                f"() => window.cityhelixConsole.thingOf({stream}) !== null", timeout=10_000
            )
            thing = page.evaluate(f"() => window.cityhelixConsole.thingOf({stream})")
            assert page.evaluate(f"() => window.cityhelixConsole.stateOf({thing})") == "stale"
            started = time.monotonic()
            _publish(client, stream)
            page.wait_for_function(
                f"() => window.cityhelixConsole.stateOf({thing}) === 'normal'",
                polling="raf",
                timeout=10_000,
            )
            seconds.append(time.monotonic() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--things", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=5, help="timed loads of /console")
    parser.add_argument("--live", type=int, default=10, help="timed MQTT readings")
    args = parser.parse_args()
    print(f"load before: {machine_load()}")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        databases = (
            postgres_database(POSTGRES_ADMIN_DSN)
            if args.backend == "postgresql"
            else sqlite_database(folder)
        )
        with databases as database, _city(database, args.things, folder) as city:
            url, mqtt_port, streams = city
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1600, "height": 900})
                page = context.new_page()
                page.goto(f"{url}/login")
                page.get_by_label("User name").fill(OPERATOR)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(f"{url}/console")
                # the first load after start reads every Thing; later ones use the map cache
                cold = _load(page, url)
                loads = [_load(page, url) for _ in range(args.loads)]
                # what the view's data weighed: the last load's things.json
                size = page.evaluate(
                    "() => performance.getEntriesByType('resource')"
                    ".filter((e) => e.name.includes('/console/things.json'))"
                    ".map((e) => e.decodedBodySize).pop()"
                )
                shown = page.evaluate("() => window.cityhelixConsole.shownCount()")
                view = page.evaluate(
                    "() => [window.cityhelixConsole.pointCount(),"
                    " window.cityhelixConsole.clusterCount()]"
                )
                stale = [s for s in streams if s % 10 == 0]
                client = _publisher(mqtt_port)
                try:
                    in_clusters = _live_in_clusters(page, client, stale[: args.live])
                    on_markers = _live_on_markers(
                        page, url, client, stale[args.live : 2 * args.live]
                    )
                finally:
                    client.loop_stop()
                    client.disconnect()
                context.close()
                browser.close()
    print(
        f"\n{args.backend}: {args.things} Things, {shown} shown as {view[0]} markers and "
        f"{view[1]} clusters, the view's things.json {size:,} bytes"
    )
    print(f"  {'ms from navigation':<18} {'first load':>10} {'then median':>12} {'max':>6}")
    for key in ("dom_ms", "data_ms", "render_ms", "interactive_ms"):
        values = sorted(load[key] for load in loads)
        print(f"  {key:<18} {cold[key]:10.0f} {statistics.median(values):12.0f} {values[-1]:6.0f}")
    for name, live in (("cluster", in_clusters), ("marker", on_markers)):
        live.sort()
        print(
            f"  MQTT reading -> {name}: median {statistics.median(live):.3f} s, "
            f"max {live[-1]:.3f} s over {len(live)}"
        )
    print(f"load after: {machine_load()}")


if __name__ == "__main__":
    main()
