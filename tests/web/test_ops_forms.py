"""The operations-centre pages over HTTP, on both databases: sign-in required, the forms'
bad input refused with a 4xx naming the field and nothing stored, CSRF enforced, a
department user kept to its own department's incidents, rules checked as the API checks."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Role
from cityhelix.auth.service import create_user, set_password
from cityhelix.web.const import LANGUAGE_COOKIE
from tests.ops.desk_factories import incident

PASSWORD = "correct horse battery"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
STAFF_PAGES = (
    "/console/alerts",
    "/console/incidents",
    "/console/incidents/1",
    "/console/rules",
    "/console/rules/new",
    "/console/rules/1",
)


def _csrf(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match is not None, "no CSRF field in the page"
    return match.group(1)


async def _signed_in(
    client: httpx.AsyncClient, engine: AsyncEngine, name: str, role: Role, dept: str | None = None
) -> str:
    """Sign `name` in on `client` (a new user); the page's CSRF token."""
    await create_user(engine, name, role, dept)
    await set_password(engine, name, PASSWORD)
    form = await client.get("/login")
    signed = await client.post(
        "/login",
        data={"csrf_token": _csrf(form), "username": name, "password": PASSWORD},
    )
    assert signed.status_code == 303, signed.text
    return _csrf(await client.get("/console/rules"))


async def _rules(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    answer = await client.get("/api/ops/rules", headers=admin)
    value: list[dict[str, Any]] = answer.json()["value"]
    return value


async def _datastream(client: httpx.AsyncClient, admin: dict[str, str]) -> int:
    """A Datastream of a new Thing, for rules to watch."""
    body = {
        "name": "PM2.5 probe",
        "description": "",
        "properties": {"kind": "air_quality", "district": "Di An"},
        "Datastreams": [
            {
                "name": "PM2.5",
                "description": "",
                "observationType": "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement",
                "unitOfMeasurement": {"name": "µg/m³", "symbol": "µg/m³", "definition": "ugm3"},
                "Sensor": {
                    "name": "s",
                    "description": "",
                    "encodingType": "text/html",
                    "metadata": "x",
                },
                "ObservedProperty": {
                    "name": "PM2.5",
                    "definition": "https://x/pm25",
                    "description": "",
                },
            }
        ],
    }
    made = await client.post("/v1.1/Things", json=body, headers=admin)
    assert made.status_code == 201, made.text
    thing = made.headers["location"].rsplit("(", 1)[1].rstrip(")")
    streams = await client.get(f"/v1.1/Things({thing})/Datastreams", headers=admin)
    return int(streams.json()["value"][0]["@iot.id"])


async def test_ops_pages_need_a_session(client: httpx.AsyncClient) -> None:
    for page in STAFF_PAGES:
        answer = await client.get(page)
        assert answer.status_code == 302, page
        assert answer.headers["location"].startswith("/login?next=%2Fconsole"), page
    for api in ("/console/alerts.json", "/console/ops/events"):
        answer = await client.get(api)
        assert (answer.status_code, answer.json()) == (401, {"detail": "sign in first"}), api
    posted = await client.post("/console/rules", data={"name": "x"})
    assert posted.status_code == 302


async def test_rule_form_refuses_bad_input_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "ops", Role.OPERATOR)
    datastream = await _datastream(client, admin)
    form = {
        "csrf_token": token,
        "name": "PM2.5 high",
        "kind": "threshold",
        "severity": "warning",
        "operator": "gt",
        "datastream_ids": str(datastream),
        "value": "50",
        "clear_value": "60",  # above the trigger: the clear level is on the wrong side
        "for_seconds": "0",
        "enabled": "on",
    }
    refused = await client.post("/console/rules", data=form)
    assert refused.status_code == 400
    assert "clear_value: must be at or below the trigger value 50" in refused.text
    assert 'data-field="clear_value"' in refused.text
    for field, value in (("value", "fifty"), ("datastream_ids", "7x"), ("name", " ")):
        answer = await client.post("/console/rules", data={**form, "clear_value": "", field: value})
        assert answer.status_code == 400, field
        assert f'data-field="{field}"' in answer.text, field
    unknown = await client.post(
        "/console/rules", data={**form, "clear_value": "", "datastream_ids": "999999"}
    )
    assert unknown.status_code == 400 and "no Datastream 999999" in unknown.text
    no_csrf = await client.post(
        "/console/rules", data={**form, "csrf_token": "", "clear_value": ""}
    )
    assert no_csrf.status_code == 403
    assert await _rules(client, admin) == []
    saved = await client.post("/console/rules", data={**form, "clear_value": "40"})
    assert (saved.status_code, saved.headers["location"]) == (303, "/console/rules")
    (rule,) = await _rules(client, admin)
    assert (rule["datastream_ids"], rule["value"], rule["clear_value"]) == ([datastream], 50, 40)
    assert rule["created_by"] == "ops"


