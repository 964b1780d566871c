"""Incidents through `/api/ops/incidents` on both databases: routing, SLA deadlines in working
hours, status transitions, timeline, SOP checklist, filters, the department 403 matrix,
bad input refused with nothing stored, and the outbox events of each change."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.tables import event_outbox
from cityhelix.ops.desk.tables import incidents
from tests.conftest import Backend, bearer
from tests.ops.desk_factories import DI_AN, THU_DAU_MOT, department_user, incident
from tests.served import cli_env


async def _count(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(incidents))).scalar_one()
        )


async def _incident_events(engine: AsyncEngine) -> list[list[Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(event_outbox.c.events).order_by(event_outbox.c.id))
        return [list(e) for r in rows for e in outbox.decode(r.events) if e[1] == "Incident"]


async def test_report_touching_two_departments_goes_to_both(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    dumped = await incident(client, admin, category="illegal_dumping", location=DI_AN)
    assert dumped["district"] == "di_an"
    assert dumped["department_codes"] == ["environment", "order_south"]
    north = await incident(client, admin, category="illegal_dumping", location=THU_DAU_MOT)
    assert north["department_codes"] == ["environment", "order_north"]
    light = await incident(client, admin, category="streetlight_out", district="ben_cat")
    assert light["department_codes"] == ["lighting"]
    assert light["status"] == "new" and light["source"] == "operator"


async def test_deadlines_count_working_hours_across_weekend_and_holidays(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    # Friday 16:00 local (UTC+7); high streetlight: respond 4 h, resolve 16 h of work
    friday = await incident(client, admin, priority="high", reported_at="2026-12-04T09:00:00Z")
    # 1 h on Friday, 3 h on Monday from 07:30 -> Monday 10:30 local
    assert friday["respond_by"] == "2026-12-07T03:30:00Z"
    # 1 h Friday, 8 h Monday, 7 h Tuesday (07:30-11:30, 13:00-16:00) -> Tuesday 16:00 local
    assert friday["resolve_by"] == "2026-12-08T09:00:00Z"
    # Monday 31 August 16:00 local; 1 and 2 September are National Day holidays
    holiday = await incident(client, admin, priority="normal", reported_at="2026-08-31T09:00:00Z")
    assert holiday["respond_by"] == "2026-09-03T09:00:00Z"  # 1 h Monday + 7 h Thursday


async def test_status_moves_along_its_path_and_refuses_a_jump_naming_from_and_to(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    created = await incident(client, admin)
    path = f"/api/ops/incidents/{created['id']}"
    jump = await client.patch(path, json={"status": "resolved"}, headers=admin)
    assert jump.status_code == 409
    assert "'new'" in jump.json()["detail"] and "'resolved'" in jump.json()["detail"]
    assigned = await client.patch(path, json={"assignee": "crew-7"}, headers=admin)
    assert assigned.json()["status"] == "assigned"
    assert assigned.json()["acknowledged_at"] is not None
    for status in ("in_progress", "resolved", "closed"):
        answer = await client.patch(path, json={"status": status}, headers=admin)
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == status
    closed = (await client.get(path, headers=admin)).json()
    assert closed["resolved_at"] is not None and closed["closed_at"] is not None
    reopened = await client.patch(path, json={"status": "in_progress"}, headers=admin)
    assert reopened.status_code == 200
    assert reopened.json()["closed_at"] is None
    kinds = [(e["kind"], e["detail"].get("to")) for e in reopened.json()["timeline"]]
    assert kinds == [
        ("created", None),
        ("assignee", "crew-7"),
        ("status", "assigned"),
        ("status", "in_progress"),
        ("status", "resolved"),
        ("status", "closed"),
        ("reopen", "in_progress"),
    ]
    events = await _incident_events(engine)
    assert [e[0] for e in events] == ["create"] + ["update"] * 5
    assert events[-1][3]["status"] == "in_progress"
    assert events[0][3]["department_codes"] == ["lighting"]
    assert set(events[0][3]) == {
        "id", "category", "priority", "status", "department_codes", "district",
        "location", "title", "overdue", "respond_by", "resolve_by",
    }  # fmt: skip


async def test_comments_and_sop_steps_are_on_the_timeline(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await incident(client, admin)
    path = f"/api/ops/incidents/{created['id']}"
    assert [s["done"] for s in created["checklist"]] == [False] * 4
    commented = await client.post(
        f"{path}/comments", json={"text": "crew on the way"}, headers=admin
    )
    assert commented.status_code == 201
    ticked = await client.post(f"{path}/checklist/1", headers=admin)
    assert ticked.status_code == 200
    assert [s["done"] for s in ticked.json()["checklist"]] == [False, True, False, False]
    assert ticked.json()["checklist"][1]["done_by"] == "admin"
    again = await client.post(f"{path}/checklist/1", headers=admin)
    assert again.status_code == 409
    beyond = await client.post(f"{path}/checklist/9", headers=admin)
    assert beyond.status_code == 404 and "0 to 3" in beyond.json()["detail"]
    timeline = ticked.json()["timeline"]
    assert timeline[1] == {**timeline[1], "kind": "comment", "detail": {"text": "crew on the way"}}
    assert timeline[2]["kind"] == "checklist" and timeline[2]["detail"]["step"] == 1


async def test_priority_change_recomputes_deadlines_from_the_report_time(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    created = await incident(client, admin, priority="low", reported_at="2026-12-04T09:00:00Z")
    urgent = await client.patch(
        f"/api/ops/incidents/{created['id']}", json={"priority": "urgent"}, headers=admin
    )
    # urgent streetlight: respond 1 h -> Friday 17:00 local
    assert urgent.json()["respond_by"] == "2026-12-04T10:00:00Z"


async def test_filters_by_department_category_priority_status_and_overdue(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    old = await incident(
        client, admin, category="flooding", priority="urgent", reported_at="2026-01-05T01:00:00Z"
    )
    fresh = await incident(client, admin, category="streetlight_out", priority="low")
    await client.patch(f"/api/ops/incidents/{fresh['id']}", json={"assignee": "a"}, headers=admin)

    async def ids(query: str) -> list[int]:
        answer = await client.get(f"/api/ops/incidents?{query}", headers=admin)
        assert answer.status_code == 200, answer.text
        return [i["id"] for i in answer.json()["value"]]

    assert await ids("") == [fresh["id"], old["id"]]
    assert await ids("department=water") == [old["id"]]
    assert await ids("category=streetlight_out") == [fresh["id"]]
    assert await ids("priority=urgent") == [old["id"]]
    assert await ids("status=assigned") == [fresh["id"]]
    assert await ids("overdue=true") == [old["id"]]
    assert await ids("overdue=false") == [fresh["id"]]
    bad = await client.get("/api/ops/incidents?status=lost", headers=admin)
    assert bad.status_code == 422 and "status" in bad.text


async def test_department_user_sees_and_changes_only_its_own_incidents(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, tokens: dict[str, str]
) -> None:
    lighting = await department_user(engine, "lighting")
    water = await department_user(engine, "water")
    mine = await incident(client, admin, category="streetlight_out")
    theirs = await incident(client, admin, category="flooding")
    listed = await client.get("/api/ops/incidents", headers=lighting)
    assert [i["id"] for i in listed.json()["value"]] == [mine["id"]]
    other = await client.get("/api/ops/incidents?department=water", headers=lighting)
    assert other.status_code == 403
    assert (
        await client.get(f"/api/ops/incidents/{mine['id']}", headers=lighting)
    ).status_code == 200
    path = f"/api/ops/incidents/{theirs['id']}"
    assert (await client.get(path, headers=lighting)).status_code == 403
    refused = await client.patch(path, json={"assignee": "me"}, headers=lighting)
    assert refused.status_code == 403
    assert (
        await client.post(f"{path}/comments", json={"text": "x"}, headers=lighting)
    ).status_code == 403
    assert (await client.post(f"{path}/checklist/0", headers=lighting)).status_code == 403
    assert (await client.patch(path, json={"assignee": "w1"}, headers=water)).status_code == 200
    assert (await client.get(path, headers=admin)).json()["assignee"] == "w1"
    assert (await client.get(path, headers=bearer(tokens["operator"]))).status_code == 200
    for role in ("analyst", "tenant", "public"):
        assert (await client.get(path, headers=bearer(tokens[role]))).status_code == 403
        assert (
            await client.get("/api/ops/incidents", headers=bearer(tokens[role]))
        ).status_code == 403
    assert (await client.get(path)).status_code == 401
    assert (await client.post("/api/ops/incidents", json={})).status_code == 401
    missing = await client.get("/api/ops/incidents/999999", headers=admin)
    assert missing.status_code == 404


async def test_bad_incident_bodies_name_the_field_and_store_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    good = {"category": "flooding", "title": "Water on the road"}
    cases: list[tuple[Any, str]] = [
        ({**good, "category": "dragons"}, "category"),
        ({**good, "priority": "whenever"}, "priority"),
        ({k: v for k, v in good.items() if k != "title"}, "title"),
        ({**good, "title": "x" * 201}, "title"),
        ({**good, "location": {"type": "Point", "coordinates": [200, 10]}}, "location"),
        ({**good, "location": {"type": "Line"}}, "location"),
        ({**good, "district": "atlantis"}, "district"),
        ({**good, "source": "rumour"}, "source"),
        ({**good, "channel": "pigeon"}, "channel"),
        ({**good, "reported_at": "2026-01-01T00:00:00"}, "reported_at"),
        ({**good, "colour": "red"}, "colour"),
        ([good], "JSON object"),
    ]
    for body, field in cases:
        answer = await client.post("/api/ops/incidents", json=body, headers=admin)
        assert answer.status_code == 400, (body, answer.text)
        assert field in answer.json()["detail"], answer.text
    nul = await client.post(
        "/api/ops/incidents",
        content=b'{"category": "flooding", "title": "a\\u0000b"}',
        headers={**admin, "Content-Type": "application/json"},
    )
    assert nul.status_code == 400
    assert await _count(engine) == 0
    created = await incident(client, admin)
    bad_patch = await client.patch(
        f"/api/ops/incidents/{created['id']}", json={"category": "noise"}, headers=admin
    )
    assert bad_patch.status_code == 400 and "category" in bad_patch.json()["detail"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


async def test_attachments_are_checked_by_content_and_size_and_download_intact(
    client: httpx.AsyncClient, admin: dict[str, str], backend: Backend, engine: AsyncEngine
) -> None:
    created = await incident(client, admin)
    path = f"/api/ops/incidents/{created['id']}/attachments"
    uploaded = await client.post(
        path, files={"file": ("photo.png", PNG, "image/png")}, headers=admin
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["media_type"] == "image/png"
    pdf = await client.post(path, files={"file": ("report.pdf", PDF, "image/png")}, headers=admin)
    assert pdf.json()["media_type"] == "application/pdf"  # its bytes, not the sent type
    downloaded = await client.get(uploaded.headers["Location"], headers=admin)
    assert downloaded.status_code == 200 and downloaded.content == PNG
    assert downloaded.headers["content-type"] == "image/png"
    disguised = await client.post(
        path, files={"file": ("evil.png", b"<script>alert(1)</script>", "image/png")}, headers=admin
    )
    assert disguised.status_code == 415 and "file" in disguised.json()["detail"]
    limit = backend.settings.ops_attachment_max_bytes
    huge = await client.post(
        path, files={"file": ("big.png", PNG + b"\x00" * limit, "image/png")}, headers=admin
    )
    assert huge.status_code == 413
    no_file = await client.post(path, data={"x": "1"}, headers=admin)
    assert no_file.status_code == 400 and "file" in no_file.json()["detail"]
    document = (await client.get(f"/api/ops/incidents/{created['id']}", headers=admin)).json()
    assert [a["filename"] for a in document["attachments"]] == ["photo.png", "report.pdf"]
    assert [e["kind"] for e in document["timeline"]].count("attachment") == 2
    other = await department_user(engine, "water")
    assert (await client.get(uploaded.headers["Location"], headers=other)).status_code == 403


async def test_departments_and_categories_are_listed_from_the_catalogue(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    departments = (await client.get("/api/ops/departments", headers=admin)).json()["value"]
    south = next(d for d in departments if d["code"] == "order_south")
    assert south["districts"] == ["di_an", "thuan_an"]
    categories = (await client.get("/api/ops/categories", headers=admin)).json()["value"]
    flooding = next(c for c in categories if c["code"] == "flooding")
    assert flooding["sla"]["urgent"] == {"respond_hours": 1.0, "resolve_hours": 4.0}
    assert flooding["departments"] == ["water"]


async def test_users_cli_creates_a_department_user_whose_token_sees_its_incidents(
    backend: Backend, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    async def cityhelix(*args: str) -> subprocess.CompletedProcess[str]:
        # in a thread: the app's background writers share this event loop
        return await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "cityhelix", *args],
            env=cli_env(backend.url, COLUMNS="200"),
            capture_output=True,
            text=True,
            timeout=120,
        )

    name = f"clerk-cli-{backend.name}"
    missing = await cityhelix("users", "create", name + "-x", "--role", "department")
    assert missing.returncode == 1 and "--department" in missing.stdout
    created = await cityhelix(
        "users", "create", name, "--role", "department", "--department", "water"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    listed = await cityhelix("users", "list")
    assert name in listed.stdout and "water" in listed.stdout
    flood = await incident(client, admin, category="flooding")
    await incident(client, admin, category="noise")
    seen = await client.get("/api/ops/incidents", headers=bearer(token))
    assert [i["id"] for i in seen.json()["value"]] == [flood["id"]]
