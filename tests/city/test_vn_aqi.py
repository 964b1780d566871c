"""VN_AQI as Decision 1459/QĐ-TCMT computes it: the Decision's own NO2 worked example (its
printed 60 is a rounding error: its formula gives 59.35, so 59), Table 2's breakpoints, the
NowCast with both weight regimes and missing hours, daily means with the completeness rule,
O3's 8-hour part and its cut-off; then the same through `GET /api/city/air/aqi` on both
databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cityhelix.city.air.index import daily_aqi, hourly_aqi, nowcast, sub_index
from tests.city.factories import at, make_thing, post_readings, stream

# ------------------------------------------------------------------ the method, by hand


def test_the_decisions_no2_example_is_59_35_not_the_printed_60() -> None:
    # (I_{i+1} - I_i) / (BP_{i+1} - BP_i) * (C - BP_i) + I_i = 50 / 100 * 18.7 + 50
    assert sub_index("NO2", 118.7) == pytest.approx(59.35)
    result = hourly_aqi({"PM2.5": [10.0] * 12, "NO2": [118.7]})
    assert result.dominant == "NO2"
    assert result.aqi == 59  # the Decision prints 60; rounding 59.35 gives 59


@pytest.mark.parametrize(
    ("row", "concentration", "index"),
    [
        ("PM2.5", 25, 50), ("PM2.5", 50, 100), ("PM2.5", 80, 150), ("PM2.5", 500, 500),
        ("PM10", 150, 100), ("PM10", 420, 300), ("NO2", 1200, 200), ("SO2", 350, 100),
        ("CO", 10000, 50), ("CO", 150000, 500), ("O3", 200, 100), ("O3_8h", 170, 150),
        ("O3_8h", 400, 300), ("PM2.5", 37.5, 75),
    ],
)  # fmt: skip
def test_table_2_breakpoints_give_their_index_levels(
    row: str, concentration: float, index: float
) -> None:
    assert sub_index(row, concentration) == pytest.approx(index)


def test_o3_8_hour_row_is_not_used_above_its_table() -> None:
    assert sub_index("O3_8h", 400.1) is None
    assert sub_index("O3", 1300) == 500  # the 1-hour row tops at 500


def test_nowcast_weights_by_the_spread_of_the_last_12_hours() -> None:
    # latest first; w* = 20/30 > 1/2: (30 + 28w + 25w^2 + 20w^3) / (1 + w + w^2 + w^3)
    w = 2 / 3
    expected = (30 + 28 * w + 25 * w**2 + 20 * w**3) / (1 + w + w**2 + w**3)
    assert nowcast([30, 28, 25, 20]) == pytest.approx(expected)
    assert expected == pytest.approx(27.2923, abs=1e-4)


def test_nowcast_with_weight_one_half_is_the_decisions_sum_of_halves() -> None:
    # w* = 10/100 <= 1/2, so w = 1/2: sum (1/2)^i c_i = 50 + 2.5 + 1.25
    assert nowcast([100, 10, 10]) == pytest.approx(53.75)


def test_nowcast_leaves_out_missing_hours_and_needs_two_of_the_latest_three() -> None:
    w = 30 / 40
    assert nowcast([40, None, 30]) == pytest.approx((40 + 30 * w**2) / (1 + w**2))
    assert nowcast([None, 10, 10]) == pytest.approx(10)
    assert nowcast([10, None, None, 10, 10, 10]) is None


def test_no_index_without_pm25_or_pm10() -> None:
    result = hourly_aqi({"NO2": [150.0], "O3": [100.0]})
    assert result.aqi is None and result.missing is not None
    lacking = hourly_aqi({"PM2.5": [None, None, 40.0], "NO2": [150.0]})
    assert lacking.aqi is None  # PM2.5 present but too sparse for a NowCast


def test_daily_pm_needs_18_hours_and_uses_their_mean() -> None:
    eighteen: list[float | None] = [40.0] * 9 + [60.0] * 9 + [None] * 6
    assert daily_aqi({"PM2.5": eighteen}).sub_indices["PM2.5"] == pytest.approx(100)
    seventeen: list[float | None] = [40.0] * 17 + [None] * 7
    assert daily_aqi({"PM2.5": seventeen}).aqi is None


def test_daily_o3_is_the_higher_of_1_hour_and_8_hour_and_drops_8_hour_above_400() -> None:
    pm: list[float | None] = [10.0] * 24
    # 150 all day: 1-hour 150 -> 46.875; 8-hour 150 -> 100 + 50 * 30/50 = 130
    steady = daily_aqi({"PM2.5": pm, "O3": [150.0] * 24}, [150.0] * 7)
    assert steady.sub_indices["O3"] == pytest.approx(130)
    assert (steady.aqi, steady.dominant, steady.category and steady.category.colour) == (
        130,
        "O3",
        "#FF7E00",
    )
    # 450 all day: the 8-hour mean is above the 8-hour table: 1-hour 200 + 100 * 50/400
    high = daily_aqi({"PM2.5": pm, "O3": [450.0] * 24}, [450.0] * 7)
    assert high.sub_indices["O3"] == pytest.approx(212.5)
    # an 8-hour mean needs 6 of its 8 hours: every other hour is not enough
    sparse = daily_aqi({"PM2.5": pm, "O3": [150.0 if h % 2 else None for h in range(24)]})
    assert sparse.sub_indices["O3"] == pytest.approx(46.875)


def test_daily_so2_no2_co_use_the_days_highest_hour() -> None:
    day: dict[str, list[float | None]] = {
        "PM10": [20.0] * 24,
        "SO2": [50.0] * 23 + [350.0],
        "CO": [None] * 12 + [30000.0] + [None] * 11,
    }
    result = daily_aqi(day)
    assert result.sub_indices["SO2"] == pytest.approx(100)
    assert result.sub_indices["CO"] == pytest.approx(100)
    assert result.aqi == 100


# ------------------------------------------------------------------------- over HTTP


async def _station(client: httpx.AsyncClient, admin: dict[str, str]) -> tuple[int, dict[str, int]]:
    return await make_thing(
        client,
        admin,
        "Air station TDM-01",
        {"kind": "air_quality", "district": "Thu Dau Mot"},
        [stream("PM2.5"), stream("PM10"), stream("NO2"), stream("O3")],
    )


#: the province's midnight of 3 November 2026 (Asia/Ho_Chi_Minh, UTC+7, the default zone)
LOCAL_DAY = datetime(2026, 11, 2, 17, tzinfo=UTC)


async def _aqi(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/city/air/aqi", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_hourly_and_daily_aqi_over_http(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id, ids = await _station(client, admin)
    # hours from the province's midnight of 3 November (17:00Z on the 2nd, Asia/Ho_Chi_Minh):
    # PM2.5 40 for hours 0-9 and 60 for 10-19 (20 of 24 hours), PM10 100 all day
    await post_readings(
        client, admin, ids["PM2.5"], [(at(h, LOCAL_DAY), 40 if h < 10 else 60) for h in range(20)]
    )
    await post_readings(client, admin, ids["PM10"], [(at(h, LOCAL_DAY), 100) for h in range(24)])
    await post_readings(
        client, admin, ids["NO2"], [(at(h, LOCAL_DAY), 118.7 if h == 5 else 30) for h in range(24)]
    )
    await post_readings(client, admin, ids["O3"], [(at(h, LOCAL_DAY), 150) for h in range(-7, 24)])

    hourly = await _aqi(client, thing_id=thing_id, hour="2026-11-02T22")
    # hour 5 (22:00Z): PM2.5 NowCast of six 40s = 40 -> 80; PM10 100 -> 75; NO2 118.7 -> 59.35;
    # O3 1-hour 150 -> 46.875
    assert hourly["sub_indices"] == {"PM2.5": 80.0, "PM10": 75.0, "NO2": 59.35, "O3": 46.88}
    assert (hourly["aqi"], hourly["dominant"], hourly["category"], hourly["colour"]) == (
        80,
        "PM2.5",
        "moderate",
        "#FFFF00",
    )
    assert hourly["inputs"]["PM2.5"] == 40.0

    # the current index is at the hour of the newest PM reading (PM10's hour 23); PM2.5 has
    # none of its latest three hours (21-23) there, so PM10 (100 -> 75) alone counts
    now = (await client.get("/api/city/air/stations")).json()["value"]
    assert [(s["thing_id"], s["hour"], s["aqi"], s["dominant"]) for s in now] == [
        (thing_id, at(23, LOCAL_DAY), 75, "PM10")
    ]
    districts = (await client.get("/api/city/air/districts")).json()["value"]
    assert districts == [
        {"district": "Thu Dau Mot", "aqi": 75, "category": "moderate", "colour": "#FFFF00",
         "stations": 1, "worst_station_id": thing_id,
         "category_en": "Moderate", "category_vi": "Trung bình"}
    ]  # fmt: skip

    daily = await _aqi(client, thing_id=thing_id, date="2026-11-03")
    # PM2.5 mean 50 -> 100; O3 8-hour 150 -> 130 beats its 1-hour 46.875
    assert daily["sub_indices"]["PM2.5"] == 100.0
    assert daily["sub_indices"]["O3"] == 130.0
    assert (daily["aqi"], daily["dominant"], daily["category"], daily["colour"]) == (
        130,
        "O3",
        "poor",
        "#FF7E00",
    )


async def test_the_daily_index_is_of_the_provinces_day_not_the_utc_day(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id, ids = await _station(client, admin)
    # PM2.5 20 through the province's 3 November (17:00Z on the 2nd to 16:00Z on the 3rd),
    # then 200 from its midnight of the 4th (17:00Z-23:00Z on the 3rd, the UTC day's end)
    await post_readings(
        client, admin, ids["PM2.5"], [(at(h, LOCAL_DAY), 20 if h < 24 else 200) for h in range(31)]
    )
    daily = await _aqi(client, thing_id=thing_id, date="2026-11-03")
    # 24-hour mean 20 -> 40 (0-25 ug/m3 maps to 0-50); the UTC day would mean 72.5
    assert (daily["inputs"]["PM2.5"], daily["aqi"]) == (20.0, 40)
    next_day = await _aqi(client, thing_id=thing_id, date="2026-11-04")
    assert next_day["aqi"] is None  # 7 of its 24 hours


async def test_missing_hours_leave_no_index_without_pm(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id, ids = await _station(client, admin)
    # hour 12 asked, hours 11 and 10 missing: one of the latest three, no NowCast
    await post_readings(client, admin, ids["PM2.5"], [(at(h), 35) for h in (3, 6, 9, 12)])
    await post_readings(client, admin, ids["NO2"], [(at(12), 300)])
    hourly = await _aqi(client, thing_id=thing_id, hour="2026-11-03T12")
    assert hourly["aqi"] is None and hourly["inputs"]["PM2.5"] is None
    assert "PM2.5" in hourly["missing"]
    # with hour 11 there, the NowCast uses 12, 11 and the older hours present
    await post_readings(client, admin, ids["PM2.5"], [(at(11), 45)])
    again = await _aqi(client, thing_id=thing_id, hour="2026-11-03T12")
    w = 35 / 45
    expected = (35 + 45 * w + 35 * w**3 + 35 * w**6 + 35 * w**9) / (1 + w + w**3 + w**6 + w**9)
    assert again["inputs"]["PM2.5"] == pytest.approx(expected, abs=1e-3)
    # the day has 5 PM2.5 hours of 24: no daily index
    daily = await _aqi(client, thing_id=thing_id, date="2026-11-03")
    assert daily["aqi"] is None


async def test_bad_aqi_requests_name_the_field(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    thing_id, _ = await _station(client, admin)
    cases = [
        ({"thing_id": thing_id}, 400, "date"),
        ({"thing_id": thing_id, "date": "2026-11-03", "hour": "2026-11-03T01"}, 400, "date"),
        ({"thing_id": thing_id, "hour": "2026-11-03 01h"}, 400, "hour"),
        ({"thing_id": thing_id, "date": "03/11/2026"}, 400, "date"),
        ({"thing_id": 999_999, "date": "2026-11-03"}, 404, "thing_id"),
    ]
    for params, status, field in cases:
        answer = await client.get("/api/city/air/aqi", params=params)
        assert answer.status_code == status, (params, answer.text)
        assert answer.json()["detail"].startswith(field), answer.text
    huge = await client.get("/api/city/air/aqi", params={"thing_id": 2**70, "date": "2026-11-03"})
    assert huge.status_code == 422 and huge.json()["detail"][0]["loc"] == ["query", "thing_id"]
    no_pm, _ = await make_thing(client, admin, "NO2 only", {"kind": "air_quality"}, [stream("NO2")])
    answer = await client.get("/api/city/air/aqi", params={"thing_id": no_pm, "date": "2026-11-03"})
    assert answer.status_code == 422 and answer.json()["detail"].startswith("thing_id")
