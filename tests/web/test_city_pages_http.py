"""The city services' pages over HTTP on both databases: each shows the figures the city
API answers for the same data and period, escapes what devices and tenants named, links
only to a gateway's http(s) clip, sends an anonymous visitor to /login, and shows a tenant
its own park stations only (a department user is refused)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import check_password, create_user, set_password, start_session
from cityhelix.web.const import SESSION_COOKIE
from tests.city.factories import CATEGORY, make_thing, post_readings, stream
from tests.city.lighting.helpers import make_lamp
from tests.conftest import bearer

PASSWORD = "correct horse battery"
EVIL = "<script>alert(1)</script>"
_FIGURE = re.compile(r'data-figure="([^"]+)" data-value="([^"]*)"')


def wire(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _session(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    name: str,
    role: Role,
    department: str | None = None,
) -> str:
    """A user of `role` signed in (the session cookie set on `client`); its API token."""
    token = await create_user(engine, name, role, department)
    await set_password(engine, name, PASSWORD)
    principal = await check_password(engine, name, PASSWORD)
    assert principal is not None
    client.cookies.set(SESSION_COOKIE, await start_session(engine, principal))
    return token


def figures(fragment: str) -> list[tuple[str, str]]:
    return [(name, html.unescape(value)) for name, value in _FIGURE.findall(fragment)]


def row_of(page: str, attribute: str, value: object) -> str:
    """The HTML of the first element carrying `attribute="value"` up to its row's end."""
    start = page.index(f'{attribute}="{value}"')
    return page[start : page.index("</tr>", start)]


def shown(value: object) -> str:
    return "" if value is None else str(value)


async def test_anonymous_visitors_are_sent_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/console/water", "/console/traffic", "/console/lighting", "/parks"):
        answer = await client.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["location"].startswith("/login?next="), path
    day = await client.get("/console/water/1/day.json")
    assert day.status_code == 401


