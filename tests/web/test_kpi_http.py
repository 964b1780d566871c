"""The KPI dashboard and its wall screen over HTTP, on both databases: the operations
centre's figures are the ones `GET /api/ops/kpis` answers for the same window; a department
user sees the hub's figures only; the air-quality panel waits for its data."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.web.const import LANGUAGE_COOKIE
from tests.city.factories import make_thing, post_readings, stream

PASSWORD = "correct horse battery"
_FIGURE = re.compile(r'data-kpi="([^"]+)" data-value="([^"]*)"')


async def _signed_in(
    client: httpx.AsyncClient, engine: AsyncEngine, role: Role, department: str | None = None
) -> httpx.AsyncClient:
    await create_user(engine, "someone", role, department)
    await set_password(engine, "someone", PASSWORD)
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = await client.post(
        "/login", data={"csrf_token": token.group(1), "username": "someone", "password": PASSWORD}
    )
    assert signed.status_code == 303
    return client


def figures_of(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _FIGURE.findall(page)}


def expected_figures(kpis: dict[str, Any]) -> dict[str, str]:
    """What the page must show for an `/api/ops/kpis` answer, keyed as its data-kpi."""
    expected: dict[str, str] = {}
    for code, by_priority in kpis["open_by_department"].items():
        expected[f"open:{code}"] = str(sum(by_priority.values()))
    for code, by_priority in kpis["overdue_by_department"].items():
        expected[f"overdue:{code}"] = str(sum(by_priority.values()))
    expected["overdue"] = str(kpis["overdue"])
    for name in ("time_to_acknowledge", "time_to_resolve"):
        for key in ("count", "mean_seconds", "p90_seconds"):
            value = kpis[name][key]
            expected[f"{name}.{key}"] = "" if value is None else str(value)
    for severity, count in kpis["alerts_by_severity"].items():
        expected[f"alerts:{severity}"] = str(count)
    expected["readings"] = str(kpis["readings"])
    expected["readings_per_minute"] = str(kpis["readings_per_minute"])
    return expected


async def _incidents(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Three incidents: one acknowledged (assigned), one resolved, one left new."""
    ids = []
    for category in ("road_damage", "flooding", "noise"):
        made = await client.post(
            "/api/ops/incidents", json={"category": category, "title": category}, headers=admin
        )
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    for incident, steps in zip(
        ids[:2], (["assigned"], ["assigned", "in_progress", "resolved"]), strict=True
    ):
        for status in steps:
            changed = await client.patch(
                f"/api/ops/incidents/{incident}", json={"status": status}, headers=admin
            )
            assert changed.status_code == 200, changed.text


async def test_the_operations_figures_equal_what_the_kpi_api_answers(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await _incidents(client, admin)
    await _signed_in(client, engine, Role.OPERATOR)
    for query in ("?layout=wall", ""):
        page = await client.get(f"/console/kpi{query}")
        assert page.status_code == 200
        window = re.search(r'data-from="([^"]+)" data-to="([^"]+)"', page.text)
        assert window is not None
        kpis = await client.get(
            "/api/ops/kpis", params={"from": window.group(1), "to": window.group(2)}, headers=admin
        )
        assert kpis.status_code == 200, kpis.text
        shown = figures_of(page.text)
        expected = expected_figures(kpis.json())
        assert {k: shown.get(k) for k in expected} == expected, query
        assert shown["open_total"] == "2"
        assert shown["time_to_resolve.count"] == "1"
        assert 'id="air-quality"' not in page.text  # no VN_AQI yet: no empty panel
        assert ('class="topbar"' in page.text) is (query == "")  # the wall has no chrome
    fragment = await client.get("/console/kpi?layout=wall&fragment=1")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert figures_of(fragment.text)["open_total"] == "2"


async def test_a_department_user_sees_the_hub_figures_only(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    await _incidents(client, admin)
    await _signed_in(client, engine, Role.DEPARTMENT, "transport")
    page = await client.get("/console/kpi?layout=wall")
    assert page.status_code == 200
    assert figures_of(page.text) == {}
    assert 'id="last-minute"' in page.text


async def test_the_wall_screen_needs_a_session(client: httpx.AsyncClient) -> None:
    answer = await client.get("/console/kpi?layout=wall")
    assert answer.status_code == 302
    assert answer.headers["location"].startswith("/login?next=")


async def test_the_air_quality_panel_shows_each_districts_vn_aqi_in_the_pages_language(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    _thing_id, ids = await make_thing(
        client,
        admin,
        "Air station TDM-01",
        {"kind": "air_quality", "district": "Thu Dau Mot"},
        [stream("PM2.5"), stream("PM10")],
    )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    times = [(hour - timedelta(hours=h)).isoformat() for h in range(3, -1, -1)]
    await post_readings(client, admin, ids["PM2.5"], [(t, 40) for t in times])
    await post_readings(client, admin, ids["PM10"], [(t, 100) for t in times])
    districts = await client.get("/api/city/air/districts", headers=admin)
    assert districts.status_code == 200, districts.text
    expected = next(d for d in districts.json()["value"] if d["district"] == "Thu Dau Mot")
    assert expected["aqi"] is not None
    await _signed_in(client, engine, Role.OPERATOR)
    page = await client.get("/console/kpi?layout=wall")
    assert page.status_code == 200
    panel = page.text[page.text.index('id="air-quality"') :]
    row = re.search(r'<th scope="row">Thu Dau Mot</th><td class="number">(\d+)</td>', panel)
    assert row is not None and int(row.group(1)) == expected["aqi"]
    assert f'data-colour="{expected["colour"]}"' in panel
    assert "Moderate" in panel  # PM2.5 40 and PM10 100: 80, the Decision's "Moderate"
    client.cookies.set(LANGUAGE_COOKIE, "vi")
    panel_vi = (await client.get("/console/kpi?layout=wall")).text
    assert "Trung bình" in panel_vi[panel_vi.index('id="air-quality"') :]
