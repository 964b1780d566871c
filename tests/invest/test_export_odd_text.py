"""Odd text in the registry's files (issue 17): an FDI project named with a control
character XML cannot hold still exports as XLSX (the character written as U+FFFD,
`cityhelix.exports`), text a spreadsheet would run as a formula is inert in both exports
(CSV: prefixed with `'`, per OWASP; XLSX: a string cell), and an imported CSV cell no
database can hold (NUL) is a problem of its row and column, nothing imported."""

from __future__ import annotations

import csv
import io

import httpx
import openpyxl
import pytest

from tests.invest.factories import make_project

pytestmark = pytest.mark.asyncio

ODD = "Bell\x07 plant\x1b"
FORMULA = "=cmd|' /C calc'!A0"


async def test_odd_and_formula_like_names_export_as_inert_text(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await make_project(client, admin, certificate_no="E-1", name=ODD)
    await make_project(
        client,
        admin,
        certificate_no="E-2",
        name=FORMULA,
        investors=[{"name": "@SUM(1+1)", "country": "TW", "kind": "company"}],
    )
    # the API gives the names back as they were sent
    listed = (await client.get("/api/invest/projects", headers=admin)).json()
    names = [p["name"] for p in (listed["value"] if isinstance(listed, dict) else listed)]
    assert sorted(names) == sorted([ODD, FORMULA])

    as_xlsx = await client.get("/api/invest/export/projects.xlsx", headers=admin)
    assert as_xlsx.status_code == 200, as_xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(as_xlsx.content)).worksheets[0]
    header, *rows = [[cell for cell in row] for row in sheet.iter_rows()]
    name = [c.value for c in header].index("name")
    investor = [c.value for c in header].index("investor_name")
    by_number = {row[1].value: row for row in rows}
    assert by_number["E-1"][name].value == "Bell\ufffd plant\ufffd"
    assert by_number["E-2"][name].value == FORMULA  # the text, unchanged...
    assert by_number["E-2"][name].data_type == "s"  # ...as a string, not a formula
    assert by_number["E-2"][investor].value == "@SUM(1+1)"

    as_csv = await client.get("/api/invest/export/projects.csv", headers=admin)
    assert as_csv.status_code == 200, as_csv.text
    table = {r["certificate_no"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert table["E-1"]["name"] == ODD  # CSV holds any character
    assert table["E-2"]["name"] == "'" + FORMULA
    assert table["E-2"]["investor_name"] == "'@SUM(1+1)"
    assert float(table["E-2"]["capital_usd"]) == 100_000_000  # numbers are not prefixed


async def test_an_imported_csv_cell_with_a_nul_is_a_problem_and_nothing_is_imported(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await client.post(
        "/api/invest/import/parks",
        content=b"name,developer\nGood park,Becamex\nBad\x00park,Becamex\n",
        headers={**admin, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["problems"]
    assert (problem["row"], problem["column"]) == (3, "name")
    assert "NUL" in problem["problem"]
    listed = await client.get("/api/invest/parks", headers=admin)
    assert listed.status_code == 200 and "Good park" not in listed.text
