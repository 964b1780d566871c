"""Water levels on both databases through HTTP: a gauge's level against its official alert
levels (data per gauge), its rising rate, the time to the next level; bad rule requests."""

from __future__ import annotations

import httpx
import pytest

from tests.city.factories import at, make_thing, post_readings, stream


async def test_gauge_level_rate_and_time_to_next_level(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    gauge, ids = await make_thing(
        client, admin, "Gauge Thu Dau Mot", {"kind": "water_level", "station_code": "TDM-SG"},
        [stream("Water level", "cm"), stream("Rainfall", "mm/h")],
    )  # fmt: skip
    # in centimetres: 120 at 10:00, 130 at 10:30, 145 at 11:00 (levels I 1.30, II 1.40, III 1.50 m)
    await post_readings(
        client, admin, ids["Water level"], [(at(10), 120), (at(10.5), 130), (at(11), 145)]
    )
    await post_readings(client, admin, ids["Rainfall"], [(at(11), 32.5)])
    answer = await client.get(f"/api/city/water/gauges/{gauge}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["level_m"] == pytest.approx(1.45)
    assert body["alert_levels_m"] == {"I": 1.3, "II": 1.4, "III": 1.5}
    assert body["reached"] == "II" and body["next_level"] == "III"
    assert body["rate_cm_per_h"] == pytest.approx(25.0)  # 25 cm over the last hour
    assert body["hours_to_next_level"] == pytest.approx(0.2)  # 5 cm at 25 cm/h
    assert body["rain_mm_per_h"] == 32.5
    listed = await client.get("/api/city/water/gauges")
    assert [g["thing_id"] for g in listed.json()["value"]] == [gauge]


async def test_gauges_without_levels_and_bad_rules_are_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    unknown, _ = await make_thing(
        client,
        admin,
        "Gauge X",
        {"kind": "water_level", "station_code": "NOPE"},
        [stream("Water level", "m")],
    )
    answer = await client.get(f"/api/city/water/gauges/{unknown}")
    assert answer.status_code == 422 and answer.json()["detail"].startswith("thing_id")
    gauge, _ = await make_thing(
        client,
        admin,
        "Gauge BC",
        {"kind": "water_level", "station_code": "BC-DN"},
        [stream("Water level", "m")],
    )
    cases = [
        ({"level": "IV"}, 400, "level"),
        ({"rise_cm_per_h": "fast", "rain_mm_per_h": 10}, 400, "rise_cm_per_h"),
        ({"rise_cm_per_h": 10, "rain_mm_per_h": 10}, 422, "rain_thing_id"),
        ([1, 2], 400, "body"),
    ]
    for body, status, field in cases:
        made = await client.post(f"/api/city/water/gauges/{gauge}/rules", json=body, headers=admin)
        assert made.status_code == status, (body, made.text)
        assert made.json()["detail"].startswith(field)
    anonymous = await client.post(f"/api/city/water/gauges/{gauge}/rules", json={"level": "II"})
    assert anonymous.status_code == 401
    rules = await client.get("/api/ops/rules", headers=admin)
    assert rules.json()["value"] == []  # nothing was written
