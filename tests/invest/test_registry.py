"""The registry through HTTP: create, read, adjust with history, read as of a day, delete."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from cityhelix.invest.tables import project_versions, projects
from tests.conftest import bearer
from tests.invest.factories import make_park, make_project, project_body


async def test_every_adjustment_is_kept_and_readable_as_of_a_day(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    project = await make_project(client, admin, capital_usd=100_000_000, issued_on="2022-03-01")
    url = f"/api/invest/projects/{project['id']}"
    increase = await client.patch(
        url,
        json={
            "changes": {"capital_usd": 150_000_000, "employees_planned": 500},
            "effective_on": "2023-06-15",
            "change_note": "amended IRC: capital increase",
        },
        headers=admin,
    )
    assert increase.status_code == 200, increase.text
    assert (increase.json()["capital_usd"], increase.json()["version"]) == (150_000_000, 2)
    suspended = await client.patch(
        url, json={"changes": {"status": "suspended"}, "effective_on": "2024-01-10"}, headers=admin
    )
    assert suspended.json()["version"] == 3

    async def as_of(day: str) -> httpx.Response:
        return await client.get(url, params={"as_of": day}, headers=admin)

    assert (await as_of("2022-02-28")).status_code == 404  # no certificate yet
    assert (await as_of("2022-03-01")).json()["capital_usd"] == 100_000_000
    assert (await as_of("2023-06-14")).json()["capital_usd"] == 100_000_000
    on_day = (await as_of("2023-06-15")).json()
    assert (on_day["capital_usd"], on_day["status"], on_day["version"]) == (
        150_000_000,
        "active",
        2,
    )
    assert (await as_of("2024-01-10")).json()["status"] == "suspended"
    assert (await client.get(url, headers=admin)).json()["status"] == "suspended"

    history = (await client.get(f"{url}/history", headers=admin)).json()
    assert [(v["version"], v["effective_on"], v["capital_usd"]) for v in history] == [
        (1, "2022-03-01", 100_000_000),
        (2, "2023-06-15", 150_000_000),
        (3, "2024-01-10", 150_000_000),
    ]
    assert history[1]["change_note"] == "amended IRC: capital increase"

    listed = await client.get("/api/invest/projects", params={"as_of": "2023-01-01"}, headers=admin)
    assert [(p["id"], p["capital_usd"]) for p in listed.json()] == [(project["id"], 100_000_000)]
    assert (
        await client.get("/api/invest/projects", params={"as_of": "2021-12-31"}, headers=admin)
    ).json() == []


async def test_a_change_effective_before_the_newest_one_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    project = await make_project(client, admin, issued_on="2020-01-01", capital_usd=10_000_000)
    url = f"/api/invest/projects/{project['id']}"
    await client.patch(
        url,
        json={"changes": {"capital_usd": 30_000_000}, "effective_on": "2024-01-01"},
        headers=admin,
    )
    # each version holds the whole state: one slipped in before 2024 would make 2024 wrong
    late = await client.patch(
        url,
        json={"changes": {"employees_planned": 900}, "effective_on": "2022-01-01"},
        headers=admin,
    )
    assert (late.status_code, late.json()["field"]) == (409, "effective_on")
    same_day = await client.patch(
        url,
        json={"changes": {"employees_planned": 900}, "effective_on": "2024-01-01"},
        headers=admin,
    )
    assert same_day.json()["version"] == 3
    as_of = await client.get(url, params={"as_of": "2024-01-01"}, headers=admin)
    assert (as_of.json()["version"], as_of.json()["capital_usd"]) == (3, 30_000_000)


async def test_registry_filters_and_duplicate_certificates(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    park = await make_park(client, admin)
    await make_project(client, admin, certificate_no="A-1", park_id=park)
    await make_project(
        client,
        admin,
        certificate_no="A-2",
        sector_vsic="13110",
        investors=[{"name": "Textile KK", "country": "JP"}],
    )
    duplicate = await client.post("/api/invest/projects", json=project_body("A-1"), headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.json()["field"] == "certificate_no"

    async def certificates(**params: str | int) -> list[str]:
        response = await client.get("/api/invest/projects", params=params, headers=admin)
        return [p["certificate_no"] for p in response.json()]

    assert await certificates(park_id=park) == ["A-1"]
    assert await certificates(country="JP") == ["A-2"]
    assert await certificates(sector_vsic="26") == ["A-1"]


async def test_registry_search_finds_name_investor_or_certificate_ignoring_case(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_project(
        client,
        admin,
        certificate_no="GCN-2022-0417",
        name="Wafer Test Line",
        investors=[{"name": "Lotus Photonics Ltd", "country": "SG"}],
        issued_on="2022-01-10",
    )
    await make_project(
        client,
        admin,
        certificate_no="GCN-2023-0099",
        name="Footwear plant 100%_done",
        investors=[{"name": "Kestrel Shoes", "country": "KR"}],
        issued_on="2023-05-02",
    )

    async def certificates(**params: str) -> list[str]:
        response = await client.get("/api/invest/projects", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [p["certificate_no"] for p in response.json()]

    assert await certificates(q="wafer TEST") == ["GCN-2022-0417"]
    assert await certificates(q="lotus photonics") == ["GCN-2022-0417"]
    assert await certificates(q="gcn-2023") == ["GCN-2023-0099"]
    assert await certificates(q="GCN") == ["GCN-2022-0417", "GCN-2023-0099"]
    # LIKE's wildcards and quotes are the visitor's text, not SQL
    assert await certificates(q="100%_done") == ["GCN-2023-0099"]
    assert await certificates(q="0%d") == []
    assert await certificates(q="'; drop table invest_projects; --") == []
    # the same search on the registry as of a day
    assert await certificates(q="kestrel", as_of="2023-12-31") == ["GCN-2023-0099"]
    assert await certificates(q="kestrel", as_of="2022-12-31") == []
    assert await certificates(q="gcn", country="SG") == ["GCN-2022-0417"]
    for wrong in ("", "x" * 201):
        refused = await client.get("/api/invest/projects", params={"q": wrong}, headers=admin)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "q"]


async def test_the_registry_is_for_staff(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str]
) -> None:
    await make_project(client, admin)
    assert (await client.get("/api/invest/projects")).status_code == 401
    public = await client.get("/api/invest/projects", headers=bearer(tokens["public"]))
    assert public.status_code == 403
    tenant = await client.post(
        "/api/invest/projects", json=project_body("B-1"), headers=bearer(tokens["tenant"])
    )
    assert tenant.status_code == 403
    analyst = await client.get("/api/invest/projects", headers=bearer(tokens["analyst"]))
    assert analyst.status_code == 200 and len(analyst.json()) == 1


async def test_bad_input_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    bad = [
        project_body(capital_usd=-5),
        project_body(issued_on="yesterday"),
        project_body(investors=[{"name": "X", "country": "Taiwan"}]),
        project_body(sector_vsic="26.10"),
    ]
    for body in bad:
        response = await client.post("/api/invest/projects", json=body, headers=admin)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"][0] == "body"
    missing_park = await client.post(
        "/api/invest/projects", json=project_body(park_id=12345), headers=admin
    )
    assert (missing_park.status_code, missing_park.json()["field"]) == (404, "park_id")
    async with engine.connect() as connection:
        for table in (projects, project_versions, audit_log):
            count = await connection.execute(select(func.count()).select_from(table))
            assert count.scalar() == 0, table.name


async def test_a_bad_adjustment_names_the_changed_field_and_keeps_the_version(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    project = await make_project(client, admin)
    url = f"/api/invest/projects/{project['id']}"
    response = await client.patch(
        url, json={"changes": {"land_ha": "lots"}, "effective_on": "2023-01-01"}, headers=admin
    )
    assert response.status_code == 400
    assert response.json()["field"] == "changes.land_ha"
    early = await client.patch(
        url, json={"changes": {"land_ha": 5}, "effective_on": "2000-01-01"}, headers=admin
    )
    assert (early.status_code, early.json()["field"]) == (400, "effective_on")
    assert (await client.get(url, headers=admin)).json()["version"] == 1


async def test_deleting_a_project_removes_its_history_and_is_audited(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    project = await make_project(client, admin)
    url = f"/api/invest/projects/{project['id']}"
    assert (await client.delete(url, headers=admin)).status_code == 204
    assert (await client.get(url, headers=admin)).status_code == 404
    assert (await client.delete(url, headers=admin)).status_code == 404
    async with engine.connect() as connection:
        methods = [
            r.method for r in await connection.execute(select(audit_log).order_by(audit_log.c.id))
        ]
        versions = await connection.execute(select(func.count()).select_from(project_versions))
    assert methods == ["POST", "DELETE"]
    assert versions.scalar() == 0


async def test_values_past_what_a_column_holds_are_422_never_500(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    huge_id = await client.get(f"/api/invest/projects/{2**64}", headers=admin)
    assert huge_id.status_code == 422
    assert huge_id.json()["detail"][0]["loc"] == ["path", "project_id"]
    workers = await client.post(
        "/api/invest/projects", json=project_body(employees_planned=1e300), headers=admin
    )
    assert workers.status_code == 422
    assert workers.json()["detail"][0]["loc"] == ["body", "employees_planned"]
    long_name = await client.post("/api/invest/parks", json={"name": "P" * 201}, headers=admin)
    assert long_name.status_code == 422
    assert long_name.json()["detail"][0]["loc"] == ["body", "name"]
    version = await client.get(f"/api/invest/policies/{2**40}")
    assert version.status_code == 422