async def test_the_check_as_you_type_answers_what_the_api_answers(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "ops", Role.OPERATOR)
    datastream = await _datastream(client, admin)
    form = {
        "csrf_token": token,
        "name": "Level band",
        "kind": "range",
        "severity": "critical",
        "datastream_ids": str(datastream),
        "low": "5",
        "high": "2",
    }
    api = await client.post(
        "/api/ops/rules",
        json={"name": "Level band", "kind": "range", "severity": "critical",
              "datastream_ids": [datastream], "low": 5, "high": 2},
        headers=admin,
    )  # fmt: skip
    assert api.status_code == 400
    checked = await client.post("/console/rules/check", data=form)
    assert checked.status_code == 200
    assert 'data-field="high"' in checked.text and api.json()["detail"] in checked.text
    good = await client.post("/console/rules/check", data={**form, "high": "9"})
    assert 'data-field=""' in good.text and "valid" in good.text
    refused = await client.post("/console/rules/check", data={**form, "csrf_token": "stale"})
    assert refused.status_code == 403
    preview = await client.post("/console/rules/preview", data={**form, "high": "9"})
    assert preview.status_code == 200
    assert preview.json()["alerts"] == [] and str(datastream) in preview.json()["series"]
    bad_preview = await client.post("/console/rules/preview", data=form)
    assert bad_preview.status_code == 400 and bad_preview.json()["field"] == "high"
    assert await _rules(client, admin) == []


async def test_editing_a_rule_checks_like_patch_and_keeps_it_on_bad_input(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "ops", Role.OPERATOR)
    datastream = await _datastream(client, admin)
    made = await client.post(
        "/api/ops/rules",
        json={"name": "PM2.5 high", "kind": "threshold", "datastream_ids": [datastream],
              "operator": "gt", "value": 50, "clear_value": 40, "severity": "warning"},
        headers=admin,
    )  # fmt: skip
    rule_id = made.json()["id"]
    page = await client.get(f"/console/rules/{rule_id}")
    assert page.status_code == 200 and 'value="PM2.5 high"' in page.text
    form = {
        "csrf_token": token,
        "rule_id": str(rule_id),
        "name": "PM2.5 very high",
        "kind": "threshold",
        "severity": "critical",
        "operator": "gt",
        "datastream_ids": str(datastream),
        "value": "80",
        "clear_value": "",
        "for_seconds": "0",
        "enabled": "on",
    }
    changed_kind = await client.post(f"/console/rules/{rule_id}", data={**form, "kind": "stale"})
    assert changed_kind.status_code == 400 and 'data-field="kind"' in changed_kind.text
    (kept,) = await _rules(client, admin)
    assert (kept["name"], kept["value"]) == ("PM2.5 high", 50)
    saved = await client.post(f"/console/rules/{rule_id}", data=form)
    assert saved.status_code == 303
    (rule,) = await _rules(client, admin)
    assert (rule["name"], rule["value"], rule["clear_value"]) == ("PM2.5 very high", 80, None)
    missing = await client.post("/console/rules/999999", data=form)
    assert missing.status_code == 404


async def test_only_operators_and_admins_change_rules_and_alerts(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "clerk", Role.DEPARTMENT, "lighting")
    listing = await client.get("/console/rules")
    assert listing.status_code == 200 and "/console/rules/new" not in listing.text
    assert (await client.get("/console/rules/new")).status_code == 403
    refused = await client.post("/console/rules", data={"csrf_token": token, "name": "x"})
    assert refused.status_code == 403
    ack = await client.post("/console/alerts/1/acknowledge", data={"csrf_token": token})
    assert ack.status_code == 403
    assert await _rules(client, admin) == []


