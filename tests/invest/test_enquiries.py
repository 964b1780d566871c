"""The portal's enquiry becomes a private lead; investors and the 2025 unit mapping."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import bearer

ENQUIRY: dict[str, Any] = {
    "organisation": "Nordic Batteries AB",
    "country": "SE",
    "name": "Anna Berg",
    "email": "anna@example.se",
    "message": "We look for 12 ha near a port.",
    "needs": {"land_ha": 12, "power_mw": 30},
}


#: a new address for each test's visitor
_ADDRESSES = itertools.count()


@pytest.fixture
async def visitor(
    running_app: object, client: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """A client from an address of its own, so that each test starts under the limit (the
    limit lives on the session app: an address used by an earlier test is still counted)."""
    number = next(_ADDRESSES)
    address = f"10.9.{number // 250}.{number % 250 + 1}"
    transport = httpx.ASGITransport(app=running_app, client=(address, 4000))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_an_enquiry_becomes_a_lead_and_shows_nothing_back(
    visitor: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await visitor.post("/api/invest/enquiries", json=ENQUIRY)
    assert response.status_code == 202, response.text
    assert response.json() == {"received": True}
    [lead] = (await client.get("/api/invest/leads", headers=admin)).json()
    assert (lead["organisation"], lead["source"], lead["stage"]) == (
        "Nordic Batteries AB",
        "portal",
        "lead",
    )
    assert lead["contact"]["email"] == "anna@example.se"
    assert lead["needs"]["land_ha"] == 12
    timeline = (await client.get(f"/api/invest/leads/{lead['id']}", headers=admin)).json()
    assert timeline["activities"][0]["note"] == "We look for 12 ha near a port."
    # the contact is staff-only
    assert (await visitor.get(f"/api/invest/leads/{lead['id']}")).status_code == 401


async def test_a_filled_hidden_field_is_a_robot_and_keeps_nothing(
    visitor: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await visitor.post(
        "/api/invest/enquiries", json={**ENQUIRY, "website": "http://spam.example"}
    )
    assert response.json() == {"received": True}
    assert (await client.get("/api/invest/leads", headers=admin)).json() == []


async def test_enquiries_are_limited_per_address(
    visitor: httpx.AsyncClient, client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answers = [
        (await visitor.post("/api/invest/enquiries", json=ENQUIRY)).status_code for _ in range(6)
    ]
    assert answers == [202] * 5 + [429]
    refused = await visitor.post("/api/invest/enquiries", json=ENQUIRY)
    assert int(refused.headers["Retry-After"]) > 0
    assert len((await client.get("/api/invest/leads", headers=admin)).json()) == 5


async def test_a_bad_enquiry_names_the_field(visitor: httpx.AsyncClient) -> None:
    response = await visitor.post("/api/invest/enquiries", json={**ENQUIRY, "email": "anna"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]


async def test_investors_and_the_unit_mapping(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    made = await client.post(
        "/api/invest/investors",
        json={"name": "Example Semiconductor Co.", "country": "TW", "kind": "company"},
        headers=analyst,
    )
    assert made.status_code == 201, made.text
    lead = await client.post(
        "/api/invest/leads",
        json={"organisation": "Example", "investor_id": made.json()["id"]},
        headers=analyst,
    )
    assert lead.json()["investor_id"] == made.json()["id"]
    orphan = await client.post(
        "/api/invest/leads", json={"organisation": "X", "investor_id": 999}, headers=analyst
    )
    assert (orphan.status_code, orphan.json()["field"]) == (404, "investor_id")

    mapping = {
        "before_name": "Thuan Giao",
        "before_province": "Binh Duong",
        "after_name": "Thuan Giao",
        "after_province": "Ho Chi Minh City",
    }
    assert (
        await client.post("/api/invest/admin-units", json=mapping, headers=analyst)
    ).status_code == 201
    again = await client.post("/api/invest/admin-units", json=mapping, headers=analyst)
    assert (again.status_code, again.json()["field"]) == (409, "before_name")
    found = (await client.get("/api/invest/admin-units", params={"name": "Thuan Giao"})).json()
    assert [m["after_province"] for m in found] == ["Ho Chi Minh City"]
