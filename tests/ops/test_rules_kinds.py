"""Each kind of rule fires and clears on crafted readings through the live stream; scopes
by ObservedProperty, district and polygon cover Datastreams made after the rule."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.hub.factories import datastream, sensor
from tests.ops.conftest import Watch
from tests.ops.readings import alerts, new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio


async def test_range_rule_fires_outside_and_clears_inside_its_clear_band(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    rule_id = await new_rule(
        ops_client, admin, name="pH", kind="range", datastream_ids=[ds], low=6.5, high=8.5,
        clear_low=6.8, clear_high=8.2, severity="warning",
    )  # fmt: skip
    await send(ops_client, admin, ds, 0, 7.0)
    await send(ops_client, admin, ds, 1, 9.1)
    await watch.alert("raise", rule_id=rule_id, value=9.1)
    await send(ops_client, admin, ds, 2, 8.4)  # inside [low, high] but not the clear band
    await send(ops_client, admin, ds, 3, 7.5)
    cleared = await watch.alert("cleared", rule_id=rule_id)
    assert cleared.payload["count"] == 1


async def test_rate_rule_fires_on_a_steep_rise_per_minute(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin, "Water level 1")
    rule_id = await new_rule(
        ops_client, admin, name="rising", kind="rate", datastream_ids=[ds], operator="gt",
        value=5, severity="warning",
    )  # fmt: skip
    await send(ops_client, admin, ds, 0, 10)
    await send(ops_client, admin, ds, 1, 12)  # +2 per minute
    await send(ops_client, admin, ds, 2, 20)  # +8 per minute
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["value"] == 20
    await send(ops_client, admin, ds, 3, 21)
    await watch.alert("cleared", rule_id=rule_id)


async def test_anomaly_rule_fires_on_a_value_far_from_the_datastreams_own_window(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    rule_id = await new_rule(
        ops_client, admin, name="odd", kind="anomaly", datastream_ids=[ds], value=3,
        window=5, min_samples=5, severity="info",
    )  # fmt: skip
    for minute, value in enumerate([10, 11, 10, 11, 10]):
        await send(ops_client, admin, ds, minute, value)
    await send(ops_client, admin, ds, 5, 30)
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["value"] == 30
    await send(ops_client, admin, ds, 6, 11)
    await watch.alert("cleared", rule_id=rule_id)


async def test_stale_rule_fires_by_the_scheduler_and_clears_on_a_fresh_reading(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    await send(ops_client, admin, ds, 0, 1)  # in 2026-11: long ago
    rule_id = await new_rule(
        ops_client, admin, name="silent", kind="stale", datastream_ids=[ds], minutes=10,
        severity="warning",
    )  # fmt: skip
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["datastream_id"] == ds
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    answer = await ops_client.post(
        f"/v1.1/Datastreams({ds})/Observations",
        json={"phenomenonTime": now, "result": 2},
        headers=admin,
    )
    assert answer.status_code == 201
    await watch.alert("cleared", rule_id=rule_id)


async def test_composite_fires_while_both_rules_fire_and_clears_when_one_stops(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    rain = await new_datastream(ops_client, admin, "Rain gauge")
    level = await new_datastream(ops_client, admin, "Water level")
    heavy = await new_rule(
        ops_client, admin, **threshold(rain, name="heavy rain", value=20, clear_value=None)
    )
    rising = await new_rule(
        ops_client, admin, name="rising", kind="rate", datastream_ids=[level], value=1
    )
    flood = await new_rule(
        ops_client, admin, name="flood risk", kind="composite", combine="and",
        rule_ids=[heavy, rising], severity="critical",
    )  # fmt: skip
    await send(ops_client, admin, rain, 0, 30)
    await watch.alert("raise", rule_id=heavy)
    await send(ops_client, admin, level, 0, 1.0)
    await send(ops_client, admin, level, 1, 3.0)
    await watch.alert("raise", rule_id=rising)
    both = await watch.alert("raise", rule_id=flood)
    assert both.payload["severity"] == "critical" and both.payload["datastream_id"] is None
    await send(ops_client, admin, rain, 2, 5)
    await watch.alert("cleared", rule_id=flood)
    assert [a["state"] for a in await alerts(ops_client, admin, rule_id=flood)] == ["cleared"]


async def _datastream_of_property(
    client: httpx.AsyncClient, admin: dict[str, str], thing_id: int, property_id: int
) -> int:
    created = await client.post(
        "/v1.1/Datastreams",
        json=datastream(
            "new PM2.5",
            Thing={"@iot.id": thing_id},
            Sensor=sensor(),
            ObservedProperty={"@iot.id": property_id},
        ),
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return int(created.json()["@iot.id"])


async def test_observed_property_scope_covers_a_datastream_made_after_the_rule(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    first = await new_datastream(ops_client, admin)
    links = (
        await ops_client.get(f"/v1.1/Datastreams({first})?$expand=Thing,ObservedProperty")
    ).json()
    rule = threshold(first, observed_property_id=links["ObservedProperty"]["@iot.id"])
    del rule["datastream_ids"]
    rule_id = await new_rule(ops_client, admin, **rule)
    later = await _datastream_of_property(
        ops_client, admin, links["Thing"]["@iot.id"], links["ObservedProperty"]["@iot.id"]
    )
    other = await new_datastream(ops_client, admin, "Other station")  # its own property
    await send(ops_client, admin, other, 0, 99)
    await send(ops_client, admin, later, 0, 99)
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["datastream_id"] == later
    assert [a["datastream_id"] for a in await alerts(ops_client, admin, rule_id=rule_id)] == [later]


async def test_district_and_polygon_scopes_cover_things_placed_after_the_rule(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    seed = await new_datastream(ops_client, admin, "seed", district="Di An")
    by_district = threshold(seed, name="Di An high", district="Di An")
    del by_district["datastream_ids"]
    district_rule = await new_rule(ops_client, admin, **by_district)
    square = [[[106.6, 10.9], [106.7, 10.9], [106.7, 11.0], [106.6, 11.0], [106.6, 10.9]]]
    by_area = threshold(seed, name="area high", polygon={"type": "Polygon", "coordinates": square})
    del by_area["datastream_ids"]
    area_rule = await new_rule(ops_client, admin, **by_area)
    inside = await new_datastream(ops_client, admin, "new station", district="Di An")
    elsewhere = await new_datastream(ops_client, admin, "far station", district="Thuan An")
    await send(ops_client, admin, elsewhere, 0, 99)
    await send(ops_client, admin, inside, 0, 99)
    raised = await watch.alert("raise", rule_id=district_rule)
    assert raised.payload["datastream_id"] == inside
    assert raised.payload["district"] == "Di An"
    assert raised.payload["location"] == [106.65, 10.98]
    # the factories place every Thing at the same point, inside the square
    in_area = {(await watch.alert("raise", rule_id=area_rule)).payload["datastream_id"]}
    in_area.add((await watch.alert("raise", rule_id=area_rule)).payload["datastream_id"])
    assert in_area == {inside, elsewhere}
    assert [a["datastream_id"] for a in await alerts(ops_client, admin, rule_id=district_rule)] == [
        inside
    ]


async def test_schedule_keeps_a_rule_quiet_outside_its_active_hours(
    ops_client: httpx.AsyncClient, admin: dict[str, str], watch: Watch
) -> None:
    ds = await new_datastream(ops_client, admin)
    # 2026-11-01 is a Sunday (6); active 00:10-01:00 UTC that day
    rule_id = await new_rule(
        ops_client, admin,
        **threshold(ds, schedule={"days": [6], "start": "00:10", "end": "01:00"}),
    )  # fmt: skip
    await send(ops_client, admin, ds, 0, 60)  # 00:00: outside
    await send(ops_client, admin, ds, 5, 30)
    await send(ops_client, admin, ds, 15, 61)  # 00:15: inside
    raised = await watch.alert("raise", rule_id=rule_id)
    assert raised.payload["value"] == 61