async def test_the_water_page_shows_each_gauge_as_the_api_does(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    gauge, ids = await make_thing(
        client, admin, f"Gauge {EVIL}", {"kind": "water_level", "station_code": "TDM-SG"},
        [stream("Water level", "cm"), stream("Rainfall", "mm/h")],
    )  # fmt: skip
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    levels = [(wire(now - timedelta(minutes=m)), v) for m, v in ((60, 120), (30, 130), (0, 145))]
    await post_readings(client, admin, ids["Water level"], levels)
    await post_readings(client, admin, ids["Rainfall"], [(wire(now), 32.5)])
    await _session(client, engine, "water-operator", Role.OPERATOR)
    page = await client.get("/console/water")
    assert page.status_code == 200
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert EVIL not in page.text and html.escape(EVIL) in page.text
    api = (await client.get(f"/api/city/water/gauges/{gauge}")).json()
    row = row_of(page.text, "data-thing-id", gauge)
    expected = [
        (key, shown(api[key]))
        for key in ("level_m", "reached", "rate_cm_per_h", "hours_to_next_level", "rain_mm_per_h")
    ]
    assert figures(row) == expected
    assert api["reached"] == "II" and "Level II" in row
    assert f'href="/console?thing={gauge}"' in page.text
    day = await client.get(f"/console/water/{gauge}/day.json")
    assert day.status_code == 200
    body = day.json()
    assert body["alert_levels_m"] == {"I": 1.3, "II": 1.4, "III": 1.5}
    assert [p[1] for p in body["points"]] == [1.2, 1.3, 1.45]  # centimetres read as metres
    assert (await client.get("/console/water/999999/day.json")).status_code == 404


async def test_the_traffic_page_lists_levels_and_camera_events_with_safe_clip_links(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    counter, counter_ids = await make_thing(
        client, admin, "Counter QL13-02",
        {"kind": "traffic", "road_segment": f"QL13 {EVIL}", "free_flow_speed_kmh": 60},
        [stream("Vehicle count", "vehicles"), stream("Speed", "km/h")],
    )  # fmt: skip
    camera, camera_ids = await make_thing(
        client, admin, "Camera Ngã tư 550", {"kind": "camera", "district": "Thu Dau Mot"},
        [stream("Camera event", "event", CATEGORY)],
    )  # fmt: skip
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [now - timedelta(minutes=m) for m in (10, 5, 0)]
    await post_readings(
        client, admin, counter_ids["Vehicle count"], [(wire(m), 160) for m in minutes]
    )
    await post_readings(client, admin, counter_ids["Speed"], [(wire(m), 12) for m in minutes])
    clip = "https://gw.example/clip/1.mp4"
    events = [
        (50, "vehicle_count", {"vehicle_class": "car", "count": 7, "confidence": 0.9}),
        (40, "red_light", {"confidence": 0.88, "clip_url": clip}),
        (30, "wrong_way", {"confidence": 0.7, "clip_url": "javascript:alert(1)"}),
    ]
    await post_readings(
        client, admin, camera_ids["Camera event"],
        [(wire(now - timedelta(minutes=m)), e) for m, e, _ in events], [p for _, _, p in events],
    )  # fmt: skip
    await _session(client, engine, "traffic-operator", Role.OPERATOR)
    answer = await client.get("/console/traffic", params={"hours": 3})
    assert answer.status_code == 200
    page = answer.text
    assert EVIL not in page and html.escape(EVIL) in page
    level = (await client.get("/api/city/traffic/levels", params={"thing_id": counter})).json()
    segment = level["value"][0]
    assert figures(row_of(page, "data-thing-id", counter)) == [
        ("level", segment["level"]),
        ("speed_kmh", shown(segment["speed_kmh"])),
        ("volume_vph", shown(segment["volume_vph"])),
    ]
    assert segment["level"] == "jammed"
    window = re.search(r'id="camera-window" data-from="([^"]+)" data-to="([^"]+)"', page)
    assert window is not None
    period = {"from": window.group(1), "to": window.group(2)}
    listed = await client.get(f"/api/city/traffic/cameras/{camera}/events", params=period)
    section = page[page.index(f'id="camera-{camera}"') :]
    assert f'data-figure="event_count" data-value="{listed.json()["count"]}"' in section
    assert listed.json()["count"] == 3
    assert 'href="https://gw.example/clip/1.mp4"' in section
    assert "javascript:" not in page  # never a link that runs script
    assert "<video" not in page and "<iframe" not in page
    hourly = await client.get(f"/api/city/traffic/cameras/{camera}/events/hourly", params=period)
    for hour in hourly.json()["value"]:
        for kind, count in hour["events"].items():
            assert f'data-kind="{kind}" data-value="{count}"' in row_of(
                section, "data-hour", hour["hour"]
            )
    refused = await client.get("/console/traffic", params={"hours": "forever"})
    assert refused.status_code == 400 and "hours" in refused.text


async def test_the_lighting_page_shows_schedules_faults_and_the_apis_energy(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    lamp = await make_lamp(client, admin, f"Lamp {EVIL}")
    made = await client.post(
        "/api/city/lighting/schedules",
        json={"name": "Thu Dau Mot nights", "group": {"kind": "district", "value": "Thu Dau Mot"},
              "profile": [{"from": "23:00", "level": 60}]},
        headers=admin,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    # yesterday, province time: 80 W at noon (a day-burner), then an evening at 60 of 100 W
    noon = (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=5, minute=0, second=0, microsecond=0
    )
    evening = noon + timedelta(hours=7)
    readings = [(noon, 80), (noon + timedelta(minutes=30), 0), (evening, 60),
                (evening + timedelta(hours=1), 60), (evening + timedelta(hours=2), 0)]  # fmt: skip
    await post_readings(
        client, admin, lamp["power_datastream_id"], [(wire(t), v) for t, v in readings]
    )
    scanned = await client.get(
        "/api/city/lighting/faults",
        params={"from": wire(noon - timedelta(hours=1)), "to": wire(noon + timedelta(hours=3))},
    )
    assert scanned.status_code == 200, scanned.text
    await _session(client, engine, "lighting-operator", Role.OPERATOR)
    page = await client.get("/console/lighting")
    assert page.status_code == 200
    assert EVIL not in page.text and html.escape(EVIL) in page.text
    schedule = row_of(page.text, "data-schedule-id", made.json()["id"])
    (lamps, next_switching) = figures(schedule)
    assert lamps == ("lamps", "1") and next_switching[1] > wire(datetime.now(UTC))
    open_alerts = [a for a in scanned.json()["alerts"] if a["state"] == "active"]
    assert [a["fault"] for a in open_alerts] == ["day_burner"]
    assert 'data-fault="day_burner"' in row_of(page.text, "data-alert-id", open_alerts[0]["id"])
    window = re.search(r'id="lighting-energy"[^>]*data-from="([^"]+)" data-to="([^"]+)"', page.text)
    assert window is not None
    energy = await client.get(
        "/api/city/lighting/energy", params={"from": window.group(1), "to": window.group(2)}
    )
    group = energy.json()["groups"][0]
    keys = ("kwh", "baseline_kwh", "savings_kwh", "savings_percent")
    assert figures(row_of(page.text, "data-group", group["group"])) == [
        (k, shown(group[k])) for k in keys
    ]
    assert group["kwh"] > 0 and group["savings_kwh"] > 0
    bad = await client.get("/console/lighting", params={"from": "2026-12-01", "to": "2026-11-01"})
    assert bad.status_code == 400 and "to: must not be before from" in bad.text


async def _tenant_station(
    client: httpx.AsyncClient, token: str, tenant: str, park: str = "VSIP II"
) -> tuple[int, dict[str, int]]:
    return await make_thing(
        client, bearer(token), f"Connection {tenant}",
        {"kind": "park_tenant", "park": park, "tenant": tenant, "qcvn40_column": "B",
         "output_per_month": 100, "output_unit": "t"},
        [stream("COD", "mg/l"), stream("pH", ""), stream("Water consumption", "m3")],
    )  # fmt: skip


async def test_the_parks_page_shows_staff_the_api_figures_and_a_tenant_its_own_only(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    kumho = await create_user(engine, "kumho", Role.TENANT)
    minh_long = await create_user(engine, "minh-long", Role.TENANT)
    mine, mine_ids = await _tenant_station(client, kumho, f"Kumho {EVIL}")
    theirs, theirs_ids = await _tenant_station(client, minh_long, "Minh Long")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    hours = [start + timedelta(hours=h) for h in range(12)]
    await post_readings(
        client,
        admin,
        mine_ids["COD"],
        [(wire(t), 180 if i % 4 == 0 else 120) for i, t in enumerate(hours)],
    )
    await post_readings(client, admin, theirs_ids["COD"], [(wire(t), 90) for t in hours])
    await post_readings(
        client,
        admin,
        theirs_ids["pH"],
        [(wire(t), 5.0 if i == 3 else 7.0) for i, t in enumerate(hours)],
    )
    await post_readings(
        client, admin, mine_ids["Water consumption"], [(wire(t), 25) for t in hours[:4]]
    )

    # a tenant: its own station, no park overview, whatever it asks for
    await set_password(engine, "kumho", PASSWORD)
    principal = await check_password(engine, "kumho", PASSWORD)
    assert principal is not None
    client.cookies.set(SESSION_COOKIE, await start_session(engine, principal))
    for query in ({}, {"park": "VSIP II"}):
        page = await client.get("/parks", params=query)
        assert page.status_code == 200
        assert f'data-thing-id="{mine}"' in page.text
        assert f'data-thing-id="{theirs}"' not in page.text and "Minh Long" not in page.text
        assert 'id="park-overview"' not in page.text
        assert EVIL not in page.text and html.escape(EVIL) in page.text
    window = re.search(r'id="parks-window" data-from="([^"]+)" data-to="([^"]+)"', page.text)
    assert window is not None
    period = {"from": window.group(1), "to": window.group(2)}
    station = (
        await client.get(f"/api/city/parks/stations/{mine}", params=period, headers=bearer(kumho))
    ).json()
    section = page.text[page.text.index(f'id="station-{mine}"') :]
    assert f'data-figure="exceedances" data-value="{station["exceedances"]}"' in section
    assert station["exceedances"] == 3
    cod = next(p for p in station["parameters"] if p["parameter"] == "COD")
    row = row_of(section, "data-parameter", "COD")
    assert ("regulation", cod["regulation"]) in figures(row)
    assert ("limit", str(cod["high"])) in figures(row)
    assert "not assessed" in row if cod["verified"] is None else "verified" in row

    # a department user may not see park stations; an operator sees the park's figures
    client.cookies.clear()
    await _session(client, engine, "clerk", Role.DEPARTMENT, "transport")
    assert (await client.get("/parks")).status_code == 403
    client.cookies.clear()
    await _session(client, engine, "park-operator", Role.OPERATOR)
    page = await client.get("/parks", params={"park": "VSIP II"})
    assert page.status_code == 200
    assert f'data-thing-id="{mine}"' in page.text and f'data-thing-id="{theirs}"' in page.text
    window = re.search(r'id="parks-window" data-from="([^"]+)" data-to="([^"]+)"', page.text)
    assert window is not None
    overview = (
        await client.get(
            "/api/city/parks/VSIP II",
            params={"from": window.group(1), "to": window.group(2)},
            headers=admin,
        )
    ).json()
    head = page.text[
        page.text.index('id="park-overview"') : page.text.index('id="exceedances-by-tenant"')
    ]
    assert figures(head) == [
        ("compliance_rate", str(overview["compliance_rate"])),
        ("readings_checked", str(overview["readings_checked"])),
        ("exceedances", str(overview["exceedances"])),
    ]
    assert (overview["readings_checked"], overview["exceedances"]) == (36, 4)
    for tenant, months in overview["exceedances_by_tenant"].items():
        row = row_of(page.text, "data-tenant", html.escape(tenant))
        for month, count in months.items():
            assert f'data-month="{month}" data-value="{count}"' in row
    use = overview["tenants"][f"Kumho {EVIL}"]
    assert f'data-figure="water_per_output" data-value="{use["water_per_output"]}"' in page.text
    missing = await client.get("/parks", params={"park": "Nowhere"})
    assert missing.status_code == 404
