"""`$expand` and `$select` over HTTP on both backends: nesting, per-level options, counts,
nextLinks, to-one and link-table links, and one query per expanded level (no N+1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.hub.factories import full_thing, location, thing
from tests.hub.test_query_filter import DI_AN, GAUGE, TDM, get_all, seed

pytestmark = pytest.mark.asyncio


def _by_name(entities: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entity["name"]: entity for entity in entities}


async def test_nested_expand_with_options_inside_parentheses(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    expand = (
        "Datastreams($select=name,unitOfMeasurement;$expand=Observations($top=3;"
        "$orderby=phenomenonTime desc;$filter=result gt 10)),Locations"
    )
    things = _by_name(await get_all(client, "/v1.1/Things", **{"$expand": expand}))
    assert list(things) == [TDM, DI_AN, GAUGE]
    stream = things[TDM]["Datastreams"][0]
    assert set(stream) == {"name", "unitOfMeasurement", "Observations"}
    assert stream["name"] == "PM2.5 TDM"
    assert stream["unitOfMeasurement"]["symbol"] == "ug/m3"
    assert [o["result"] for o in stream["Observations"]] == [36.5, 40, 12]
    assert "Observations@iot.nextLink" not in stream
    assert things[DI_AN]["Datastreams"][0]["Observations"] == []
    assert things[GAUGE]["Datastreams"][0]["Observations"] == []
    assert [loc["name"] for loc in things[GAUGE]["Locations"]] == ["Tan Uyen bridge"]
    # the Thing itself keeps all its members and links
    assert things[TDM]["Locations@iot.navigationLink"].endswith("/Locations")
    assert things[TDM]["properties"]["district"] == "Thu Dau Mot"


async def test_slash_form_expands_each_level(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    things = _by_name(
        await get_all(
            client, "/v1.1/Things", **{"$expand": "Datastreams/ObservedProperty,Datastreams/Sensor"}
        )
    )
    stream = things[DI_AN]["Datastreams"][0]
    assert stream["ObservedProperty"]["name"] == "PM10"
    assert stream["Sensor"]["name"] == "sensor of PM10 Di An"
    assert "Observations" not in stream


async def test_expanded_collection_count_and_next_link(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    things = await get_all(
        client,
        "/v1.1/Things",
        **{
            "$filter": "name eq 'Station TDM'",
            "$expand": "Datastreams/Observations($top=2;$count=true;$orderby=result desc)",
        },
    )
    stream = things[0]["Datastreams"][0]
    assert stream["Observations@iot.count"] == 4
    assert [o["result"] for o in stream["Observations"]] == [40, 36.5]
    link = stream["Observations@iot.nextLink"]
    assert link.startswith(f"http://testserver/v1.1/Datastreams({stream['@iot.id']})/Observations?")
    following = (await client.get(link)).json()
    assert following["@iot.count"] == 4
    assert [o["result"] for o in following["value"]] == [12, 5]
    assert "@iot.nextLink" not in following


async def test_expanded_collections_default_to_the_server_page_size(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    body = full_thing(observations=0)
    body["Datastreams"][0]["Observations"] = [
        {"phenomenonTime": f"2026-11-01T{m // 60:02d}:{m % 60:02d}:00Z", "result": m}
        for m in range(105)
    ]
    await client.post("/v1.1/Things", json=body, headers=admin)
    streams = await get_all(client, "/v1.1/Datastreams", **{"$expand": "Observations"})
    observations = streams[0]["Observations"]
    assert [o["result"] for o in observations] == list(range(100))
    link = streams[0]["Observations@iot.nextLink"]
    assert "$top=100" in link and "$skip=100" in link
    rest = (await client.get(link)).json()
    assert [o["result"] for o in rest["value"]] == [100, 101, 102, 103, 104]


async def test_latest_observation_of_each_datastream_in_one_request(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    streams = await get_all(
        client,
        "/v1.1/Datastreams",
        **{"$expand": "Observations($top=1;$orderby=phenomenonTime desc;$select=result)"},
    )
    latest = {s["name"]: s["Observations"] for s in streams}
    assert latest == {
        "PM2.5 TDM": [{"result": 36.5}],
        "PM10 Di An": [{"result": True}],
        "Water level TU": [{"result": 1.5}],
    }
    for stream in streams:
        assert "Observations@iot.nextLink" in stream  # each has more than one


async def test_skip_inside_expand_and_count_of_a_skipped_parent(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    streams = await get_all(
        client,
        "/v1.1/Datastreams",
        **{"$expand": "Observations($skip=2;$top=1;$orderby=phenomenonTime;$count=true)"},
    )
    found = {s["name"]: (s["Observations@iot.count"], s["Observations"]) for s in streams}
    assert [o["result"] for o in found["PM2.5 TDM"][1]] == [40]
    assert found["PM2.5 TDM"][0] == 4
    assert found["Water level TU"] == (2, [])  # two readings, both skipped, still counted


async def test_to_one_expand_and_filter_inside(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    observations = await get_all(
        client,
        "/v1.1/Observations",
        **{
            "$filter": "result eq 5 or result eq 'low'",
            "$expand": "Datastream($select=name;$expand=Thing($select=name)),"
            "FeatureOfInterest($select=name;$filter=name eq 'nothing')",
        },
    )
    assert [o["Datastream"] for o in observations] == [
        {"name": "PM2.5 TDM", "Thing": {"name": TDM}},
        {"name": "PM10 Di An", "Thing": {"name": DI_AN}},
    ]
    assert all("FeatureOfInterest" not in o for o in observations)  # filtered out: left out


async def test_expand_on_a_single_entity_and_through_a_link_table(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    shared = location("Shared yard", 106.70, 10.95)
    first = (
        await client.post("/v1.1/Things", json=thing("One", Locations=[shared]), headers=admin)
    ).json()
    location_id = (await client.get(f"/v1.1/Things({first['@iot.id']})/Locations")).json()["value"][
        0
    ]["@iot.id"]
    await client.post(
        "/v1.1/Things", json=thing("Two", Locations=[{"@iot.id": location_id}]), headers=admin
    )
    one = (
        await client.get(
            f"/v1.1/Things({first['@iot.id']})",
            params={"$expand": "Locations($select=name)", "$select": "name"},
        )
    ).json()
    assert one == {"name": "One", "Locations": [{"name": "Shared yard"}]}
    yards = await get_all(
        client,
        "/v1.1/Locations",
        **{"$expand": "Things($select=name;$orderby=name desc;$count=true)"},
    )
    assert yards[0]["Things"] == [{"name": "Two"}, {"name": "One"}]
    assert yards[0]["Things@iot.count"] == 2


async def test_three_levels_of_nesting(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await seed(client, admin)
    found = await get_all(
        client,
        "/v1.1/Locations",
        **{
            "$filter": "name eq 'Di An market'",
            "$expand": "Things($select=name;$expand=Datastreams($select=name;"
            "$expand=ObservedProperty($select=name)))",
            "$select": "name",
        },
    )
    assert found == [
        {
            "name": "Di An market",
            "Things": [
                {
                    "name": DI_AN,
                    "Datastreams": [{"name": "PM10 Di An", "ObservedProperty": {"name": "PM10"}}],
                }
            ],
        }
    ]


_IN_REQUEST: ContextVar[bool] = ContextVar("in_counted_request", default=False)


@contextmanager
def _counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The statements run on behalf of the code inside the block: the app's background
    tasks (the operations centre's consumers and timers, the durable stream, the city
    services' rounds) share the engine but not this context, so none of theirs count."""
    statements: list[str] = []

    def record(*args: Any) -> None:
        if _IN_REQUEST.get():
            statements.append(args[2])

    token = _IN_REQUEST.set(True)
    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)
        _IN_REQUEST.reset(token)


