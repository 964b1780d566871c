"""The console's data over HTTP, on both databases: the compact map rows with each Thing's
state, a device's panel, its day chart, and the answers for what does not exist."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from tests.hub.factories import datastream, location, observed_property, sensor, thing

PASSWORD = "correct horse battery"


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, engine: AsyncEngine) -> httpx.AsyncClient:
    await create_user(engine, "ops", Role.OPERATOR)
    await set_password(engine, "ops", PASSWORD)
    form = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = await client.post(
        "/login", data={"csrf_token": token.group(1), "username": "ops", "password": PASSWORD}
    )
    assert signed.status_code == 303
    return client


async def _device(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, kind: str, age: timedelta | None
) -> int:
    """A Thing of `kind` with one Datastream whose only reading is `age` old (None: none)."""
    stream = datastream(f"{name} PM2.5", Sensor=sensor(), ObservedProperty=observed_property())
    if age is not None:
        stream["Observations"] = [
            {"phenomenonTime": (datetime.now(UTC) - age).isoformat(), "result": 12.5}
        ]
    body = thing(name, Locations=[location()], Datastreams=[stream])
    body["properties"] = {"kind": kind, "district": "Di An"}
    created = await client.post("/v1.1/Things", json=body, headers=admin)
    assert created.status_code == 201, created.text
    return int(created.headers["location"].rsplit("(", 1)[1].rstrip(")"))


async def test_map_rows_say_kind_district_place_and_state_of_each_device(
    signed_in: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    fresh = await _device(signed_in, admin, "Fresh", "air_quality", timedelta(minutes=2))
    stale = await _device(signed_in, admin, "Quiet", "air_quality", timedelta(hours=2))
    silent = await _device(signed_in, admin, "Silent", "traffic", timedelta(days=3))
    never = await _device(signed_in, admin, "Never", "traffic", None)
    unplaced = await signed_in.post("/v1.1/Things", json=thing("Nowhere"), headers=admin)
    assert unplaced.status_code == 201
    body = (await signed_in.get("/console/things.json")).json()
    assert body["kinds"] == ["air_quality", "traffic"]
    assert body["districts"] == ["Di An"]
    rows = {row[0]: row for row in body["things"]}
    assert set(rows) == {fresh, stale, silent, never}  # a Thing without a place is not drawn
    states = {thing_id: row[4] for thing_id, row in rows.items()}
    assert states == {fresh: "normal", stale: "stale", silent: "off", never: "off"}
    name, kind, district, _, lon, lat, last, streams = rows[fresh][1:]
    assert (name, body["kinds"][kind], body["districts"][district]) == (
        "Fresh",
        "air_quality",
        "Di An",
    )
    assert (lon, lat) == (106.65, 10.98)
    assert abs(last - (datetime.now(UTC) - timedelta(minutes=2)).timestamp()) < 60
    assert len(streams) == 1
    assert rows[never][7] is None


async def test_panel_shows_latest_value_and_the_chart_has_the_day(
    signed_in: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    device = await _device(signed_in, admin, "Station 9", "air_quality", timedelta(minutes=5))
    panel = await signed_in.get(f"/console/things/{device}")
    assert panel.status_code == 200
    assert "Station 9" in panel.text and "Air quality station" in panel.text
    assert "12.5" in panel.text and "ug/m3" in panel.text
    stream = re.search(r'data-datastream="(\d+)"', panel.text)
    assert stream is not None
    day = (await signed_in.get(f"/console/datastreams/{stream.group(1)}/day")).json()
    assert len(day["points"]) == 1
    assert day["points"][0][1] == 12.5


async def test_panel_escapes_what_devices_are_named(
    signed_in: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    device = await _device(signed_in, admin, "<script>alert(1)</script>", "camera", None)
    panel = await signed_in.get(f"/console/things/{device}")
    assert "<script>alert(1)</script>" not in panel.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in panel.text


async def test_missing_device_and_datastream_are_404_not_500(
    signed_in: httpx.AsyncClient,
) -> None:
    panel = await signed_in.get("/console/things/987654")
    assert panel.status_code == 404 and "Device not found" in panel.text
    day = await signed_in.get("/console/datastreams/987654/day")
    assert day.status_code == 404
    assert "987654" in day.json()["detail"]
    # FastAPI's own validation answer, naming the path parameter
    bad = await signed_in.get("/console/things/not-a-number")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "thing_id"]


async def test_map_rows_follow_every_write_between_two_loads(
    signed_in: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    quiet = await _device(signed_in, admin, "Quiet", "air_quality", timedelta(hours=2))
    first = (await signed_in.get("/console/things.json")).json()
    assert [row[4] for row in first["things"]] == ["stale"]
    stream = first["things"][0][8][0]
    posted = await signed_in.post(
        f"/v1.1/Datastreams({stream})/Observations", json={"result": 3.5}, headers=admin
    )
    assert posted.status_code == 201
    moved = (await signed_in.get("/console/things.json")).json()  # only a reading: kept rows
    assert [row[4] for row in moved["things"]] == ["normal"]
    added = await _device(signed_in, admin, "Added", "traffic", timedelta(minutes=1))
    second = (await signed_in.get("/console/things.json")).json()
    assert {row[0]: row[4] for row in second["things"]} == {quiet: "normal", added: "normal"}
    deleted = await signed_in.delete(f"/v1.1/Things({added})", headers=admin)
    assert deleted.status_code == 200
    third = (await signed_in.get("/console/things.json")).json()
    assert [row[0] for row in third["things"]] == [quiet]
