"""City data raising the operations centre's alerts, with readings arriving over real MQTT
(Mosquitto) into an app that evaluates rules live, on both databases: a camera's fire event,
a gauge above alert level II and rising fast in heavy rain, a QCVN exceedance counted for the
right tenant."""

from __future__ import annotations

from typing import Any

import orjson

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user
from tests.city.conftest import LiveCity
from tests.city.factories import CATEGORY, at, make_thing, stream
from tests.conftest import ADMIN_TOKEN, bearer

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _publish(city: LiveCity, datastream_id: int, rows: list[dict[str, Any]]) -> None:
    async with city.device() as device:
        for row in rows:
            await device.publish(
                f"v1.1/Datastreams({datastream_id})/Observations", orjson.dumps(row), qos=1
            )


async def test_a_cameras_fire_event_raises_an_alert(live_city: LiveCity) -> None:
    client = live_city.client
    camera, ids = await make_thing(
        client, ADMIN, "Camera Chợ Thủ Dầu Một", {"kind": "camera"},
        [stream("Camera event", "event", CATEGORY)],
    )  # fmt: skip
    made = await client.post(
        f"/api/city/traffic/cameras/{camera}/alerting",
        json={"events": ["fire_smoke"], "min_confidence": 0.7},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    (rule,) = made.json()["value"]
    again = await client.post(
        f"/api/city/traffic/cameras/{camera}/alerting",
        json={"events": ["fire_smoke"], "min_confidence": 0.7},
        headers=ADMIN,
    )
    assert again.json()["value"][0]["rule_id"] == rule["rule_id"]  # found, not made twice
    events = ids["Camera event"]
    await _publish(live_city, events, [
        {"phenomenonTime": at(20), "result": "vehicle_count",
         "parameters": {"vehicle_class": "car", "count": 4, "confidence": 0.9}},
        {"phenomenonTime": at(20.1), "result": "fire_smoke",
         "parameters": {"confidence": 0.4, "snapshot_url": "https://gw.example/s/1.jpg"}},
        {"phenomenonTime": at(20.2), "result": "fire_smoke",
         "parameters": {"confidence": 0.93, "snapshot_url": "https://gw.example/s/2.jpg"}},
    ])  # fmt: skip
    raised = await live_city.watch.alert("raise", rule_id=rule["rule_id"], datastream_id=events)
    assert raised.payload["severity"] == "critical" and raised.payload["thing_id"] == camera
    assert raised.payload["first_seen"] == at(20.2)  # the confident one, not the 0.4
    alerts = await client.get("/api/ops/alerts", params={"rule_id": rule["rule_id"]}, headers=ADMIN)
    assert [a["state"] for a in alerts.json()["value"]] == ["active"]


async def test_a_gauge_above_level_ii_and_rising_in_rain_raises_alerts(live_city: LiveCity) -> None:
    client = live_city.client
    gauge, ids = await make_thing(
        client, ADMIN, "Gauge Thu Dau Mot", {"kind": "water_level", "station_code": "TDM-SG"},
        [stream("Water level", "m"), stream("Rainfall", "mm/h")],
    )  # fmt: skip
    level = await client.post(
        f"/api/city/water/gauges/{gauge}/rules", json={"level": "II"}, headers=ADMIN
    )
    assert level.status_code == 201, level.text
    assert level.json()["value"] == 1.4
    flood = await client.post(
        f"/api/city/water/gauges/{gauge}/rules",
        json={"rise_cm_per_h": 10, "rain_mm_per_h": 20},
        headers=ADMIN,
    )
    assert flood.status_code == 201, flood.text
    await _publish(live_city, ids["Rainfall"], [{"phenomenonTime": at(9.9), "result": 35}])
    await _publish(live_city, ids["Water level"], [
        {"phenomenonTime": at(10), "result": 1.20},
        {"phenomenonTime": at(10.5), "result": 1.30},  # 20 cm/h: faster than 10
        {"phenomenonTime": at(11), "result": 1.45},  # above II (1.40)
    ])  # fmt: skip
    watch = live_city.watch
    combined = await watch.alert("raise", rule_id=flood.json()["rule_id"])
    assert combined.payload["severity"] == "critical"
    above = await watch.alert("raise", rule_id=level.json()["rule_id"])
    assert above.payload["value"] == 1.45 and above.payload["first_seen"] == at(11)
    status = (await client.get(f"/api/city/water/gauges/{gauge}")).json()
    assert (status["reached"], status["rate_cm_per_h"], status["hours_to_next_level"]) == (
        "II",
        25.0,
        0.2,
    )


async def test_a_qcvn_exceedance_raises_an_alert_counted_for_its_tenant(
    live_city: LiveCity,
) -> None:
    client = live_city.client
    tokens = {
        name: await create_user(live_city.engine, f"{name}-{id(live_city)}", Role.TENANT)
        for name in ("kumho", "minhlong")
    }
    stations = {}
    for name, tenant in (("kumho", "Kumho Tire"), ("minhlong", "Minh Long")):
        stations[name] = await make_thing(
            client, bearer(tokens[name]), f"Connection {tenant}",
            {"kind": "park_tenant", "park": "Mỹ Phước 3", "tenant": tenant, "qcvn40_column": "B"},
            [stream("COD", "mg/l"), stream("pH", "")],
        )  # fmt: skip
        made = await client.post(
            f"/api/city/parks/stations/{stations[name][0]}/rules", headers=ADMIN
        )
        assert made.status_code == 201, made.text
    _, kumho = stations["kumho"]
    _, minhlong = stations["minhlong"]
    await _publish(live_city, minhlong["COD"], [{"phenomenonTime": at(2), "result": 95}])
    await _publish(live_city, kumho["COD"], [
        {"phenomenonTime": at(1), "result": 120}, {"phenomenonTime": at(2), "result": 171.5},
    ])  # fmt: skip
    raised = await live_city.watch.alert("raise", datastream_id=kumho["COD"])
    # judged by the city's consumer: the reading over the limit in force (2025, column B 150)
    assert raised.payload["value"] == round(171.5 / 150, 6)
    alerts = await client.get(
        "/api/city/parks/alerts", params={"park": "Mỹ Phước 3"}, headers=ADMIN
    )
    assert [(a["tenant"], a["value"]) for a in alerts.json()["value"]] == [
        ("Kumho Tire", round(171.5 / 150, 6))
    ]
    own = await client.get("/api/city/parks/alerts", headers=bearer(tokens["minhlong"]))
    assert own.json()["value"] == []  # the other tenant's alert is not theirs
    period = {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}
    overview = await client.get("/api/city/parks/Mỹ Phước 3", params=period, headers=ADMIN)
    assert overview.json()["exceedances_by_tenant"] == {
        "Kumho Tire": {"2026-11": 1},
        "Minh Long": {},
    }


async def test_a_cod_reading_is_judged_over_mqtt_by_the_edition_of_its_date(
    live_city: LiveCity,
) -> None:
    client = live_city.client
    outlet, ids = await make_thing(
        client, ADMIN, "Outlet Bàu Bàng",
        {"kind": "park_outlet", "park": "Bàu Bàng", "qcvn40_column": "B",
         "qcvn40_permit_edition": "2025",  # a facility permitted under the new edition
         "discharge_m3_per_day": 30, "receiving_water": {"type": "river", "flow_m3s": 30}},
        [stream("COD", "mg/l")],
    )  # fmt: skip
    made = await client.post(f"/api/city/parks/stations/{outlet}/rules", headers=ADMIN)
    assert made.status_code == 201, made.text
    await _publish(live_city, ids["COD"], [
        # QCVN 40:2011: 150 x Kq 0.9 x Kf 1.2 = 162 mg/l; 160 is 0.987654 of it: no alert
        {"phenomenonTime": "2025-08-31T12:00:00Z", "result": 160},
        # QCVN 40:2025 column B: 150 mg/l (provisional, unverified); 160 is 1.066667 of it
        {"phenomenonTime": "2025-09-02T12:00:00Z", "result": 160},
    ])  # fmt: skip
    raised = await live_city.watch.alert("raise", datastream_id=ids["COD"])
    assert raised.payload["first_seen"] == "2025-09-02T12:00:00Z"
    assert raised.payload["value"] == round(160 / 150, 6)