async def test_each_expanded_level_is_one_query_whatever_the_page_size(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    params = {"$expand": "Datastreams($expand=Observations($top=2),Sensor),Locations"}
    counts = []
    for batch in range(2):
        for i in range(3):
            await client.post("/v1.1/Things", json=full_thing(f"T{batch}{i}"), headers=admin)
        with _counted(engine) as statements:
            response = await client.get("/v1.1/Things", params=params)
        assert response.status_code == 200
        # not the read budget's statement timeout, set once on each pooled connection
        selects = [
            s
            for s in statements
            if s.lstrip().upper().startswith("SELECT") and "set_config" not in s
        ]
        counts.append(len(selects))
        things = response.json()["value"]
        assert len(things) == 3 * (batch + 1)
        assert all(len(t["Datastreams"][0]["Observations"]) == 2 for t in things)
    assert counts[0] == counts[1]  # things, datastreams, observations, sensors, locations
    assert 5 <= counts[0] <= 6


@pytest.mark.parametrize(
    ("select", "keys"),
    [
        ("name", {"name"}),
        ("@iot.id,name", {"@iot.id", "name"}),
        ("id,@iot.selfLink", {"@iot.id", "@iot.selfLink"}),
        ("Datastreams,description", {"Datastreams@iot.navigationLink", "description"}),
        ("Locations@iot.navigationLink", {"Locations@iot.navigationLink"}),
    ],
)
async def test_select_keeps_only_the_named_members(
    client: httpx.AsyncClient, admin: dict[str, str], select: str, keys: set[str]
) -> None:
    await seed(client, admin)
    things = await get_all(client, "/v1.1/Things", **{"$select": select})
    assert len(things) == 3
    assert all(set(t) == keys for t in things)


async def test_select_and_expand_of_the_same_link(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await seed(client, admin)
    things = await get_all(
        client,
        "/v1.1/Things",
        **{"$select": "name,Locations", "$expand": "Locations($select=name)", "$top": "1"},
    )
    assert things[0] == {
        "name": TDM,
        "Locations@iot.navigationLink": things[0]["Locations@iot.navigationLink"],
        "Locations": [{"name": "TDM kerbside"}],
    }


@pytest.mark.parametrize(
    ("params", "token"),
    [
        ({"$expand": "Nope"}, "Nope"),
        ({"$expand": "name"}, "name"),
        ({"$expand": "Datastreams/Nope"}, "Nope"),
        ({"$expand": "Datastreams($filter=nosuch eq 1)"}, "nosuch"),
        ({"$expand": "Datastreams($orderby=Observations/result)"}, "Observations/result"),
        ({"$expand": "Datastreams($select=nosuch)"}, "nosuch"),
        ({"$expand": "Datastreams($top=10001)"}, "10001"),
        ({"$expand": "Datastreams($top=1),Datastreams($top=2)"}, "Datastreams"),
        ({"$select": "nosuch"}, "nosuch"),
        ({"$select": "properties/district"}, "properties/district"),
    ],
)
async def test_bad_expand_and_select_are_400(
    client: httpx.AsyncClient, params: dict[str, str], token: str
) -> None:
    response = await client.get("/v1.1/Things", params=params)
    assert response.status_code == 400, response.text
    assert token in response.json()["message"]
