"""The city services' demo on both databases: loaded once, it gives a spread of daily VN_AQI
categories, a free and a jammed segment, camera events, a gauge above level II and rising,
and a tenant whose COD exceeds its limit now and then; a second load does nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.demo import load_demo

NOW = datetime(2026, 11, 10, 9, 30, tzinfo=UTC)


async def test_the_demo_has_something_true_on_every_city_screen(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    client.headers.update(admin)
    summary = await load_demo(client, engine, now=NOW)
    assert summary.startswith("loaded the city services demo")
    assert await load_demo(client, engine, now=NOW) == "city services demo already loaded"
    stations = (await client.get("/api/city/air/stations")).json()["value"]
    day = (NOW - timedelta(days=1)).date().isoformat()
    categories = set()
    for station in stations:
        daily = await client.get(
            "/api/city/air/aqi", params={"thing_id": station["thing_id"], "date": day}
        )
        assert daily.status_code == 200, daily.text
        categories.add(daily.json()["category"])
    assert len(categories) >= 3, categories  # a realistic spread, not one colour
    levels = {
        row["level"] for row in (await client.get("/api/city/traffic/levels")).json()["value"]
    }
    assert {"free", "jammed"} <= levels
    gauges = (await client.get("/api/city/water/gauges")).json()["value"]
    assert any(g["reached"] == "II" and g["rate_cm_per_h"] > 5 for g in gauges), gauges
    period = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-11T00:00:00Z"}
    park = (await client.get("/api/city/parks/VSIP II", params=period)).json()
    assert park["exceedances_by_tenant"]["Kumho Tire"]["2026-11"] > 0
    assert park["exceedances_by_tenant"]["Minh Long Ceramics"] == {}
    rules = (await client.get("/api/ops/rules")).json()["value"]
    assert len(rules) > 20
