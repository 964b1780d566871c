"""Open311 GeoReport v2 under `/open311/v2` on both databases: the specification's example
requests and answers in JSON and XML, requests that become routed incidents whose public
status follows them, and no personal data in any public answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.ops.desk.open311.keys import create_key
from cityhelix.ops.desk.tables import incidents

#: the spec's POST example, with this province's service code and a point in Di An
EXAMPLE: dict[str, str] = {
    "service_code": "streetlight_out",
    "lat": "10.9068",
    "long": "106.7690",
    "address_string": "1234 5th street",
    "email": "smit222@sfgov.edu",
    "device_id": "tt222111",
    "account_id": "123456",
    "first_name": "john",
    "last_name": "smith",
    "phone": "111111111",
    "description": "A large sinkhole is destroying the street",
    "media_url": "http://www.city.gov/image.jpg",
    "attribute[pole_number]": "123",
    "attribute[how_many]": "several",
}
PERSONAL = ("smit222", "tt222111", "john", "smith", "111111111", "123456")
#: the spec's elements of a service request record, in its order
RECORD = [
    "service_request_id", "status", "status_notes", "service_name", "service_code",
    "description", "agency_responsible", "service_notice", "requested_datetime",
    "updated_datetime", "expected_datetime", "address", "address_id", "zipcode", "lat",
    "long", "media_url",
]  # fmt: skip


@pytest.fixture
async def api_key(engine: AsyncEngine) -> str:
    return await create_key(engine, "fixmystreet-app")


def xml(answer: httpx.Response) -> ElementTree.Element:
    assert answer.headers["content-type"].startswith("text/xml")
    assert answer.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ElementTree.fromstring(answer.content)


async def post(client: httpx.AsyncClient, fmt: str, **fields: str) -> httpx.Response:
    return await client.post(f"/open311/v2/requests.{fmt}", data=fields)


async def test_discovery_services_and_definitions_in_json_and_xml(
    client: httpx.AsyncClient,
) -> None:
    found = (await client.get("/open311/v2/discovery.json")).json()
    assert found["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert found["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    root = xml(await client.get("/open311/v2/discovery.xml"))
    assert [e.tag for e in root] == ["changeset", "contact", "key_service", "endpoints"]
    assert [f.text for f in root.find("endpoints/endpoint/formats") or []] == [
        "text/xml", "application/json",
    ]  # fmt: skip

    services = (await client.get("/open311/v2/services.json")).json()
    light = next(s for s in services if s["service_code"] == "streetlight_out")
    assert light == {
        "service_code": "streetlight_out",
        "service_name": "Streetlight out",
        "description": light["description"],
        "metadata": True,
        "type": "realtime",
        "keywords": "",
        "group": "Lighting",
    }
    root = xml(await client.get("/open311/v2/services.xml"))
    assert root.tag == "services" and len(root) == len(services)
    first = root.find("service")
    assert first is not None
    assert [e.tag for e in first] == [
        "service_code", "service_name", "description", "metadata", "type", "keywords", "group",
    ]  # fmt: skip

    definition = (await client.get("/open311/v2/services/streetlight_out.json")).json()
    assert definition["service_code"] == "streetlight_out"
    how_many = definition["attributes"][1]
    assert how_many["code"] == "how_many" and how_many["datatype"] == "singlevaluelist"
    assert how_many["required"] is True and how_many["variable"] is True
    assert how_many["values"] == [
        {"key": "one", "name": "One"},
        {"key": "several", "name": "Several in a row"},
    ]
    root = xml(await client.get("/open311/v2/services/streetlight_out.xml"))
    assert root.tag == "service_definition"
    attribute = root.findall("attributes/attribute")[1]
    assert [e.tag for e in attribute] == [
        "variable", "code", "datatype", "required", "datatype_description", "order",
        "description", "values",
    ]  # fmt: skip
    assert [(v.findtext("key"), v.findtext("name")) for v in attribute.findall("values/value")] == [
        ("one", "One"), ("several", "Several in a row"),
    ]  # fmt: skip
    missing = await client.get("/open311/v2/services/dragons.xml")
    assert missing.status_code == 404
    assert xml(missing).findtext("error/code") == "404"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_spec_example_request_round_trips_without_personal_data(
    client: httpx.AsyncClient, api_key: str, admin: dict[str, str], fmt: str
) -> None:
    posted = await post(client, fmt, api_key=api_key, jurisdiction_id="cityhelix", **EXAMPLE)
    assert posted.status_code == 201, posted.text
    if fmt == "json":
        [created] = posted.json()
        assert list(created) == ["service_request_id", "token", "service_notice", "account_id"]
        request_id, token = created["service_request_id"], created["token"]
    else:
        element = xml(posted).find("request")
        assert element is not None
        request_id, token = (
            int(element.findtext("service_request_id") or 0),
            element.findtext("token"),
        )
    got = await client.get(f"/open311/v2/requests/{request_id}.{fmt}")
    assert got.status_code == 200
    if fmt == "json":
        [record] = got.json()
        assert list(record) == RECORD
        values = {k: "" if v is None else str(v) for k, v in record.items()}
    else:
        element = xml(got).find("request")
        assert element is not None
        assert [e.tag for e in element] == RECORD
        values = {e.tag: e.text or "" for e in element}
    assert values["service_request_id"] == str(request_id)
    assert values["status"] == "open" and values["service_code"] == "streetlight_out"
    assert values["description"] == EXAMPLE["description"]
    assert values["media_url"] == EXAMPLE["media_url"]
    assert values["address"] == "1234 5th street"
    assert (float(values["lat"]), float(values["long"])) == (10.9068, 106.769)
    assert values["agency_responsible"] == "Public Lighting and Electricity"
    for answer in (posted, got, await client.get(f"/open311/v2/requests.{fmt}")):
        assert not any(p in answer.text for p in PERSONAL), answer.text
    by_token = await client.get(f"/open311/v2/tokens/{token}.{fmt}")
    assert str(request_id) in by_token.text and by_token.status_code == 200
    # the incident behind it: routed, with the reporter's contact kept for staff only
    incident = (await client.get(f"/api/ops/incidents/{request_id}", headers=admin)).json()
    assert incident["source"] == "citizen" and incident["department_codes"] == ["lighting"]
    assert incident["district"] == "di_an"
    assert incident["contact"]["email"] == "smit222@sfgov.edu"
    assert incident["attributes"] == {"pole_number": "123", "how_many": "several"}


async def test_public_status_and_notes_follow_the_incident(
    client: httpx.AsyncClient, api_key: str, admin: dict[str, str]
) -> None:
    [created] = (await post(client, "json", api_key=api_key, **EXAMPLE)).json()
    request_id = created["service_request_id"]
    path = f"/api/ops/incidents/{request_id}"
    await client.patch(
        path, json={"assignee": "crew-2", "status_notes": "Crew sent"}, headers=admin
    )
    [record] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert record["status"] == "open" and record["status_notes"] == "Crew sent"
    await client.patch(path, json={"status": "in_progress"}, headers=admin)
    await client.patch(
        path, json={"status": "resolved", "status_notes": "Lamp replaced"}, headers=admin
    )
    [record] = (await client.get(f"/open311/v2/requests/{request_id}.json")).json()
    assert record["status"] == "closed" and record["status_notes"] == "Lamp replaced"
    assert "crew-2" not in str(record)


async def test_requests_are_filtered_by_id_code_status_and_dates_last_90_days_by_default(
    client: httpx.AsyncClient, api_key: str, admin: dict[str, str], engine: AsyncEngine
) -> None:
    ids = []
    for code, attrs in (
        ("streetlight_out", {"attribute[how_many]": "one"}),
        ("flooding", {}),
        ("noise", {}),
    ):
        fields = {k: v for k, v in EXAMPLE.items() if not k.startswith("attribute")}
        [created] = (
            await post(client, "json", api_key=api_key, **{**fields, "service_code": code, **attrs})
        ).json()
        ids.append(created["service_request_id"])
    old = datetime.now(UTC) - timedelta(days=120)
    async with engine.begin() as connection:
        await connection.execute(
            update(incidents).where(incidents.c.id == ids[2]).values(created_at=old)
        )
    await client.patch(f"/api/ops/incidents/{ids[1]}", json={"assignee": "x"}, headers=admin)
    for status in ("in_progress", "resolved"):
        await client.patch(f"/api/ops/incidents/{ids[1]}", json={"status": status}, headers=admin)
    internal = await client.post(
        "/api/ops/incidents", json={"category": "noise", "title": "internal"}, headers=admin
    )
    assert internal.status_code == 201

    async def found(query: str) -> list[int]:
        answer = await client.get(f"/open311/v2/requests.json?{query}")
        assert answer.status_code == 200, answer.text
        return [r["service_request_id"] for r in answer.json()]

    assert await found("") == [ids[1], ids[0]]  # newest first; 120 days ago left out
    assert await found(f"service_request_id={ids[2]},{ids[0]}") == [ids[0], ids[2]]
    assert await found("service_code=flooding") == [ids[1]]
    assert await found("status=closed") == [ids[1]]
    assert await found("status=open") == [ids[0]]
    start = (old - timedelta(days=1)).isoformat()
    end = (old + timedelta(days=1)).isoformat()
    assert await found(httpx.QueryParams({"start_date": start, "end_date": end}).__str__()) == [
        ids[2]
    ]
    assert internal.json()["id"] not in await found(f"service_request_id={internal.json()['id']}")
    bad = await client.get("/open311/v2/requests.xml?start_date=yesterday")
    assert bad.status_code == 400 and "start_date" in (xml(bad).findtext("error/description") or "")


async def _stored(engine: AsyncEngine) -> int:
    from sqlalchemy import func, select

    async with engine.connect() as connection:
        return int(
            (await connection.execute(select(func.count()).select_from(incidents))).scalar_one()
        )


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_requests_are_refused_in_georeport_format_with_nothing_stored(
    client: httpx.AsyncClient, api_key: str, engine: AsyncEngine, fmt: str
) -> None:
    no_location = {k: v for k, v in EXAMPLE.items() if k not in ("lat", "long", "address_string")}
    no_attribute = {k: v for k, v in EXAMPLE.items() if k != "attribute[how_many]"}
    cases: list[tuple[dict[str, str], int, str]] = [
        (EXAMPLE, 400, "api_key"),
        ({**EXAMPLE, "api_key": "not-a-key"}, 403, "api_key"),
        ({**EXAMPLE, "api_key": api_key, "service_code": "dragons"}, 400, "service_code"),
        ({**no_location, "api_key": api_key}, 400, "location"),
        ({**no_attribute, "api_key": api_key}, 400, "attribute[how_many]"),
        ({**EXAMPLE, "api_key": api_key, "attribute[how_many]": "all"}, 400, "attribute[how_many]"),
        ({**EXAMPLE, "api_key": api_key, "lat": "91"}, 400, "lat"),
        ({**EXAMPLE, "api_key": api_key, "media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({**EXAMPLE, "api_key": api_key, "description": "x" * 4001}, 400, "description"),
        ({**EXAMPLE, "api_key": api_key, "jurisdiction_id": "gotham"}, 404, "jurisdiction_id"),
    ]
    for fields, status, named in cases:
        answer = await post(client, fmt, **fields)
        assert answer.status_code == status, (fields, answer.text)
        if fmt == "json":
            [error] = answer.json()
            assert error["code"] == status and named in error["description"], answer.text
        else:
            root = xml(answer)
            assert root.tag == "errors" and root.findtext("error/code") == str(status)
            assert named in (root.findtext("error/description") or "")
    limit = 10 * 1024 * 1024
    big = await client.post(
        f"/open311/v2/requests.{fmt}",
        data={**EXAMPLE, "api_key": api_key},
        files={"media": ("photo.jpg", b"\xff\xd8\xff" + b"\x00" * limit, "image/jpeg")},
    )
    assert big.status_code == 413, big.text
    fake = await client.post(
        f"/open311/v2/requests.{fmt}",
        data={**EXAMPLE, "api_key": api_key},
        files={"media": ("photo.jpg", b"MZ\x90\x00 not an image", "image/jpeg")},
    )
    assert fake.status_code == 415
    assert await _stored(engine) == 0


async def test_a_media_file_posted_with_the_request_is_kept_as_an_attachment(
    client: httpx.AsyncClient, api_key: str, admin: dict[str, str]
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    answer = await client.post(
        "/open311/v2/requests.json",
        data={**EXAMPLE, "api_key": api_key},
        files={"media": ("pothole.png", png, "image/png")},
    )
    assert answer.status_code == 201, answer.text
    request_id = answer.json()[0]["service_request_id"]
    incident: dict[str, Any] = (
        await client.get(f"/api/ops/incidents/{request_id}", headers=admin)
    ).json()
    assert [(a["filename"], a["media_type"]) for a in incident["attachments"]] == [
        ("pothole.png", "image/png")
    ]
