"""The city map's view over HTTP, on both databases: only the devices in the bounding box,
each as itself while they are few, aggregated into clusters on the zoom's grid when they
are many; filters by kind, district and state counted over the whole city; a name search;
bad view parameters answered 400 naming the parameter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from tests.hub.factories import datastream, location, observed_property, sensor, thing

PASSWORD = "correct horse battery"
#: two neighbourhoods 8 km apart, a 3 x 4 block of devices each (about 100 m apart)
TOWNS = {"Thu Dau Mot": (106.65, 10.98), "Di An": (106.72, 10.93)}
CITY_BBOX = "106.5,10.8,106.9,11.1"


@pytest.fixture
async def console(client: httpx.AsyncClient, engine: AsyncEngine) -> httpx.AsyncClient:
    """A signed-in operator's client."""
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


async def _devices(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """24 devices: 12 per town, every third stale."""
    sensor_id = (await client.post("/v1.1/Sensors", json=sensor(), headers=admin)).json()["@iot.id"]
    prop_id = (
        await client.post("/v1.1/ObservedProperties", json=observed_property(), headers=admin)
    ).json()["@iot.id"]
    now = datetime.now(UTC)
    index = 0
    for town, (lon, lat) in TOWNS.items():
        for row in range(3):
            for column in range(4):
                age = timedelta(hours=2) if index % 3 == 0 else timedelta(minutes=1)
                stream = datastream(
                    f"Device {index} level",
                    Sensor={"@iot.id": sensor_id},
                    ObservedProperty={"@iot.id": prop_id},
                    Observations=[{"phenomenonTime": (now - age).isoformat(), "result": 1.0}],
                )
                body = thing(
                    f"Device {index:02d} {town}",
                    Locations=[location(town, lon + column * 0.001, lat + row * 0.001)],
                    Datastreams=[stream],
                )
                body["properties"] = {
                    "kind": "streetlight" if column < 2 else "traffic",
                    "district": town,
                }
                made = await client.post("/v1.1/Things", json=body, headers=admin)
                assert made.status_code == 201, made.text
                index += 1


async def _view(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    answer = await client.get("/console/things.json", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _shown(body: dict[str, Any]) -> int:
    """Devices the view accounts for: its points and its clusters' members."""
    return len(body["things"]) + sum(c[2] for c in body["clusters"])


async def test_a_crowded_view_is_clustered_and_splits_as_the_map_zooms_in(
    console: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _devices(console, admin)
    city = await _view(console, bbox=CITY_BBOX, zoom=11, points=10)
    assert city["total"] == city["matched"] == 24
    assert _shown(city) == 24
    assert len(city["things"]) == 0
    # a cluster never mixes the towns (8 km apart, cells of 2.4 km at zoom 11), and its
    # bounds and states add up to the devices it stands for
    per_town = dict.fromkeys(TOWNS, 0)
    states: dict[str, int] = {}
    for lon, lat, count, (west, south, east, north), by_state in city["clusters"]:
        town = next(t for t, (x, y) in TOWNS.items() if x <= west and east <= x + 0.003)
        assert TOWNS[town][1] <= south <= lat <= north <= TOWNS[town][1] + 0.002
        assert west <= lon <= east
        assert sum(by_state.values()) == count
        per_town[town] += count
        for state, n in by_state.items():
            states[state] = states.get(state, 0) + n
    assert per_town == {"Thu Dau Mot": 12, "Di An": 12}
    assert states == {"stale": 8, "normal": 16}
    # the stale devices' Datastreams are watched: a reading for one changes its cluster
    assert len(city["watched"]) == 8
    west, south, east, north = 106.649, 10.979, 106.654, 10.983

    # zoomed into one town: fewer devices in view than `points`, each as itself
    town = await _view(console, bbox=f"{west},{south},{east},{north}", zoom=16, points=20)
    assert town["clusters"] == []
    assert len(town["things"]) == 12
    assert {row[4] for row in town["things"]} == {"stale", "normal"}
    assert town["matched"] == 24  # the filters' count stays the whole city's

    # the same view with the default limit: 24 devices are few, every one as itself
    everything = await _view(console, bbox=CITY_BBOX, zoom=11)
    assert (len(everything["things"]), everything["clusters"]) == (24, [])

    # only what is inside the bounding box
    di_an = await _view(console, bbox="106.71,10.92,106.73,10.94", zoom=15)
    assert len(di_an["things"]) == 12
    assert all("Di An" in row[1] for row in di_an["things"])
    assert di_an["extent"] == pytest.approx([106.65, 10.93, 106.723, 10.982], abs=0.001)


async def test_filters_are_counted_over_the_city_and_a_name_is_found_anywhere(
    console: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _devices(console, admin)
    lights = await _view(console, kind="streetlight")
    assert lights["matched"] == 12
    both = await _view(console, kind=["streetlight", "traffic"], district="Di An")
    assert both["matched"] == 12
    stale = await _view(console, state="stale")
    assert stale["matched"] == 8
    assert {row[4] for row in stale["things"]} == {"stale"}
    stale_lights_di_an = await _view(
        console, state=["stale", "off"], kind="streetlight", district="Di An"
    )
    assert stale_lights_di_an["matched"] == len(stale_lights_di_an["things"]) == 2

    found = (await console.get("/console/find.json", params={"name": "device 13"})).json()
    assert [row[1] for row in found["found"]] == ["Device 13 Di An"]
    assert found["found"][0][2:] == pytest.approx([106.721, 10.93])
    refused = await console.get("/console/find.json", params={"name": "  "})
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("name:")


async def test_a_bad_view_is_refused_naming_the_parameter(console: httpx.AsyncClient) -> None:
    for params, field in [
        ({"bbox": "106,10,107"}, "bbox"),
        ({"bbox": "106,11,107,10"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "106,10,nan,11"}, "bbox"),
        ({"zoom": "far"}, "zoom"),
        ({"zoom": "30"}, "zoom"),
        ({"state": "broken"}, "state"),
        ({"points": "0"}, "points"),
        ({"points": "100000"}, "points"),
    ]:
        refused = await console.get("/console/things.json", params=params)
        assert refused.status_code == 400, params
        assert refused.json()["detail"].startswith(f"{field}:"), params


async def test_the_view_needs_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.get("/console/things.json?zoom=10")).status_code == 401
    assert (await client.get("/console/find.json?name=x")).status_code == 401
