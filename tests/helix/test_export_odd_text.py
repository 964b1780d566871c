"""The Triple Helix's exports carry any stored text (issue 17): a manual indicator whose
source holds a control character XML cannot hold still exports as XLSX (U+FFFD,
`cityhelix.exports`), formula-like text stays text there, and the open-data CSV prefixes
text a spreadsheet would run as a formula with `'` (OWASP's advice)."""

from __future__ import annotations

import csv
import io

import httpx
import openpyxl
import pytest

from tests.conftest import bearer

pytestmark = pytest.mark.asyncio

FORMULA = '=HYPERLINK("http://example.com/x","click")'


async def test_a_manual_source_with_odd_text_exports_as_xlsx(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for code, source in (
        ("ISO37122-GOV-SERVICES-ONLINE", "Portal report\x07 page\x0c2"),
        ("ICF-BROADBAND-HOUSEHOLDS", FORMULA),
    ):
        entered = await client.post(
            "/api/helix/scorecard/values",
            json={
                "code": code,
                "period": "2026",
                "value": 70,
                "source": source,
                "source_date": "2026-11-30",
            },
            headers=bearer(tokens["analyst"]),
        )
        assert entered.status_code == 201, entered.text
    answer = await client.get("/api/helix/scorecard.xlsx", params={"period": "2026"})
    assert answer.status_code == 200, answer.text
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content))["Scorecard 2026"]
    header, *rows = list(sheet.iter_rows())
    source = [c.value for c in header].index("source")
    by_code = {row[0].value: row for row in rows}
    assert (
        by_code["ISO37122-GOV-SERVICES-ONLINE"][source].value == "Portal report\ufffd page\ufffd2"
    )
    formula = by_code["ICF-BROADBAND-HOUSEHOLDS"][source]
    assert (formula.value, formula.data_type) == (FORMULA, "s")


async def test_open_data_csv_prefixes_formula_like_text(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    for name in ("=1+2", "-2+3", "Plain Lab"):
        made = await client.post(
            "/api/helix/actors",
            json={"name": name, "kind": "state"},
            headers=bearer(tokens["analyst"]),
        )
        assert made.status_code == 201, made.text
    answer = await client.get("/api/open-data/datasets/helix-actors.csv")
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert sorted(r["name"] for r in rows) == ["'-2+3", "'=1+2", "Plain Lab"]
    assert all(not r["id"].startswith("'") for r in rows)
