"""Screening policies are versioned data: analysts write them, stored results keep theirs."""

from __future__ import annotations

import copy
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from cityhelix.invest.tables import policies
from tests.conftest import bearer
from tests.invest.factories import make_project


async def policy_in_force(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/invest/policies/current")
    assert response.status_code == 200
    policy: dict[str, Any] = response.json()
    return policy


def with_capital_threshold(document: dict[str, Any], threshold: float) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    for rule in changed["rules"]:
        if rule["code"] == "capital_intensity":
            rule["threshold"] = threshold
    return changed


async def test_version_1_ships_with_every_rule_and_its_source(client: httpx.AsyncClient) -> None:
    policy = await policy_in_force(client)
    assert (policy["version"], policy["in_force"]) == (1, True)
    rules = {r["code"]: r for r in policy["document"]["rules"]}
    assert {
        "prohibited_sector",
        "conditional_sector",
        "priority_sector",
        "hitech_revenue",
        "rd_spend_share",
        "rd_staff_share",
        "capital_intensity",
        "labour_intensity",
        "local_content",
        "polluting_type",
        "wastewater_monitoring",
        "key_energy_user",
        "used_equipment_age",
    } <= set(rules)
    assert rules["capital_intensity"]["threshold"] == 8_000_000
    assert rules["labour_intensity"]["threshold"] == 50
    assert rules["local_content"]["threshold"] == 30
    assert rules["key_energy_user"]["threshold"] == 1000
    assert rules["used_equipment_age"]["threshold"] == 10
    assert rules["hitech_revenue"]["threshold"] == 70
    assert [b["threshold"] for b in rules["rd_spend_share"]["bands"]] == [0.5, 1.0, 2.0]
    assert [b["threshold"] for b in rules["rd_staff_share"]["bands"]] == [1.0, 2.5, 5.0]
    assert all(rule["source"] and rule["text"] for rule in rules.values())


async def test_a_policy_change_flips_a_verdict_and_old_results_keep_their_version(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    # 60 M USD on 10 ha = 6 M/ha: one flag under v1 (threshold 8 M/ha) -> acceptable
    project = await make_project(
        client, analyst, capital_usd=60_000_000, land_ha=10, employees_planned=300
    )
    stored = await client.post(f"/api/invest/projects/{project['id']}/screenings", headers=analyst)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["verdict"], stored.json()["policy_version"]) == ("acceptable", 1)

    # v2 (adopted): capital intensity 5 M/ha -> 6 M/ha passes, no flag
    v1 = (await policy_in_force(client))["document"]
    created = await client.post(
        "/api/invest/policies",
        json={"document": with_capital_threshold(v1, 5_000_000), "adopt": True, "note": "v2"},
        headers=analyst,
    )
    assert created.status_code == 201, created.text
    assert (created.json()["version"], created.json()["status"]) == (2, "adopted")

    answer = (
        await client.get(f"/api/invest/projects/{project['id']}/screenings", headers=analyst)
    ).json()
    [old] = answer["stored"]
    assert (old["verdict"], old["policy_version"]) == ("acceptable", 1)
    capital_then = next(c for c in old["criteria"] if c["code"] == "capital_intensity")
    assert (capital_then["passed"], capital_then["threshold"]) == (False, 8_000_000)
    assert answer["current"]["policy_version"] == 2
    capital_now = next(c for c in answer["current"]["criteria"] if c["code"] == "capital_intensity")
    assert (capital_now["passed"], capital_now["threshold"]) == (True, 5_000_000)

    # the stateless screen follows the policy in force, and v1 stays reachable
    body = {"capital_usd": 60_000_000, "land_ha": 10}
    now = (await client.post("/api/invest/screen", json=body)).json()
    then = (await client.post("/api/invest/screen", json=body, params={"policy_version": 1})).json()
    assert (now["policy_version"], then["policy_version"]) == (2, 1)


async def test_a_draft_is_not_in_force_until_adopted(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    v1 = (await policy_in_force(client))["document"]
    draft = await client.post(
        "/api/invest/policies",
        json={"document": with_capital_threshold(v1, 1_000_000)},
        headers=analyst,
    )
    assert draft.json()["status"] == "draft"
    body = {"capital_usd": 20_000_000, "land_ha": 10}  # 2 M/ha
    assert (await policy_in_force(client))["version"] == 1
    what_if = (
        await client.post("/api/invest/screen", json=body, params={"policy_version": 2})
    ).json()
    assert next(c for c in what_if["criteria"] if c["code"] == "capital_intensity")["passed"]
    adopted = await client.post("/api/invest/policies/2/adopt", headers=analyst)
    assert adopted.status_code == 200
    assert (await policy_in_force(client))["version"] == 2
    again = await client.post("/api/invest/policies/2/adopt", headers=analyst)
    assert again.status_code == 409


async def test_only_analysts_and_admins_write_policies_and_nothing_else_is_written(
    client: httpx.AsyncClient, tokens: dict[str, str], engine: AsyncEngine
) -> None:
    v1 = (await policy_in_force(client))["document"]
    body = {"document": v1, "adopt": True}
    anonymous = await client.post("/api/invest/policies", json=body)
    assert anonymous.status_code == 401
    operator = await client.post(
        "/api/invest/policies", json=body, headers=bearer(tokens["operator"])
    )
    assert operator.status_code == 403
    assert "analyst or admin" in operator.json()["detail"]
    broken = copy.deepcopy(v1)
    broken["rules"][0]["severity"] = "forbid"
    invalid = await client.post(
        "/api/invest/policies", json={"document": broken}, headers=bearer(tokens["analyst"])
    )
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"][:3] == ["body", "document", "rules"]
    async with engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(policies))).scalar() == 0
        assert (await connection.execute(select(func.count()).select_from(audit_log))).scalar() == 0


async def test_a_policy_write_is_audited(
    client: httpx.AsyncClient, tokens: dict[str, str], engine: AsyncEngine
) -> None:
    v1 = (await policy_in_force(client))["document"]
    await client.post(
        "/api/invest/policies", json={"document": v1}, headers=bearer(tokens["admin"])
    )
    async with engine.connect() as connection:
        row = (await connection.execute(select(audit_log))).one()
    assert (row.user_name, row.method, row.path) == ("user-admin", "POST", "/api/invest/policies")
    assert (row.entity_type, row.entity_id) == ("InvestPolicy", 2)
