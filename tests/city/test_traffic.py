"""Traffic on both databases through HTTP: a counter's counts and speeds as a level of service
per road segment (HCM speed ratio, volume/capacity without speed), and a camera's analytics
events listed with their snapshot links and counted per hour."""

from __future__ import annotations

import httpx
import pytest

from cityhelix.city.traffic.level import level_of_service
from tests.city.factories import CATEGORY, at, make_thing, post_readings, stream

SNAP = "https://gw.example/snap/1.jpg"


@pytest.mark.parametrize(
    ("speed", "volume", "expected"),
    [
        (45.0, None, "free"),  # 90 % of 50 km/h: HCM A
        (34.0, None, "free"),  # 68 %: B
        (33.0, None, "busy"),  # 66 %: C
        (20.5, None, "busy"),  # 41 %: D
        (17.0, None, "congested"),  # 34 %: E
        (15.0, None, "jammed"),  # 30 %: F
        (None, 1000.0, "free"),  # v/c 0.56
        (None, 1700.0, "congested"),  # v/c 0.94
        (None, 1900.0, "jammed"),  # v/c above 1
    ],
)
def test_level_of_service_follows_the_data_files_thresholds(
    speed: float | None, volume: float | None, expected: str
) -> None:
    found = level_of_service(speed, volume, 50.0, 1800.0)
    assert found is not None and found.key == expected


async def test_counters_give_each_segment_its_level(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    free, free_ids = await make_thing(
        client, admin, "Counter DL743-01",
        {"kind": "traffic", "road_segment": "DT743 km 3", "free_flow_speed_kmh": 60},
        [stream("Vehicle count", "vehicles"), stream("Speed", "km/h")],
    )  # fmt: skip
    jammed, jammed_ids = await make_thing(
        client, admin, "Counter QL13-02",
        {"kind": "traffic", "road_segment": "QL13 km 12", "free_flow_speed_kmh": 60},
        [stream("Vehicle count", "vehicles"), stream("Speed", "km/h")],
    )  # fmt: skip
    minutes = [h / 60 for h in range(0, 15, 5)]  # three 5-minute readings
    await post_readings(client, admin, free_ids["Vehicle count"], [(at(m), 100) for m in minutes])
    await post_readings(
        client,
        admin,
        free_ids["Speed"],
        [(at(m), s) for m, s in zip(minutes, (52, 55, 50), strict=True)],
    )
    await post_readings(client, admin, jammed_ids["Vehicle count"], [(at(m), 160) for m in minutes])
    await post_readings(
        client,
        admin,
        jammed_ids["Speed"],
        [(at(m), s) for m, s in zip(minutes, (12, 10, 14), strict=True)],
    )
    answer = await client.get("/api/city/traffic/levels")
    assert answer.status_code == 200, answer.text
    by_id = {row["thing_id"]: row for row in answer.json()["value"]}
    assert by_id[free]["level"] == "free" and by_id[free]["speed_kmh"] == pytest.approx(
        52.3, abs=0.1
    )
    # 300 vehicles in the 15-minute window before the newest reading: 1200 an hour
    assert by_id[free]["volume_vph"] == 1200.0
    assert by_id[jammed]["level"] == "jammed" and by_id[jammed]["segment"] == "QL13 km 12"
    one = await client.get("/api/city/traffic/levels", params={"thing_id": jammed})
    assert [row["level"] for row in one.json()["value"]] == ["jammed"]
    rule = await client.post(
        f"/api/city/traffic/segments/{jammed}/rules", json={"level": "jammed"}, headers=admin
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["speed_kmh_at_most"] == 18.0  # 30 % of its 60 km/h free flow
    made = (await client.get(f"/api/ops/rules/{rule.json()['rule_id']}", headers=admin)).json()
    assert (made["operator"], made["value"], made["datastream_ids"]) == (
        "le",
        18.0,
        [jammed_ids["Speed"]],
    )
    bad = await client.post(
        f"/api/city/traffic/segments/{jammed}/rules", json={"level": "free"}, headers=admin
    )
    assert bad.status_code == 400 and bad.json()["detail"].startswith("level")
    missing = await client.get("/api/city/traffic/levels", params={"thing_id": 999_999})
    assert missing.status_code == 404 and missing.json()["detail"].startswith("thing_id")


async def test_camera_events_are_listed_and_counted_per_hour(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    camera, ids = await make_thing(
        client, admin, "Camera Ngã tư 550", {"kind": "camera"},
        [stream("Camera event", "event", CATEGORY)],
    )  # fmt: skip
    events = [
        (at(8.1), "vehicle_count", {"vehicle_class": "motorbike", "count": 40, "confidence": 0.95}),
        (at(8.2), "vehicle_count", {"vehicle_class": "car", "count": 7, "confidence": 0.9}),
        (at(8.5), "red_light", {"confidence": 0.88, "snapshot_url": SNAP,
                                "clip_url": "https://gw.example/clip/1.mp4"}),
        (at(9.3), "vehicle_count", {"vehicle_class": "motorbike", "count": 35, "confidence": 0.95}),
        (at(9.4), "wrong_way", {"confidence": 0.7, "snapshot_url": "https://gw.example/snap/2.jpg"}),
    ]  # fmt: skip
    await post_readings(
        client,
        admin,
        ids["Camera event"],
        [(t, e) for t, e, _ in events],
        [p for _, _, p in events],
    )
    window = {"from": at(0), "to": at(24)}
    listed = await client.get(f"/api/city/traffic/cameras/{camera}/events", params=window)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 5
    red = body["value"][2]
    assert (red["event"], red["confidence"], red["snapshot_url"]) == (
        "red_light",
        0.88,
        "https://gw.example/snap/1.jpg",
    )
    hourly = await client.get(f"/api/city/traffic/cameras/{camera}/events/hourly", params=window)
    assert hourly.json()["value"] == [
        {"hour": at(8), "events": {"red_light": 1, "vehicle_count": 2},
         "vehicles": {"car": 7, "motorbike": 40}},
        {"hour": at(9), "events": {"vehicle_count": 1, "wrong_way": 1},
         "vehicles": {"motorbike": 35}},
    ]  # fmt: skip
    bad = await client.get(
        f"/api/city/traffic/cameras/{camera}/events", params={"from": "yesterday"}
    )
    assert bad.status_code == 400 and bad.json()["detail"].startswith("from")
    backwards = await client.get(
        f"/api/city/traffic/cameras/{camera}/events", params={"from": at(5), "to": at(1)}
    )
    assert backwards.status_code == 400 and backwards.json()["detail"].startswith("to")
