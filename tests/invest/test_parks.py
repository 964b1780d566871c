"""Parks and plots through HTTP: both administrative units searchable, geometry checked."""

from __future__ import annotations

import httpx

from tests.conftest import bearer
from tests.invest.factories import make_park, make_plot, park_body, square


async def test_a_park_is_found_by_its_unit_before_or_after_the_2025_merger(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_park(
        client, admin, name="VSIP III", admin_unit_before="Tan Uyen", admin_unit_after="Vinh Tan"
    )
    await make_park(
        client, admin, name="My Phuoc 3", admin_unit_before="Ben Cat", admin_unit_after="Ben Cat"
    )
    for unit, names in (
        ("Tan Uyen", ["VSIP III"]),
        ("Vinh Tan", ["VSIP III"]),
        ("Ben Cat", ["My Phuoc 3"]),
    ):
        found = await client.get("/api/invest/parks", params={"admin_unit": unit})
        assert [p["name"] for p in found.json()] == names


async def test_free_land_counts_only_free_plots_and_filters_parks(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    big = await make_park(client, admin, name="Bau Bang")
    small = await make_park(client, admin, name="Dai Dang")
    await make_plot(client, admin, big, "B1", area_ha=30)
    await make_plot(client, admin, big, "B2", area_ha=20, status="leased")
    await make_plot(client, admin, small, "D1", area_ha=5, boundary=square())
    park = (await client.get(f"/api/invest/parks/{big}")).json()
    assert park["free_land_ha"] == 30
    assert [p["code"] for p in park["plots"]] == ["B1", "B2"]
    found = await client.get("/api/invest/parks", params={"min_free_ha": 10})
    assert [p["name"] for p in found.json()] == ["Bau Bang"]
    plots = await client.get("/api/invest/plots", params={"status": "free", "min_area_ha": 4})
    assert sorted(p["code"] for p in plots.json()) == ["B1", "D1"]


async def test_a_park_changes_and_its_name_stays_unique(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str]
) -> None:
    vsip = await make_park(client, admin, name="VSIP I")
    await make_park(client, admin, name="VSIP II")
    changed = await client.patch(
        f"/api/invest/parks/{vsip}",
        json={"power_spare_mw": 12.5},
        headers=bearer(tokens["analyst"]),
    )
    assert changed.json()["power_spare_mw"] == 12.5
    clash = await client.patch(f"/api/invest/parks/{vsip}", json={"name": "VSIP II"}, headers=admin)
    assert (clash.status_code, clash.json()["field"]) == (409, "name")
    again = await client.post("/api/invest/parks", json=park_body("VSIP II"), headers=admin)
    assert again.status_code == 409


async def test_a_bad_boundary_names_the_field_and_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    open_ring = {"type": "Polygon", "coordinates": [[[106.7, 11.1], [106.8, 11.1]]]}
    response = await client.post(
        "/api/invest/parks", json=park_body(boundary=open_ring), headers=admin
    )
    assert (response.status_code, response.json()["field"]) == (400, "boundary")
    off_earth = square(lon=500)
    response = await client.post(
        "/api/invest/parks", json=park_body(boundary=off_earth), headers=admin
    )
    assert (response.status_code, response.json()["field"]) == (400, "boundary")
    assert (await client.get("/api/invest/parks")).json() == []


async def test_a_plot_in_a_missing_park_or_twice_is_refused(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    missing = await client.post(
        "/api/invest/plots", json={"park_id": 99, "code": "A", "area_ha": 1}, headers=admin
    )
    assert (missing.status_code, missing.json()["field"]) == (404, "park_id")
    park = await make_park(client, admin)
    await make_plot(client, admin, park, "A")
    twice = await client.post(
        "/api/invest/plots", json={"park_id": park, "code": "A", "area_ha": 1}, headers=admin
    )
    assert (twice.status_code, twice.json()["field"]) == (409, "code")
    zero = await client.post(
        "/api/invest/plots", json={"park_id": park, "code": "Z", "area_ha": 0}, headers=admin
    )
    assert zero.status_code == 422
    assert zero.json()["detail"][0]["loc"] == ["body", "area_ha"]


async def test_a_plot_patch_cannot_empty_what_a_plot_must_have(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    park = await make_park(client, admin)
    plot = await make_plot(client, admin, park, "A")
    for field in ("status", "area_ha", "code"):
        response = await client.patch(
            f"/api/invest/plots/{plot}", json={field: None}, headers=admin
        )
        assert (response.status_code, response.json()["field"]) == (400, field)
    moved = await client.patch(
        f"/api/invest/plots/{plot}", json={"status": "reserved", "price_usd_m2": 120}, headers=admin
    )
    assert (moved.json()["status"], moved.json()["price_usd_m2"]) == ("reserved", 120)
