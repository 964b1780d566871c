"""Analytics equal plain SQL over the registry; the portfolio view under a draft policy."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.invest.factories import make_park, make_project


async def registry(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, int]:
    vsip = await make_park(client, admin, name="VSIP II")
    bau_bang = await make_park(client, admin, name="Bau Bang")
    rows: list[dict[str, Any]] = [
        {
            "issued_on": "2021-05-01",
            "country": "TW",
            "investor": "Chip A",
            "sector_vsic": "26100",
            "capital_usd": 120e6,
            "park_id": vsip,
            "land_ha": 10,
            "employees_planned": 300,
            "admin_unit_after": "Vinh Tan",
        },
        {
            "issued_on": "2021-09-01",
            "country": "JP",
            "investor": "Textile B",
            "sector_vsic": "13110",
            "capital_usd": 30e6,
            "park_id": bau_bang,
            "land_ha": 15,
            "employees_planned": 1500,
            "admin_unit_after": "Bau Bang",
        },
        {
            "issued_on": "2022-02-01",
            "country": "TW",
            "investor": "Chip A",
            "sector_vsic": "26200",
            "capital_usd": 80e6,
            "park_id": vsip,
            "land_ha": 5,
            "employees_planned": 200,
            "admin_unit_after": "Vinh Tan",
        },
        {
            "issued_on": "2023-07-01",
            "country": "SG",
            "investor": "Data C",
            "sector_vsic": "63110",
            "capital_usd": 250e6,
            "land_ha": 4,
            "employees_planned": 60,
            "status": "terminated",
        },
    ]
    for number, row in enumerate(rows):
        investor = {"name": row.pop("investor"), "country": row.pop("country")}
        await make_project(
            client,
            admin,
            certificate_no=f"C-{number}",
            name=f"{investor['name']} plant",
            investors=[investor],
            **row,
        )
    return {"vsip": vsip, "bau_bang": bau_bang}


async def sql(engine: AsyncEngine, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    async with engine.connect() as connection:
        return [tuple(r) for r in await connection.execute(text(statement), params)]


async def test_analytics_equal_sql_over_the_registry(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await registry(client, admin)
    response = await client.get("/api/invest/analytics", headers=admin)
    assert response.status_code == 200, response.text
    figures = response.json()

    expected_country = await sql(
        engine,
        "SELECT country, COUNT(*), SUM(capital_usd) FROM invest_projects GROUP BY country "
        "ORDER BY SUM(capital_usd) DESC, country",
    )
    assert [(r["country"], r["projects"], r["capital_usd"]) for r in figures["by_country"]] == [
        (c, n, pytest.approx(s)) for c, n, s in expected_country
    ]
    assert [(r["year"], r["projects"], r["capital_usd"]) for r in figures["by_year"]] == [
        (2021, 2, pytest.approx(150e6)),
        (2022, 1, pytest.approx(80e6)),
        (2023, 1, pytest.approx(250e6)),
    ]
    assert [r["capital_usd"] for r in figures["cumulative"]] == pytest.approx([150e6, 230e6, 480e6])
    expected_park = await sql(
        engine,
        "SELECT p.name, COUNT(*), SUM(r.capital_usd), SUM(r.land_ha), SUM(r.employees) "
        "FROM invest_projects r JOIN invest_parks p ON p.id = r.park_id "
        "GROUP BY p.name ORDER BY p.name",
    )
    assert [
        (r["park_name"], r["projects"], r["capital_usd"], r["land_ha"], r["employees"])
        for r in figures["by_park"]
    ] == [(n, c, pytest.approx(s), pytest.approx(h), e) for n, c, s, h, e in expected_park]
    vsip = next(r for r in figures["by_park"] if r["park_name"] == "VSIP II")
    assert vsip["capital_per_ha"] == pytest.approx(200e6 / 15)
    assert vsip["capital_per_worker"] == pytest.approx(200e6 / 500)
    assert [(r["vsic_division"], r["projects"]) for r in figures["by_sector"]] == [
        ("13", 1),
        ("26", 2),
        ("63", 1),
    ]
    assert figures["top_investors"][0] == {
        "investor": "Data C",
        "country": "SG",
        "projects": 1,
        "capital_usd": pytest.approx(250e6),
    }
    # 2021: one of two projects in a priority sector (26100); 2022: 26200; 2023: 63110
    assert [(r["year"], r["share"]) for r in figures["priority_share"]] == [
        (2021, 0.5),
        (2022, 1.0),
        (2023, 1.0),
    ]
    assert figures["totals"] == {"projects": 4, "capital_usd": pytest.approx(480e6), "countries": 3}


async def test_analytics_count_only_the_statuses_asked_for(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    await registry(client, admin)
    active = (
        await client.get("/api/invest/analytics", params={"status": "active"}, headers=admin)
    ).json()
    [(count, total)] = await sql(
        engine,
        "SELECT COUNT(*), SUM(capital_usd) FROM invest_projects WHERE status = :status",
        status="active",
    )
    assert (active["totals"]["projects"], active["totals"]["capital_usd"]) == (
        count,
        pytest.approx(total),
    )
    bad = await client.get("/api/invest/analytics", params={"status": "closed"}, headers=admin)
    assert (bad.status_code, bad.json()["field"]) == (400, "status")
    assert (await client.get("/api/invest/analytics")).status_code == 401


async def test_the_portfolio_view_shows_how_a_draft_would_shift_the_mix(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await registry(client, admin)
    v1 = (await client.get("/api/invest/policies/1")).json()["document"]
    draft = copy.deepcopy(v1)
    for rule in draft["rules"]:
        if rule["code"] == "labour_intensity":
            rule["severity"] = "block"  # the textile plant (100 workers/ha) would be refused
    created = await client.post("/api/invest/policies", json={"document": draft}, headers=admin)
    version = created.json()["version"]
    view = (await client.get(f"/api/invest/policies/{version}/portfolio", headers=admin)).json()
    assert (view["in_force_version"], view["proposed_version"], view["projects"]) == (1, 2, 4)
    assert [(c["name"], c["proposed"]) for c in view["changes"]] == [
        ("Textile B plant", "not_recommended")
    ]
    assert view["mix"]["proposed"].get("not_recommended", 0) == view["mix"]["in_force"].get(
        "not_recommended", 0
    ) + len(view["changes"])
    assert (await client.get("/api/invest/policies/9/portfolio", headers=admin)).status_code == 404
