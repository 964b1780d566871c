"""Faults found in crafted readings raise alerts through the operations centre, and the
energy report equals SQL over the same readings; over HTTP on SQLite and PostgreSQL.

The lamps stand in Thu Dau Mot (10.98 N, 106.65 E, UTC+7): on 2 November 2026 the Sun is
up at 05:00Z (noon local) and down at 11:00Z (18:00 local, after civil dusk at ~17:54).
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.types import UtcDateTime
from tests.city.lighting.helpers import make_lamp, post_readings

pytestmark = pytest.mark.asyncio
DAY = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}


async def test_lamp_failure_day_burner_flicker_and_offline_cabinet_raise_alerts(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    failing = await make_lamp(client, admin, "Failing")
    burner = await make_lamp(client, admin, "Day-burner")
    healthy = await make_lamp(client, admin, "Healthy")
    flickering = await make_lamp(client, admin, "Flickering")
    cabinet = await make_lamp(client, admin, "Cabinet TDM-01", kind="cabinet")
    # on (state 100) at night but drawing 2 W of its 100 W
    await post_readings(
        client, admin, failing["state_datastream_id"], [("2026-11-02T11:00:00Z", 100)]
    )
    await post_readings(
        client, admin, failing["power_datastream_id"], [("2026-11-02T11:30:00Z", 2)]
    )
    # 80 W at noon
    await post_readings(
        client,
        admin,
        burner["power_datastream_id"],
        [("2026-11-02T05:00:00Z", 80), ("2026-11-02T11:30:00Z", 95)],
    )
    # what a sound lamp does: dark by day, full power when told at night
    await post_readings(
        client, admin, healthy["state_datastream_id"], [("2026-11-02T11:00:00Z", 100)]
    )
    await post_readings(
        client,
        admin,
        healthy["power_datastream_id"],
        [("2026-11-02T05:00:00Z", 0.4), ("2026-11-02T11:30:00Z", 96)],
    )
    # on, off, on, off, on within ten minutes at night
    await post_readings(
        client,
        admin,
        flickering["power_datastream_id"],
        [(f"2026-11-02T12:0{minute}:00Z", 90 if minute % 2 == 0 else 0) for minute in range(5)],
    )
    # the cabinet's last report is 10:00Z, hours before the end of the window
    await post_readings(
        client, admin, cabinet["power_datastream_id"], [("2026-11-02T10:00:00Z", 900)]
    )

    answer = await client.get("/api/city/lighting/faults", params=DAY)
    assert answer.status_code == 200, answer.text
    found = {(f["fault"], f["thing_id"]) for f in answer.json()["faults"]}
    assert found == {
        ("lamp_failure", failing["thing_id"]),
        ("day_burner", burner["thing_id"]),
        ("flicker", flickering["thing_id"]),
        ("cabinet_offline", cabinet["thing_id"]),
    }
    alerts = {(a["fault"], a["thing_id"]): a for a in answer.json()["alerts"]}
    assert set(alerts) == found  # each raised once in the operations centre
    assert alerts[("cabinet_offline", cabinet["thing_id"])]["severity"] == "critical"
    day_burn = alerts[("day_burner", burner["thing_id"])]
    assert day_burn["datastream_id"] == burner["power_datastream_id"]
    again = await client.get("/api/city/lighting/faults", params=DAY)
    assert len(again.json()["alerts"]) == len(found)  # the same faults raise nothing new
    assert {a["count"] for a in again.json()["alerts"]} == {1}


BAD_PERIODS = [
    ({"from": "yesterday", "to": DAY["to"]}, "from"),
    ({"from": DAY["to"], "to": DAY["from"]}, "to"),
    ({"from": DAY["from"]}, "to"),
    ({**DAY, "group": "ward"}, "group"),
]


async def test_bad_periods_and_groups_are_refused_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    for params, field in BAD_PERIODS:
        for path in ("/api/city/lighting/energy", "/api/city/lighting/faults"):
            if path.endswith("faults") and field == "group":
                continue
            answer = await client.get(path, params=params)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["field"] == field
    refused = await client.get("/api/city/lighting/tasks", params={"status": "lost"})
    assert refused.status_code == 400 and refused.json()["field"] == "status"


async def _sql_kwh(engine: AsyncEngine, datastream_ids: list[int]) -> dict[int, float]:
    """kWh per Datastream in SQL: each reading times the time to the next, capped at 1 h."""
    hours = (
        "MIN((julianday(next_t) - julianday(t)) * 24.0, 1.0)"
        if engine.dialect.name == "sqlite"
        else "LEAST(EXTRACT(EPOCH FROM (next_t - t)) / 3600.0, 1.0)"
    )
    query = text(
        f"SELECT datastream_id, SUM(result_number * {hours}) / 1000.0 FROM ("
        " SELECT datastream_id, result_number, phenomenon_time_start AS t,"
        "  LEAD(phenomenon_time_start) OVER ("
        "   PARTITION BY datastream_id ORDER BY phenomenon_time_start, id) AS next_t"
        " FROM observations WHERE datastream_id IN :ids"
        "  AND phenomenon_time_start >= :start AND phenomenon_time_start < :end"
        ") AS paired WHERE next_t IS NOT NULL GROUP BY datastream_id"
    ).bindparams(
        bindparam("ids", expanding=True),
        bindparam("start", type_=UtcDateTime),
        bindparam("end", type_=UtcDateTime),
    )
    async with engine.connect() as connection:
        rows = await connection.execute(
            query,
            {
                "ids": datastream_ids,
                "start": datetime(2026, 11, 2, tzinfo=UTC),
                "end": datetime(2026, 11, 3, tzinfo=UTC),
            },
        )
        return {int(row[0]): float(row[1]) for row in rows}


async def test_energy_per_district_and_lamp_equals_sql_over_the_readings(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    first = await make_lamp(client, admin, "TDM 1")
    second = await make_lamp(client, admin, "TDM 2", road="Cach Mang Thang Tam")
    other = await make_lamp(client, admin, "Di An 1", district="Di An", rated_watts=150)
    await post_readings(
        client,
        admin,
        first["power_datastream_id"],
        [
            ("2026-11-01T23:50:00Z", 100),  # before the period: not counted
            ("2026-11-02T11:00:00Z", 100),
            ("2026-11-02T11:30:00Z", 50),
            ("2026-11-02T12:00:00Z", 50),  # held 2 h until the next: counts 1 h
            ("2026-11-02T14:00:00Z", 0),
            ("2026-11-02T14:30:00Z", 100),
        ],
    )
    await post_readings(
        client,
        admin,
        second["power_datastream_id"],
        [("2026-11-02T11:00:00Z", 40), ("2026-11-02T11:20:00Z", 40), ("2026-11-02T13:00:00Z", 5)],
    )
    await post_readings(
        client,
        admin,
        other["power_datastream_id"],
        [("2026-11-02T11:00:00Z", 150), ("2026-11-02T11:15:00Z", 75), ("2026-11-02T11:45:00Z", 0)],
    )
    streams = [
        first["power_datastream_id"],
        second["power_datastream_id"],
        other["power_datastream_id"],
    ]
    sql = await _sql_kwh(engine, streams)
    answer = await client.get("/api/city/lighting/energy", params={**DAY, "group": "district"})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    by_group = {g["group"]: g for g in report["groups"]}
    assert set(by_group) == {"Thu Dau Mot", "Di An"}
    tdm = sql[first["power_datastream_id"]] + sql[second["power_datastream_id"]]
    assert by_group["Thu Dau Mot"]["kwh"] == pytest.approx(tdm, abs=1e-6)
    assert by_group["Di An"]["kwh"] == pytest.approx(sql[other["power_datastream_id"]], abs=1e-6)
    assert report["total"]["kwh"] == pytest.approx(sum(sql.values()), abs=1e-6)
    # by hand for the first lamp: 0.05 + 0.025 + 0.05 + 0 kWh, 2 h burning at 100 W rated
    lamp_one = next(lamp for lamp in report["lamps"] if lamp["thing_id"] == first["thing_id"])
    assert lamp_one["kwh"] == pytest.approx(0.125)
    assert lamp_one["baseline_kwh"] == pytest.approx(0.2)
    assert lamp_one["savings_kwh"] == pytest.approx(0.075)
    assert lamp_one["savings_percent"] == pytest.approx(37.5)
    assert lamp_one["days"] == [{"date": "2026-11-02", "kwh": pytest.approx(0.125)}]
    by_road = await client.get("/api/city/lighting/energy", params={**DAY, "group": "road"})
    roads = {g["group"]: g["lamps"] for g in by_road.json()["groups"]}
    assert roads == {"Yersin": 2, "Cach Mang Thang Tam": 1}


async def test_energy_per_day_splits_at_the_provinces_midnight(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    lamp = await make_lamp(client, admin, "TDM midnight")
    # 23:30 and 00:30 in Thu Dau Mot (UTC+7, the default province zone): two local days,
    # one UTC day
    await post_readings(
        client,
        admin,
        lamp["power_datastream_id"],
        [("2026-11-02T16:30:00Z", 100), ("2026-11-02T17:30:00Z", 100), ("2026-11-02T18:00:00Z", 0)],
    )
    answer = await client.get(
        "/api/city/lighting/energy", params={**DAY, "group": "lamp"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    (mine,) = [x for x in answer.json()["lamps"] if x["thing_id"] == lamp["thing_id"]]
    # 100 W held 1 h from 23:30 local on the 2nd, 100 W held 30 min from 00:30 on the 3rd
    assert mine["days"] == [
        {"date": "2026-11-02", "kwh": pytest.approx(0.1)},
        {"date": "2026-11-03", "kwh": pytest.approx(0.05)},
    ]
