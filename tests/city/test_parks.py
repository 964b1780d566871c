"""Parks' environmental compliance on both databases through HTTP: QCVN 40:2011 limits with
Kq and Kf before 1 Sep 2025, QCVN 40:2025 (columns, no factors) after unless the permit keeps
2011 under the transition, QCVN 19 with Kp and Kv, exceedances counted per tenant and month in
the park operator's view with the EIP indicators, and tenancy (a tenant sees only its own
stations)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cityhelix.city.errors import Unprocessable
from cityhelix.city.parks.limits import edition_at, kf, kq, station_limits
from cityhelix.hub.service import DatastreamFacts, ThingSummary
from tests.city.factories import at, make_thing, post_readings, stream
from tests.conftest import bearer


def _facts(*names: str) -> list[DatastreamFacts]:
    return [
        DatastreamFacts(i, 1, name, "mg/l", "", name, f"https://example.org/def/{name}", {})
        for i, name in enumerate(names, start=1)
    ]


def _thing(**properties: Any) -> ThingSummary:
    return ThingSummary(1, "station", None, properties, ())


#: a moment under QCVN 40:2011 alone (before 1 Sep 2025)
IN_2024 = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("receiving", "factor"),
    [
        ({"type": "river", "flow_m3s": 50}, 0.9),
        ({"type": "river", "flow_m3s": 120}, 1.0),
        ({"type": "river", "flow_m3s": 501}, 1.2),
        ({"type": "lake", "volume_m3": 5e6}, 0.6),
        ({"type": "coastal_other"}, 1.3),
        (None, 1.0),
    ],
)
def test_kq_follows_the_receiving_water(receiving: object, factor: float) -> None:
    assert kq(receiving) == factor


def test_cmax_is_c_times_kq_times_kf_except_where_the_regulation_says_not() -> None:
    assert (kf(50), kf(800), kf(6000)) == (1.2, 1.0, 0.9)
    thing = _thing(
        kind="park_outlet",
        qcvn40_column="B",
        receiving_water={"type": "river", "flow_m3s": 30},
        discharge_m3_per_day=30,
    )
    limits = {
        lim.parameter: lim
        for lim in station_limits(thing, _facts("COD", "pH", "Temperature"), IN_2024).values()
    }
    assert limits["COD"].high == pytest.approx(150 * 0.9 * 1.2)  # 162 mg/l
    assert (limits["pH"].low, limits["pH"].high) == (5.5, 9.0)  # no factors for pH
    assert limits["temperature"].high == 40
    column_a = station_limits(_thing(kind="park_tenant", qcvn40_column="A"), _facts("COD"), IN_2024)
    assert column_a[1].high == 75


def test_stack_limits_are_qcvn_19_with_kp_and_kv() -> None:
    stack = _thing(kind="park_stack", qcvn19_column="B", stack_flow_m3_per_h=50_000, area_type="2")
    limits = {
        lim.parameter: lim
        for lim in station_limits(stack, _facts("SO2", "Dust", "Benzene")).values()
    }
    assert limits["SO2"].high == pytest.approx(500 * 0.9 * 0.8)
    assert limits["dust"].high == pytest.approx(200 * 0.9 * 0.8)
    assert limits["benzene"].high == 5


async def _tenant_station(
    client: httpx.AsyncClient, token: str, tenant: str
) -> tuple[int, dict[str, int]]:
    return await make_thing(
        client, bearer(token), f"Connection {tenant}",
        {"kind": "park_tenant", "park": "VSIP II", "tenant": tenant, "qcvn40_column": "B",
         "output_per_month": 100, "output_unit": "t"},
        [stream("COD", "mg/l"), stream("pH", ""), stream("Water consumption", "m3")],
    )  # fmt: skip


async def test_exceedances_are_counted_per_tenant_and_month(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    one, one_ids = await _tenant_station(client, tokens["tenant"], "Kumho Tire")
    two, two_ids = await _tenant_station(client, tokens["tenant2"], "Minh Long")
    await post_readings(
        client, admin, one_ids["COD"], [(at(h), 120 if h % 4 else 180) for h in range(12)]
    )
    await post_readings(client, admin, one_ids["pH"], [(at(h), 7.1) for h in range(12)])
    await post_readings(client, admin, two_ids["COD"], [(at(h), 90) for h in range(12)])
    await post_readings(
        client, admin, two_ids["pH"], [(at(h), 5.0 if h == 3 else 7.0) for h in range(12)]
    )
    await post_readings(
        client, admin, one_ids["Water consumption"], [(at(h), 25) for h in range(4)]
    )
    period = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    answer = await client.get("/api/city/parks/VSIP II", params=period, headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    # 48 readings checked; COD above 150 at hours 0, 4, 8 for one, pH 5.0 once for two
    assert (body["readings_checked"], body["exceedances"]) == (48, 4)
    assert body["compliance_rate"] == pytest.approx(100 * 44 / 48, abs=0.01)
    assert body["exceedances_by_tenant"] == {
        "Kumho Tire": {"2026-11": 3},
        "Minh Long": {"2026-11": 1},
    }
    # 100 m3 over a 30-day period of 100 t a month (30 / 30.44 months)
    water = body["tenants"]["Kumho Tire"]["water_per_output"]
    assert water == pytest.approx(100 / (100 * 30 / 30.44), abs=1e-3)
    indicators = {row["key"]: row["value"] for row in body["eip_indicators"]}
    assert indicators["tenants_monitored_share"] == 100.0
    station = await client.get(
        f"/api/city/parks/stations/{one}", params=period, headers=bearer(tokens["tenant"])
    )
    assert station.status_code == 200, station.text
    assert station.json()["exceedances_by_month"] == {"2026-11": {"COD": 3}}
    assert two != one


async def test_a_tenant_sees_only_its_own_stations(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    mine, _ = await _tenant_station(client, tokens["tenant"], "Kumho Tire")
    theirs, _ = await _tenant_station(client, tokens["tenant2"], "Minh Long")
    me = bearer(tokens["tenant"])
    assert (await client.get(f"/api/city/parks/stations/{mine}", headers=me)).status_code == 200
    refused = await client.get(f"/api/city/parks/stations/{theirs}", headers=me)
    assert refused.status_code == 403 and refused.json()["detail"].startswith("thing_id")
    listed = await client.get("/api/city/parks/stations", headers=me)
    assert [s["thing_id"] for s in listed.json()["value"]] == [mine]
    assert (await client.get("/api/city/parks/VSIP II", headers=me)).status_code == 403
    assert (await client.get(f"/api/city/parks/stations/{mine}")).status_code == 401
    staff = await client.get("/api/city/parks/stations", headers=bearer(tokens["operator"]))
    assert {s["thing_id"] for s in staff.json()["value"]} == {mine, theirs}
    rules = await client.post(f"/api/city/parks/stations/{mine}/rules", headers=me)
    assert rules.status_code == 403


def test_the_edition_follows_the_reading_date_and_the_permit() -> None:
    new = {"qcvn40_permit_edition": "2025"}
    assert edition_at(new, datetime(2025, 8, 31, 23, 59, tzinfo=UTC)) == "2011"
    assert edition_at(new, datetime(2025, 9, 1, tzinfo=UTC)) == "2025"
    # a station that does not say keeps 2011 under Circular 06/2025/TT-BTNMT Article 3
    for kept in ({}, {"qcvn40_permit_edition": "2011"}):
        assert edition_at(kept, datetime(2025, 9, 1, tzinfo=UTC)) == "2011"
        assert edition_at(kept, datetime(2031, 12, 31, 23, tzinfo=UTC)) == "2011"
        assert edition_at(kept, datetime(2032, 1, 1, tzinfo=UTC)) == "2025"
    with pytest.raises(Unprocessable, match="qcvn40_permit_edition"):
        edition_at({"qcvn40_permit_edition": "2020"}, datetime(2026, 1, 1, tzinfo=UTC))


def test_qcvn_40_2025_has_columns_a_to_c_no_factors_and_says_what_is_unverified() -> None:
    thing = _thing(
        kind="park_outlet",
        qcvn40_permit_edition="2025",
        qcvn40_column="B",
        qcvn40_2025_column="C",
        receiving_water={"type": "river", "flow_m3s": 30},
        discharge_m3_per_day=30,
    )
    in_2026 = datetime(2026, 3, 1, tzinfo=UTC)
    (cod,) = station_limits(thing, _facts("COD"), in_2026).values()
    assert (cod.high, cod.factors, cod.regulation) == (150, {}, "QCVN 40:2025/BTNMT")
    assert cod.verified is False and cod.why and "Table 1 not read" in cod.why
    with pytest.raises(Unprocessable, match="qcvn40_2025_column"):
        station_limits(
            _thing(kind="park_outlet", qcvn40_permit_edition="2025", qcvn40_2025_column="D"),
            _facts("COD"),
            in_2026,
        )


async def test_readings_either_side_of_1_september_2025_are_judged_by_their_edition(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    common = {"kind": "park_outlet", "qcvn40_column": "B", "discharge_m3_per_day": 30,
              "receiving_water": {"type": "river", "flow_m3s": 30}}  # fmt: skip
    stations = {}
    for name, extra in (("new", {"qcvn40_permit_edition": "2025"}), ("kept", {})):
        stations[name] = await make_thing(
            client, admin, f"Outlet {name}", common | extra | {"park": f"Edition park {name}"},
            [stream("COD", "mg/l")],
        )  # fmt: skip
        # 160 mg/l: under 2011's 150 x Kq 0.9 x Kf 1.2 = 162, over 2025's column B 150
        await post_readings(
            client,
            admin,
            stations[name][1]["COD"],
            [("2025-08-31T12:00:00Z", 160), ("2025-09-02T12:00:00Z", 160)],
        )
    period = {"from": "2025-08-01T00:00:00Z", "to": "2025-10-01T00:00:00Z"}
    new = await client.get("/api/city/parks/Edition park new", params=period, headers=admin)
    assert new.status_code == 200, new.text
    assert (new.json()["readings_checked"], new.json()["exceedances"]) == (2, 1)
    assert new.json()["exceedances_by_tenant"] == {"Edition park new (operator)": {"2025-09": 1}}
    kept = await client.get("/api/city/parks/Edition park kept", params=period, headers=admin)
    assert (kept.json()["readings_checked"], kept.json()["exceedances"]) == (2, 0)
    station = await client.get(
        f"/api/city/parks/stations/{stations['new'][0]}", params=period, headers=admin
    )
    (cod,) = station.json()["parameters"]
    assert (cod["regulation"], cod["high"], cod["verified"]) == ("QCVN 40:2025/BTNMT", 150, False)


def test_the_edition_changes_at_the_provinces_midnight() -> None:
    vietnam = ZoneInfo("Asia/Ho_Chi_Minh")
    new = {"qcvn40_permit_edition": "2025"}
    # 17:30Z on 31 August is 00:30 on 1 September in the province
    assert edition_at(new, datetime(2025, 8, 31, 17, 30, tzinfo=UTC), vietnam) == "2025"
    assert edition_at(new, datetime(2025, 8, 31, 16, 30, tzinfo=UTC), vietnam) == "2011"


async def test_exceedances_are_counted_in_the_provinces_month(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, ids = await make_thing(
        client, admin, "Outlet month end",
        {"kind": "park_outlet", "park": "Month-end park", "qcvn40_column": "B"},
        [stream("COD", "mg/l")],
    )  # fmt: skip
    # both over column B's 150; 18:00Z on 30 November is 01:00 on 1 December in the province
    await post_readings(
        client, admin, ids["COD"], [("2026-11-30T10:00:00Z", 200), ("2026-11-30T18:00:00Z", 200)]
    )
    period = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}
    answer = await client.get("/api/city/parks/Month-end park", params=period, headers=admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["exceedances_by_tenant"] == {
        "Month-end park (operator)": {"2026-11": 1, "2026-12": 1}
    }
