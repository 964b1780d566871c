"""The demo's investment data: the real parks by name, a synthetic registry whose totals by
source country are the published October 2022 figures (reference: investment.md)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.invest import service

DEMO = Principal("demo", Role.ADMIN)


async def test_the_demo_registry_matches_the_published_totals(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    written = await service.load_demo(engine, DEMO)
    assert written["projects"] == 4053
    assert await service.load_demo(engine, DEMO) == {"parks": 0, "plots": 0, "projects": 0}

    figures = (await client.get("/api/invest/analytics", headers=admin)).json()
    assert figures["totals"]["projects"] == 4053
    assert figures["totals"]["capital_usd"] == pytest.approx(39.6e9)
    by_country = {r["country"]: (r["projects"], r["capital_usd"]) for r in figures["by_country"]}
    assert by_country["TW"] == (859, pytest.approx(6.27e9))
    assert by_country["JP"] == (333, pytest.approx(5.86e9))
    assert by_country["SG"] == (277, pytest.approx(5.4e9))
    assert by_country["US"] == (138, pytest.approx(1.4e9))

    parks = (await client.get("/api/invest/parks", params={"limit": 1000})).json()
    names = {p["name"]: p for p in parks}
    assert {"VSIP I", "VSIP III", "My Phuoc 3", "Bau Bang", "Song Than 3", "Dai Dang"} <= set(names)
    assert names["My Phuoc 3"]["total_ha"] == 997.7
    assert names["Tan Dong Hiep B"]["admin_unit_before"] == "Di An, Binh Duong"
    assert all(p["synthetic"] for p in parks)
    listed = (await client.get("/api/invest/projects", params={"limit": 5}, headers=admin)).json()
    assert all(p["synthetic"] for p in listed)
    match = (await client.get("/api/invest/sites/match", params={"land_ha": 2})).json()
    assert match["candidates"], "the demo offers somewhere to build"
