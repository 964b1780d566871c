"""Rules as data over HTTP: create, read, change, delete; every rule that cannot be
evaluated refused with the field named and nothing stored; writes for admins and operators."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user
from cityhelix.auth.tables import audit_log
from tests.conftest import bearer
from tests.ops.readings import new_datastream, new_rule, threshold

pytestmark = pytest.mark.asyncio


async def test_threshold_rule_round_trips_through_create_read_patch_delete(
    ops_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    created = await ops_client.post("/api/ops/rules", json=threshold(datastream_id), headers=admin)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert isinstance(rule["id"], int)
    assert {k: rule[k] for k in ("name", "kind", "operator", "value", "clear_value")} == {
        "name": "PM2.5 high",
        "kind": "threshold",
        "operator": "gt",
        "value": 50,
        "clear_value": 40,
    }
    assert rule["datastream_ids"] == [datastream_id]
    read = await ops_client.get(f"/api/ops/rules/{rule['id']}", headers=admin)
    assert read.json() == rule
    listed = await ops_client.get("/api/ops/rules", headers=admin)
    assert [r["id"] for r in listed.json()["value"]] == [rule["id"]]
    patched = await ops_client.patch(
        f"/api/ops/rules/{rule['id']}", json={"value": 60, "severity": "critical"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["value"], patched.json()["severity"]) == (60, "critical")
    gone = await ops_client.delete(f"/api/ops/rules/{rule['id']}", headers=admin)
    assert gone.status_code == 204
    assert (await ops_client.get(f"/api/ops/rules/{rule['id']}", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"datastream_ids": [999_999]}, "datastream_ids"),
        ({"clear_value": 60}, "clear_value"),
        ({"operator": "lt", "clear_value": 40}, "clear_value"),
        ({"operator": "between"}, "operator"),
        ({"severity": "fatal"}, "severity"),
        ({"value": "high"}, "value"),
        ({"for_seconds": -1}, "for_seconds"),
        ({"schedule": {"days": [0], "start": "25:00", "end": "06:00"}}, "schedule.start"),
        (
            {
                "datastream_ids": None,
                "polygon": {
                    "type": "Polygon",
                    "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]],
                },
            },
            "polygon",
        ),
        ({"datastream_ids": None, "polygon": {"type": "Point", "coordinates": [1, 2]}}, "polygon"),
        ({"datastream_ids": None, "observed_property_id": 999_999}, "observed_property_id"),
        ({"escalation_value": 45}, "escalation_value"),
    ],
)
async def test_rule_that_cannot_be_evaluated_is_refused_naming_the_field_and_nothing_is_stored(
    ops_client: httpx.AsyncClient, admin: dict[str, str], changes: dict[str, Any], field: str
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    body = {k: v for k, v in (threshold(datastream_id) | changes).items() if v is not None}
    answer = await ops_client.post("/api/ops/rules", json=body, headers=admin)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["detail"]
    assert (await ops_client.get("/api/ops/rules", headers=admin)).json()["value"] == []


async def test_composite_that_refers_to_itself_is_refused(
    ops_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    datastream_id = await new_datastream(ops_client, admin)
    first = await new_rule(ops_client, admin, **threshold(datastream_id))
    both = await new_rule(
        ops_client, admin, name="both", kind="composite", combine="and", rule_ids=[first]
    )
    itself = await ops_client.patch(
        f"/api/ops/rules/{both}", json={"rule_ids": [first, both]}, headers=admin
    )
    assert itself.status_code == 400
    assert "rule_ids" in itself.json()["detail"]
    outer = await new_rule(ops_client, admin, name="outer", kind="composite", rule_ids=[both])
    cycle = await ops_client.patch(
        f"/api/ops/rules/{both}", json={"rule_ids": [outer]}, headers=admin
    )
    assert cycle.status_code == 400
    assert "rule_ids" in cycle.json()["detail"]
    unknown = await ops_client.post(
        "/api/ops/rules", json={"name": "x", "kind": "composite", "rule_ids": [4242]}, headers=admin
    )
    assert unknown.status_code == 400
    assert "rule_ids" in unknown.json()["detail"]
    # a rule another combines cannot go
    assert (await ops_client.delete(f"/api/ops/rules/{first}", headers=admin)).status_code == 409
    stored = (await ops_client.get(f"/api/ops/rules/{both}", headers=admin)).json()
    assert stored["rule_ids"] == [first]


async def test_rule_writes_need_an_admin_or_operator_and_are_audited(
    ops_app: FastAPI, ops_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    engine = ops_app.state.engine
    analyst = bearer(await create_user(engine, "ana", Role.ANALYST))
    operator = bearer(await create_user(engine, "ops", Role.OPERATOR))
    datastream_id = await new_datastream(ops_client, admin)
    refused = await ops_client.post(
        "/api/ops/rules", json=threshold(datastream_id), headers=analyst
    )
    assert refused.status_code == 403
    anonymous = await ops_client.post("/api/ops/rules", json=threshold(datastream_id))
    assert anonymous.status_code == 401
    rule_id = await new_rule(ops_client, operator, **threshold(datastream_id))
    assert (await ops_client.get("/api/ops/rules", headers=analyst)).status_code == 200
    async with engine.connect() as connection:
        audited = (
            await connection.execute(select(audit_log).where(audit_log.c.path == "/api/ops/rules"))
        ).all()
    assert [(row.method, row.entity_id) for row in audited] == [("POST", rule_id)]
