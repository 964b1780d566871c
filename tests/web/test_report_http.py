"""The citizen's report page over HTTP, on both databases: a report filed through the
Open311 service with its photo and tracked in public; bad fields, bad photos, a missing
CSRF token, the honeypot and the per-address limit refused, with nothing stored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.web.routes.report import ReportLimit

#: the smallest valid PNG: its signature is what the server checks
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81"
    b"\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
#: a point in Thu Dau Mot (the catalogue routes it by district)
WHERE = {"lat": "10.9804", "long": "106.6519"}


async def _csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/report")
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


async def _post(
    client: httpx.AsyncClient, fields: dict[str, Any], photo: tuple[str, bytes, str] | None = None
) -> httpx.Response:
    data = {"csrf_token": await _csrf(client), **fields}
    files = {"media": photo} if photo else {"media": ("", b"", "application/octet-stream")}
    return await client.post("/report", data=data, files=files)


async def _incidents(client: httpx.AsyncClient, admin: dict[str, str]) -> list[dict[str, Any]]:
    listed = await client.get("/api/ops/incidents", headers=admin)
    assert listed.status_code == 200, listed.text
    value: list[dict[str, Any]] = listed.json()["value"]
    return value


def _stored_files(running_app: Any) -> list[Path]:
    return [
        p for p in Path(running_app.state.settings.ops_attachments_dir).rglob("*") if p.is_file()
    ]


async def test_a_report_with_a_photo_is_filed_through_open311_and_tracked_in_public(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    description = "Deep pothole by the school gate; call me on 0901 234 567"
    sent = await _post(
        client,
        {"service_code": "road_damage", "description": description, **WHERE},
        ("pothole.png", PNG, "image/png"),
    )
    assert sent.status_code == 303, sent.text
    match = re.fullmatch(r"/report/(\d+)\?filed=1", sent.headers["location"])
    assert match is not None
    number = int(match.group(1))

    tracking = await client.get(f"/report/{number}?filed=1")
    assert tracking.status_code == 200
    assert f'id="tracking-number">{number}<' in tracking.text
    assert 'data-step="new"' in tracking.text
    assert "Report received" in tracking.text
    assert description not in tracking.text  # what a citizen wrote may be personal
    assert "web:report" not in tracking.text

    # the same request Open311 clients see, and the operator's incident with the photo
    record = (await client.get(f"/open311/v2/requests/{number}.json")).json()[0]
    assert record["service_code"] == "road_damage"
    assert record["status"] == "open"
    incident = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()
    assert incident["source"] == "citizen"
    assert incident["channel"] == "web"
    assert incident["created_by"] == "web:report"
    assert incident["district"] == "thu_dau_mot"
    assert incident["description"] == description
    assert [(a["filename"], a["media_type"], a["size"]) for a in incident["attachments"]] == [
        ("pothole.png", "image/png", len(PNG))
    ]

    # the staff's work shows as a status, never who did it
    changed = await client.patch(
        f"/api/ops/incidents/{number}", json={"assignee": "Nguyen Van An"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    tracking = await client.get(f"/report/{number}")
    assert 'data-step="assigned"' in tracking.text
    assert "Assigned to a team" in tracking.text
    assert "Nguyen Van An" not in tracking.text


async def test_a_category_s_questions_are_checked_and_other_categories_answers_dropped(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sent = await _post(
        client,
        {
            "service_code": "streetlight_out",
            "attribute[how_many]": "several",
            "attribute[waste_type][]": "household",  # illegal dumping's, not sent on
            **WHERE,
        },
    )
    assert sent.status_code == 303, sent.text
    number = int(sent.headers["location"].split("/")[2].split("?")[0])
    incident = (await client.get(f"/api/ops/incidents/{number}", headers=admin)).json()
    assert incident["attributes"] == {"how_many": "several"}
    assert incident["attachments"] == []


#: (the form's fields, the field the refusal names)
BAD_INPUT: list[tuple[dict[str, str], str]] = [
    ({"description": "no category", **WHERE}, "service_code"),
    ({"service_code": "no_such_thing", **WHERE}, "service_code"),
    ({"service_code": "noise", "description": "nowhere"}, "lat"),
    ({"service_code": "noise", "lat": "95", "long": "106.65"}, "lat"),
    ({"service_code": "noise", "lat": "10.98", "long": "east"}, "long"),
    ({"service_code": "noise", "lat": "10.98"}, "long"),
    ({"service_code": "streetlight_out", **WHERE}, "attribute[how_many]"),
    ({"service_code": "noise", "description": "x" * 4001, **WHERE}, "description"),
    ({"service_code": "noise", "address_string": "y" * 501}, "address_string"),
]
#: (a photo that is not one we take, the status)
BAD_PHOTOS: list[tuple[tuple[str, bytes, str], int]] = [
    (("photo.jpg", b"GIF89a not a photo we take", "image/jpeg"), 415),
    (("photo.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"), 415),
    (("scan.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"), 415),
    (("huge.png", PNG + b"\0" * (10 * 1024 * 1024), "image/png"), 413),
]


async def test_bad_report_input_is_refused_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any
) -> None:
    before = _stored_files(running_app)
    for fields, field in BAD_INPUT:
        refused = await _post(client, fields, ("photo.png", PNG, "image/png"))
        assert refused.status_code == 400, (field, refused.text[:300])
        assert f'data-error-field="{field}"' in refused.text, field
        assert 'aria-invalid="true"' in refused.text, field
    assert await _incidents(client, admin) == []
    assert _stored_files(running_app) == before


async def test_a_photo_is_checked_by_its_content_and_size(
    client: httpx.AsyncClient, admin: dict[str, str], running_app: Any
) -> None:
    before = _stored_files(running_app)
    for photo, status in BAD_PHOTOS:
        refused = await _post(client, {"service_code": "noise", **WHERE}, photo)
        assert refused.status_code == status, (photo[0], refused.text[:300])
        assert 'data-error-field="media"' in refused.text, photo[0]
    assert await _incidents(client, admin) == []
    assert _stored_files(running_app) == before


async def test_a_report_without_the_form_s_csrf_token_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await _csrf(client)
    refused = await client.post(
        "/report", data={"service_code": "noise", **WHERE}, files={"media": ("", b"", "x/y")}
    )
    assert refused.status_code == 403
    assert await _incidents(client, admin) == []


async def test_the_honeypot_and_the_per_address_limit_stop_robots(
    running_app: Any, engine: AsyncEngine, admin: dict[str, str]
) -> None:
    saved = getattr(running_app.state, "web_report_limit", None)
    running_app.state.web_report_limit = ReportLimit(per_window=2, window_seconds=3600)
    transport = httpx.ASGITransport(app=running_app, client=("203.0.113.7", 4000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as robot:
            trapped = await _post(robot, {"service_code": "noise", "website": "http://x", **WHERE})
            assert trapped.status_code == 400
            assert 'data-error-field="website"' in trapped.text
            assert await _incidents(robot, admin) == []
            for _ in range(2):
                assert (await _post(robot, {"service_code": "noise", **WHERE})).status_code == 303
            limited = await _post(robot, {"service_code": "noise", **WHERE})
            assert limited.status_code == 429
            assert 'data-error-field="rate"' in limited.text
            assert len(await _incidents(robot, admin)) == 2
        # another address is not held up by this one
        other = httpx.ASGITransport(app=running_app, client=("198.51.100.2", 4000))
        async with httpx.AsyncClient(transport=other, base_url="http://testserver") as person:
            assert (await _post(person, {"service_code": "noise", **WHERE})).status_code == 303
    finally:
        running_app.state.web_report_limit = saved


async def test_tracking_shows_only_reports_filed_by_citizens(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    internal = await client.post(
        "/api/ops/incidents",
        json={"category": "noise", "title": "Operator's own note"},
        headers=admin,
    )
    assert internal.status_code == 201, internal.text
    assert (await client.get(f"/report/{internal.json()['id']}")).status_code == 404
    assert (await client.get("/report/999999")).status_code == 404
    assert (await client.get("/report/not-a-number")).status_code == 404
    looked_up = await client.get("/report/track", params={"number": "#12"})
    assert looked_up.status_code == 303
    assert looked_up.headers["location"] == "/report/12"
