"""Small builders of investment request bodies, and the requests many tests start with."""

from __future__ import annotations

from typing import Any

import httpx


def park_body(name: str = "VSIP III", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "developer": "VSIP (Becamex-Sembcorp)",
        "admin_unit_before": "Tan Uyen",
        "admin_unit_after": "Vinh Tan",
        "status": "operating",
        "total_ha": 1000,
        "land_rent_usd_m2": 150,
        "power_spare_mw": 40,
        "wastewater_spare_m3_day": 3000,
        "seaport_km": 45,
        "airport_km": 40,
        "workforce_within_reach": 200_000,
    }
    body.update(fields)
    return body


def square(lon: float = 106.7, lat: float = 11.1, size: float = 0.01) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


async def make_park(http: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> int:
    response = await http.post("/api/invest/parks", json=park_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    park_id: int = response.json()["id"]
    return park_id


async def make_plot(
    http: httpx.AsyncClient, headers: dict[str, str], park_id: int, code: str = "A1", **fields: Any
) -> int:
    body = {"park_id": park_id, "code": code, "area_ha": 10, "price_usd_m2": 140, **fields}
    response = await http.post("/api/invest/plots", json=body, headers=headers)
    assert response.status_code == 201, response.text
    plot_id: int = response.json()["id"]
    return plot_id


def project_body(certificate_no: str = "3210000001", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "certificate_no": certificate_no,
        "name": "Chip packaging plant",
        "issued_on": "2022-03-01",
        "investors": [{"name": "Example Semiconductor Co.", "country": "TW", "kind": "company"}],
        "sector_vsic": "26100",
        "capital_usd": 100_000_000,
        "land_ha": 10,
        "employees_planned": 400,
        "status": "active",
    }
    body.update(fields)
    return body


async def make_project(
    http: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    response = await http.post("/api/invest/projects", json=project_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project
