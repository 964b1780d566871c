"""The demo province's rules load through the rules API on the demo catalogue, each with
its source, once: a second load creates nothing."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from cityhelix.demo.province import catalog, read_province
from cityhelix.demo.rules import load_rules, read_rules
from tests.ops.conftest import client_of

pytestmark = pytest.mark.asyncio


async def test_demo_rules_load_once_on_the_demo_catalogue(
    ops_app: FastAPI, admin: dict[str, str]
) -> None:
    assert all(entry["source"] for entry in read_rules())
    async with client_of(ops_app) as client:
        client.headers.update(admin)
        _, observed_properties = catalog(read_province())
        for body in observed_properties:
            assert (await client.post("/v1.1/ObservedProperties", json=body)).status_code == 201
        assert await load_rules(client) == len(read_rules())
        assert await load_rules(client) == 0
        rules = (await client.get("/api/ops/rules")).json()["value"]
    assert {rule["name"] for rule in rules} >= {
        "PM2.5 over the national limit", "Streetlight fault", "Water level rising fast",
        "Congestion", "Air station silent",
    }  # fmt: skip
    assert all(rule["observed_property_id"] for rule in rules)
