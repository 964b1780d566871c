"""Observation time partitions on PostgreSQL, and retention on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.partitions import existing_months, maintain
from tests.conftest import Backend
from tests.hub.factories import full_thing

pytestmark = pytest.mark.asyncio

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def _post_months(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    created = (
        await client.post("/v1.1/Things", json=full_thing(observations=0), headers=admin)
    ).json()
    stream = (await client.get(f"{created['@iot.selfLink']}/Datastreams")).json()["value"][0]
    body = [
        {
            "Datastream": {"@iot.id": stream["@iot.id"]},
            "components": ["phenomenonTime", "result"],
            "dataArray": [[f"2026-{m:02d}-15T00:00:00Z", m] for m in range(1, 13)],
        }
    ]
    assert (
        await client.post("/v1.1/CreateObservations", json=body, headers=admin)
    ).status_code == 201
    return int(stream["@iot.id"])


async def test_months_split_out_and_old_months_dropped(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, backend: Backend
) -> None:
    stream = await _post_months(client, admin)
    report = await maintain(engine, now=NOW, months_ahead=2)
    if backend.name == "postgresql":
        async with engine.connect() as connection:
            months = await existing_months(connection)
            in_default = await connection.scalar(text("SELECT count(*) FROM observations_default"))
        assert {(m.year, m.month) for m in months} >= {(2026, m) for m in range(1, 13)} | {
            (2027, 1)
        }
        assert in_default == 0
        assert "observations_y2026m03" in report.split_out
    url = f"/v1.1/Datastreams({stream})/Observations"
    assert (await client.get(url, params={"$count": "true"})).json()["@iot.count"] == 12
    # keep 200 days: the months ending before 2026-05-07 go
    report = await maintain(engine, now=NOW, retention_days=200)
    if backend.name == "postgresql":
        # earlier tests in this database may have left older, empty months to drop too
        ours = [name for name in report.dropped if name.startswith("observations_y2026")]
        assert ours == [f"observations_y2026m{m:02d}" for m in range(1, 5)]
    remaining = (await client.get(url, params={"$count": "true"})).json()
    assert remaining["@iot.count"] == 8  # the cut-off is 2026-05-07: January to April go
    assert min(o["result"] for o in remaining["value"]) == 5