async def test_acknowledging_an_alert_that_does_not_exist_is_404(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    token = await _signed_in(client, engine, "ops", Role.OPERATOR)
    page = await client.get("/console/alerts")
    for link in ("/console/alerts", "/console/incidents", "/console/rules", "/console"):
        assert f'href="{link}"' in page.text, link  # the top bar leads to every page
    answer = await client.post(
        "/console/alerts/424242/resolve", data={"csrf_token": token, "comment": "done"}
    )
    assert answer.status_code == 404 and "no alert 424242" in answer.text
    too_long = await client.post(
        "/console/alerts/424242/acknowledge", data={"csrf_token": token, "comment": "x" * 2001}
    )
    assert too_long.status_code == 400
    assert (await client.post("/console/alerts/424242/acknowledge", data={})).status_code == 403


async def _timeline(client: httpx.AsyncClient, admin: dict[str, str], number: int) -> list[Any]:
    document = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()
    return list(document["timeline"]) + list(document["attachments"])


async def test_incident_forms_refuse_bad_input_and_missing_csrf_writing_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "ops", Role.OPERATOR)
    made = await incident(client, admin)
    number = made["id"]
    before = await _timeline(client, admin, number)
    base = f"/console/incidents/{number}"
    empty = await client.post(f"{base}/comments", data={"csrf_token": token, "text": "  "})
    assert empty.status_code == 400 and "text:" in empty.text
    wrong_status = await client.post(
        f"{base}/status", data={"csrf_token": token, "status": "closed"}
    )
    assert wrong_status.status_code == 409 and "status: cannot go from" in wrong_status.text
    no_step = await client.post(f"{base}/checklist/99", data={"csrf_token": token})
    assert no_step.status_code == 404
    text_file = await client.post(
        f"{base}/attachments",
        data={"csrf_token": token},
        files={"file": ("notes.png", b"just text, not an image", "image/png")},
    )
    assert text_file.status_code == 415 and "file: content is not PNG" in text_file.text
    not_multipart = await client.post(f"{base}/attachments", data={"csrf_token": token})
    assert not_multipart.status_code == 400
    for path, data in (
        ("comments", {"text": "hello"}),
        ("assign", {"assignee": "Lan"}),
        ("status", {"status": "assigned"}),
        ("checklist/0", {}),
    ):
        refused = await client.post(f"{base}/{path}", data=data)
        assert refused.status_code == 403, path
    no_csrf_upload = await client.post(
        f"{base}/attachments", files={"file": ("light.png", PNG, "image/png")}
    )
    assert no_csrf_upload.status_code == 403
    assert await _timeline(client, admin, number) == before
    uploaded = await client.post(
        f"{base}/attachments",
        data={"csrf_token": token},
        files={"file": ("light.png", PNG, "image/png")},
    )
    assert uploaded.status_code == 303
    page = await client.get(base)
    (attachment,) = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()[
        "attachments"
    ]
    assert f'src="{base}/attachments/{attachment["id"]}"' in page.text
    client.cookies.set(LANGUAGE_COOKIE, "vi")
    vietnamese = await client.get(base)
    assert "Danh mục quy trình xử lý" in vietnamese.text and "Tải lên" in vietnamese.text
    client.cookies.delete(LANGUAGE_COOKIE)
    image = await client.get(f"{base}/attachments/{attachment['id']}")
    assert (image.status_code, image.content, image.headers["content-type"]) == (
        200,
        PNG,
        "image/png",
    )


async def test_a_department_user_sees_only_its_departments_incidents(
    client: httpx.AsyncClient, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    token = await _signed_in(client, engine, "clerk", Role.DEPARTMENT, "water")
    lights = await incident(client, admin)  # routed to lighting
    drain = await incident(client, admin, category="blocked_drain", title="Drain blocked")
    board = await client.get("/console/incidents")
    assert board.status_code == 200
    assert f"/console/incidents/{drain['id']}" in board.text
    assert f"/console/incidents/{lights['id']}" not in board.text
    other = await client.get(f"/console/incidents/{lights['id']}")
    assert other.status_code == 403 and "not routed to your department" in other.text
    before = await _timeline(client, admin, lights["id"])
    refused = await client.post(
        f"/console/incidents/{lights['id']}/assign", data={"csrf_token": token, "assignee": "me"}
    )
    assert refused.status_code == 403
    assert await _timeline(client, admin, lights["id"]) == before
    filtered = await client.get("/console/incidents?department=lighting")
    assert filtered.status_code == 403
    own = await client.get(f"/console/incidents/{drain['id']}")
    assert own.status_code == 200 and "Drain blocked" in own.text
