"""The operations centre's demo on a small demo-like hub: a member for every department and
the printed department user's password works, citizen reports go in through Open311 once,
and a simulated fault over live readings raises an alert on a demo rule and, from its
template, an incident for the right department; on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from cityhelix.auth.principal import Role
from cityhelix.auth.service import check_password, list_users
from cityhelix.demo.province import catalog, read_province
from cityhelix.demo.rules import load_rules, read_rules
from cityhelix.ops import demo as ops_demo
from tests.hub.factories import datastream, location, sensor, thing
from tests.ops.conftest import Watch, client_of


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def _demo_hub(client: Any) -> dict[str, int]:
    """The demo catalogue's ObservedProperties, an air station streaming PM2.5, the rules."""
    _, observed_properties = catalog(read_province())
    ids: dict[str, int] = {}
    for body in observed_properties:
        created = await client.post("/v1.1/ObservedProperties", json=body)
        assert created.status_code == 201, created.text
        ids[body["properties"]["key"]] = created.json()["@iot.id"]
    station = thing(
        "Air station TDM-1",
        properties={"district": "Thu Dau Mot"},
        Locations=[location()],
        Datastreams=[
            datastream(
                "PM2.5 TDM-1",
                Sensor=sensor(),
                ObservedProperty={"@iot.id": ids["pm25"]},
                properties={"key": "air_quality.pm25"},
            )
        ],
    )
    made = await client.post("/v1.1/Things", json=station)
    assert made.status_code == 201, made.text
    assert await load_rules(client) == 5
    return ids


async def test_demo_members_reports_and_a_fault_that_raises_an_alert_and_an_incident(
    ops_app: FastAPI, admin: dict[str, str], watch: Watch
) -> None:
    engine = ops_app.state.engine
    said: list[str] = []
    async with client_of(ops_app) as client:
        client.headers.update(admin)
        await _demo_hub(client)
        await ops_demo.start(client, engine, said.append, None)

        # every department has its member; the printed one signs in with the printed password
        shown = next(line for line in said if "department user:" in line)
        name, password = shown.split(":", 1)[1].split("(")[0].strip().split(" / ")
        departments = (await client.get("/api/ops/departments")).json()["value"]
        # the demo rules' incident templates name categories the catalogue has
        owned = {code for department in departments for code in department["categories"]}
        templates = [r["rule"].get("incident_template") for r in read_rules()]
        assert {t["category"] for t in templates if t} <= owned
        users = {user.name: user for user in await list_users(engine)}
        for department in departments:
            member = users[ops_demo.member_name(department["code"])]
            assert member.role is Role.DEPARTMENT and member.department == department["code"]
        principal = await check_password(engine, name, password)
        assert principal is not None and principal.department == "environment"

        # the citizen reports: in Open311, routed, without personal data in public answers
        public = await client.get("/open311/v2/requests.json", headers={"Authorization": ""})
        reports = public.json()
        assert len(reports) == len(ops_demo.CITIZEN_REPORTS), public.text
        assert "example.org" not in public.text and "Citizen" not in public.text
        incidents = (await client.get("/api/ops/incidents")).json()["value"]
        assert {i["source"] for i in incidents} == {"citizen"}
        assert all(i["department_codes"] for i in incidents)

        # a second start posts no report again, and gives the member a new password
        again: list[str] = []
        await ops_demo.start(client, engine, again.append, None)
        assert not any("Open311" in line for line in again)
        assert len((await client.get("/api/ops/incidents")).json()["value"]) == len(incidents)

        # the fault stream: the first fault (a dust spike) turns a normal reading into 180
        [pm25] = (await ops_demo.demo_feeds(client))["air_quality.pm25"]
        moment = [0.0]
        faults = ops_demo.FaultStream(
            {"air_quality.pm25": [pm25]},
            ops_demo.poster(client),
            first_s=0,
            clock=lambda: moment[0],
        )
        assert await faults.publish(pm25, {"phenomenonTime": _now(), "result": 21})
        raised = await watch.alert("raise")
        assert raised.payload["datastream_id"] == pm25 and raised.payload["value"] == 180
        assert raised.payload["severity"] == "critical"  # past the rule's escalation level
        incident = await watch.until(
            lambda e: e.entity_type == "Incident" and e.action == "create"
            and e.payload.get("category") == "air_quality"
        )  # fmt: skip
        assert incident.payload["department_codes"] == ["environment"]
        opened = (await client.get(f"/api/ops/incidents/{incident.id}")).json()
        assert opened["alert_id"] == raised.id and opened["source"] == "alert"
        # once the fault is over, readings pass through unchanged and the alert clears
        moment[0] = ops_demo.FAULTS[0].seconds + 1
        faults.next_start = 1e9  # no next fault in this test
        assert await faults.publish(pm25, {"phenomenonTime": _now(), "result": 21})
        await watch.alert("cleared", datastream_id=pm25)
