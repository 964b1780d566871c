"""Import (CSV, XLSX; all or nothing, with a report) and export (CSV, XLSX, GeoJSON)."""

from __future__ import annotations

import csv
import io

import httpx
import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tables import audit_log
from cityhelix.invest.exchange import XLSX
from cityhelix.invest.tables import project_versions, projects
from tests.invest.factories import make_park, make_project, square

CSV = {"Content-Type": "text/csv"}

PROJECTS_CSV = (
    "certificate_no,name,issued_on,investor_name,investor_country,sector_vsic,capital_usd,land_ha\n"
    "IRC-1,Lens plant,2021-04-01,Optics KK,JP,26700,45000000,6\n"
    "IRC-2,Board plant,2022-08-15,Boards Ltd,TW,26100,80000000,8\n"
)


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def test_a_csv_of_projects_is_imported_with_history_and_audit(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    response = await client.post(
        "/api/invest/import/projects", content=PROJECTS_CSV.encode(), headers={**admin, **CSV}
    )
    assert response.status_code == 201, response.text
    assert response.json()["imported"] == 2
    listed = (await client.get("/api/invest/projects", headers=admin)).json()
    assert [(p["certificate_no"], p["investors"][0]["country"]) for p in listed] == [
        ("IRC-1", "JP"),
        ("IRC-2", "TW"),
    ]
    assert await count(engine, project_versions) == 2
    assert await count(engine, audit_log) == 2


async def test_one_bad_row_imports_nothing_and_names_row_and_column(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    bad = PROJECTS_CSV + "IRC-3,Bad plant,2023-13-01,X,VN,26100,-5,1\nIRC-1,Again,2024-01-01,,,,,\n"
    response = await client.post(
        "/api/invest/import/projects", content=bad.encode(), headers={**admin, **CSV}
    )
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert {(p["row"], p["column"]) for p in problems} == {(4, "issued_on"), (4, "capital_usd")}
    assert await count(engine, projects) == 0
    # rows good one by one, but a certificate twice in the file: still nothing
    twice = PROJECTS_CSV + "IRC-1,Again,2024-01-01,,,,,\n"
    response = await client.post(
        "/api/invest/import/projects", content=twice.encode(), headers={**admin, **CSV}
    )
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"row": 4, "column": "certificate_no", "problem": "certificate 'IRC-1' repeats row 2"}
    ]
    assert await count(engine, projects) == 0
    assert await count(engine, audit_log) == 0


async def test_an_xlsx_of_plots_is_checked_against_the_parks(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    park = await make_park(client, admin)
    rows: list[list[object]] = [
        ["park_id", "code", "area_ha", "ready_on", "price_usd_m2", "status"],
        [park, "N1", 12.5, "2026-09-01", 135, "free"],
        [999, "N2", 3, None, None, "free"],
    ]
    headers = {**admin, "Content-Type": XLSX}
    refused = await client.post("/api/invest/import/plots", content=xlsx(rows), headers=headers)
    assert refused.status_code == 422
    assert refused.json()["problems"] == [
        {"row": 3, "column": "park_id", "problem": "no park with id 999"}
    ]
    good = await client.post("/api/invest/import/plots", content=xlsx(rows[:2]), headers=headers)
    assert good.status_code == 201, good.text
    plots = (await client.get("/api/invest/plots", params={"park_id": park})).json()
    assert [(p["code"], p["area_ha"], p["ready_on"]) for p in plots] == [("N1", 12.5, "2026-09-01")]


async def test_parks_and_leads_import_and_a_dry_run_writes_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    parks_csv = (
        "name,admin_unit_before,admin_unit_after,total_ha,excluded_sectors\n"
        "Rach Bap,Ben Cat,Ho Chi Minh City,278,13;14\n"
    )
    dry = await client.post(
        "/api/invest/import/parks",
        params={"dry_run": "true"},
        content=parks_csv.encode(),
        headers={**admin, **CSV},
    )
    assert (dry.status_code, dry.json()["rows"], dry.json()["imported"]) == (201, 1, 0)
    assert (await client.get("/api/invest/parks")).json() == []
    await client.post(
        "/api/invest/import/parks", content=parks_csv.encode(), headers={**admin, **CSV}
    )
    [park] = (await client.get("/api/invest/parks")).json()
    assert park["excluded_sectors"] == ["13", "14"]
    leads_csv = (
        "organisation,country,contact_email,needs_land_ha,needs_ready_by\n"
        "Chips,KR,a@b.kr,5,2027-01-01\n"
    )
    imported = await client.post(
        "/api/invest/import/leads", content=leads_csv.encode(), headers={**admin, **CSV}
    )
    assert imported.status_code == 201, imported.text
    [lead] = (await client.get("/api/invest/leads", headers=admin)).json()
    assert lead["needs"]["land_ha"] == 5 and lead["source"] == "import"


async def test_files_of_the_wrong_kind_are_refused_naming_the_problem(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    not_xlsx = await client.post(
        "/api/invest/import/parks", content=b"name\nX\n", headers={**admin, "Content-Type": XLSX}
    )
    assert (not_xlsx.status_code, not_xlsx.json()["field"]) == (400, "file")
    pdf = await client.post(
        "/api/invest/import/parks",
        content=b"%PDF",
        headers={**admin, "Content-Type": "application/pdf"},
    )
    assert (pdf.status_code, pdf.json()["field"]) == (400, "Content-Type")
    latin = await client.post(
        "/api/invest/import/parks",
        content=b"name\nB\xe9n C\xe1t\n",  # Latin-1, not UTF-8
        headers={**admin, **CSV},
    )
    assert latin.status_code == 400
    unknown = await client.post(
        "/api/invest/import/parks", content=b"name,colour\nX,red\n", headers={**admin, **CSV}
    )
    assert unknown.json()["problems"] == [
        {"row": 1, "column": "colour", "problem": "not a column of parks"}
    ]
    twice = await client.post(
        "/api/invest/import/parks", content=b"name,name\nX,Y\n", headers={**admin, **CSV}
    )
    assert twice.json()["problems"] == [
        {"row": 1, "column": "name", "problem": "the column appears twice"}
    ]
    kind = await client.post("/api/invest/import/people", content=b"a\n", headers={**admin, **CSV})
    assert kind.status_code == 422
    anonymous = await client.post("/api/invest/import/parks", content=b"name\nX\n", headers=CSV)
    assert anonymous.status_code == 401


async def test_the_registry_exports_as_csv_xlsx_and_geojson(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    park = await make_park(client, admin, boundary=square(106.7, 11.1, 0.02))
    await make_project(client, admin, certificate_no="E-1", park_id=park)
    await make_project(client, admin, certificate_no="E-2", issued_on="2024-05-01")

    as_csv = await client.get("/api/invest/export/projects.csv", headers=admin)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["certificate_no"], r["investor_country"]) for r in rows] == [
        ("E-1", "TW"),
        ("E-2", "TW"),
    ]

    as_xlsx = await client.get("/api/invest/export/projects.xlsx", headers=admin)
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0]
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][1] == "certificate_no" and [r[1] for r in table[1:]] == ["E-1", "E-2"]

    geojson = (
        await client.get(
            "/api/invest/export/projects.geojson", params={"as_of": "2023-01-01"}, headers=admin
        )
    ).json()
    [feature] = geojson["features"]  # E-2 was not issued yet
    assert feature["properties"]["certificate_no"] == "E-1"
    assert feature["geometry"]["coordinates"] == pytest.approx([106.71, 11.11])
    assert (await client.get("/api/invest/export/projects.pdf", headers=admin)).status_code == 422
