"""A lighting fault's alert is cleared through the operations centre when the fault ends in
the readings: the failed lamp draws power again while on, the day-burner goes dark in
daylight, the silent cabinet reports again; over HTTP on SQLite and PostgreSQL.

The lamps stand in Thu Dau Mot (10.98 N, 106.65 E, UTC+7): on 2 November 2026 the Sun is
up from about 22:50Z the day before to 10:40Z."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from cityhelix.city.lighting.faults import Sample, lamp_recoveries
from tests.city.lighting.helpers import make_lamp, post_readings

FIRST = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T11:45:00Z"}
LATER = {"from": "2026-11-02T00:00:00Z", "to": "2026-11-02T12:30:00Z"}


async def test_ended_faults_clear_their_alerts_and_only_theirs(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    failing = await make_lamp(client, admin, "Failing then repaired")
    burner = await make_lamp(client, admin, "Day-burner then dark")
    still = await make_lamp(client, admin, "Failing still")
    cabinet = await make_lamp(client, admin, "Cabinet TDM-09", kind="cabinet")
    for lamp in (failing, still):
        await post_readings(
            client, admin, lamp["state_datastream_id"], [("2026-11-02T11:00:00Z", 100)]
        )
        await post_readings(
            client, admin, lamp["power_datastream_id"], [("2026-11-02T11:30:00Z", 2)]
        )
    await post_readings(
        client, admin, burner["power_datastream_id"], [("2026-11-02T05:00:00Z", 80)]
    )
    await post_readings(
        client, admin, cabinet["power_datastream_id"], [("2026-11-02T10:00:00Z", 900)]
    )
    first = await client.get("/api/city/lighting/faults", params=FIRST)
    assert first.status_code == 200, first.text
    raised = {(f["fault"], f["thing_id"]) for f in first.json()["faults"]}
    assert raised == {
        ("lamp_failure", failing["thing_id"]),
        ("lamp_failure", still["thing_id"]),
        ("day_burner", burner["thing_id"]),
        ("cabinet_offline", cabinet["thing_id"]),
    }
    assert first.json()["ended"] == []

    # the repaired lamp draws 95 W at level 100; the burner drops to its standby 0.5 W at
    # 06:00Z (Sun up); the cabinet reports at 12:10Z; the other lamp still draws 3 W
    await post_readings(
        client, admin, failing["power_datastream_id"], [("2026-11-02T12:00:00Z", 95)]
    )
    await post_readings(client, admin, still["power_datastream_id"], [("2026-11-02T12:00:00Z", 3)])
    await post_readings(
        client, admin, burner["power_datastream_id"], [("2026-11-02T06:00:00Z", 0.5)]
    )
    await post_readings(
        client, admin, cabinet["power_datastream_id"], [("2026-11-02T12:10:00Z", 880)]
    )
    later = await client.get("/api/city/lighting/faults", params=LATER)
    assert later.status_code == 200, later.text
    ended = {(e["fault"], e["thing_id"]): e for e in later.json()["ended"]}
    assert set(ended) == {
        ("lamp_failure", failing["thing_id"]),
        ("day_burner", burner["thing_id"]),
        ("cabinet_offline", cabinet["thing_id"]),
    }
    assert ended[("day_burner", burner["thing_id"])]["time"] == "2026-11-02T06:00:00Z"
    assert ended[("cabinet_offline", cabinet["thing_id"])]["time"] == "2026-11-02T12:10:00Z"
    assert all(e["alert_changes"] == 1 for e in ended.values())
    states = {(a["fault"], a["thing_id"]): a for a in later.json()["alerts"]}
    assert {key: a["state"] for key, a in states.items()} == {
        ("lamp_failure", failing["thing_id"]): "cleared",
        ("lamp_failure", still["thing_id"]): "active",
        ("day_burner", burner["thing_id"]): "cleared",
        ("cabinet_offline", cabinet["thing_id"]): "cleared",
    }
    assert states[("lamp_failure", failing["thing_id"])]["ended_at"] == "2026-11-02T12:00:00Z"
    # the same readings again: nothing open to end, nothing raised anew
    again = await client.get("/api/city/lighting/faults", params=LATER)
    assert again.json()["ended"] == []
    assert sorted(a["state"] for a in again.json()["alerts"]) == sorted(
        a["state"] for a in later.json()["alerts"]
    )


def test_a_flicker_ends_after_a_whole_window_of_steady_power() -> None:
    night = datetime(2026, 11, 2, 12, tzinfo=UTC)
    power = [Sample(i + 1, night + timedelta(minutes=i), 90 if i % 2 == 0 else 0) for i in range(5)]
    power += [
        Sample(6, night + timedelta(minutes=10), 90),
        Sample(7, night + timedelta(minutes=20), 90),
    ]
    (steady,) = lamp_recoveries(1, 2, 100, 10.98, 106.65, power, [])
    # the last switch is at 12:04; 12:10 is 6 minutes on, 12:20 a whole 10-minute window
    assert (steady.fault, steady.observation_id) == ("flicker", 7)
