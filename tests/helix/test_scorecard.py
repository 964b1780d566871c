"""The scorecard over HTTP: each computed indicator equals a hand-written SQL query or
computation over crafted inputs, and its provenance lists those inputs; manual indicators
keep their source and date; status, trend, history per period and the XLSX export."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from io import BytesIO

import httpx
import pytest
from openpyxl import load_workbook
from sqlalchemy import Date, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.types import UtcDateTime
from cityhelix.ops.desk.tables import incidents
from tests.conftest import bearer
from tests.helix.factories import actor, collaboration
from tests.invest.factories import make_project
from tests.ops.desk_factories import incident

AREA = 2694.6  # Settings.province_area_km2's default, which the test app uses


async def _thing(
    client: httpx.AsyncClient, admin: dict[str, str], name: str, **properties: object
) -> int:
    answer = await client.post(
        "/v1.1/Things",
        json={"name": name, "description": name, "properties": properties},
        headers=admin,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.headers["location"].rsplit("(", 1)[1].rstrip(")"))


def _kind(engine: AsyncEngine, name: str) -> str:
    """The dialect's JSON text extraction, written by hand for the test's own SQL."""
    if engine.dialect.name == "postgresql":
        return f"properties->>'{name}'"
    return f"json_extract(properties, '$.{name}')"


async def _by_code(client: httpx.AsyncClient, period: str = "2026") -> dict[str, dict]:
    answer = await client.get("/api/helix/scorecard", params={"period": period})
    assert answer.status_code == 200, answer.text
    return {i["code"]: i for i in answer.json()["indicators"]}


async def test_hub_indicators_equal_hand_written_sql_and_list_their_things(
    client: httpx.AsyncClient, admin: dict[str, str], tokens: dict[str, str], engine: AsyncEngine
) -> None:
    for n in range(3):
        await _thing(client, admin, f"AQ station {n}", kind="air_quality")
    await _thing(client, admin, "Traffic counter", kind="traffic")
    await _thing(client, admin, "Light 1", kind="streetlight", remote_managed=True)
    await _thing(client, admin, "Light 2", kind="streetlight", remote_managed=True)
    await _thing(client, admin, "Light 3", kind="streetlight", remote_managed=False)
    await _thing(client, admin, "Light 4", kind="streetlight")

    answer = await client.post(
        "/api/helix/scorecard/recompute",
        params={"period": "2026"},
        headers=bearer(tokens["analyst"]),
    )
    assert answer.status_code == 200, answer.text
    card = await _by_code(client)

    kind, remote = _kind(engine, "kind"), _kind(engine, "remote_managed")
    async with engine.connect() as connection:
        found = await connection.execute(
            text(f"SELECT id FROM things WHERE {kind} = 'air_quality' ORDER BY id")
        )
        stations = list(found.scalars())
        found = await connection.execute(
            text(f"SELECT id, {remote} FROM things WHERE {kind} = 'streetlight'")
        )
        lights = found.all()
    managed = [row for row in lights if str(row[1]).lower() in ("true", "1")]

    air = card["ISO37122-ENV-AQ-STATIONS"]
    assert air["value"] == pytest.approx(len(stations) / AREA)
    assert [i["id"] for i in air["provenance"]["inputs"]] == stations
    assert air["provenance"]["parameters"]["province_area_km2"] == AREA
    assert air["status"] == "off_target"  # 3 / 2694.6 = 0.0011, below the watch line 0.005
    light = card["ISO37122-ENE-STREETLIGHT-REMOTE"]
    assert light["value"] == pytest.approx(100 * len(managed) / len(lights)) == 50.0
    assert sorted(i["id"] for i in light["provenance"]["inputs"]) == sorted(r[0] for r in lights)
    assert light["status"] == "watch"  # target 80, watch from 50
    assert any("without properties.remote_managed" in m for m in light["quality"]["missing"])
    assert light["provenance"]["at"] and light["computed_at"]


async def test_helix_indicators_equal_hand_written_sql_and_computations(
    client: httpx.AsyncClient, tokens: dict[str, str], engine: AsyncEngine
) -> None:
    analyst = bearer(tokens["analyst"])
    u = await actor(client, analyst, "Thu Dau Mot University", "university")
    i = await actor(client, analyst, "Becamex IDC", "enterprise")
    g = await actor(client, analyst, "Department of Science and Technology", "state")
    made = [
        await collaboration(
            client, analyst, [u, i], "2026-01-05", outputs={"patents": 2, "trained_people": 40}
        ),
        await collaboration(
            client, analyst, [u, i, g], "2026-06-05", outputs={"startups_formed": 1}
        ),
        await collaboration(
            client, analyst, [u, g], "2026-07-05", outputs={"patents": 1, "trained_people": 15}
        ),
        await collaboration(client, analyst, [i], "2025-12-31", outputs={"patents": 9}),  # not 2026
    ]
    await client.post("/api/helix/scorecard/recompute", params={"period": "2026"}, headers=analyst)
    card = await _by_code(client)

    query = text(
        """
        SELECT c.id FROM helix_collaborations c
        WHERE c.start_date BETWEEN :start AND :end
          AND EXISTS (SELECT 1 FROM helix_participants p JOIN helix_actors a ON a.id = p.actor_id
                      WHERE p.collaboration_id = c.id AND a.kind = 'university')
          AND EXISTS (SELECT 1 FROM helix_participants p JOIN helix_actors a ON a.id = p.actor_id
                      WHERE p.collaboration_id = c.id AND a.kind = 'enterprise')
        ORDER BY c.id
        """
    ).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))
    async with engine.connect() as connection:
        expected = list(
            (
                await connection.execute(
                    query, {"start": date(2026, 1, 1), "end": date(2026, 12, 31)}
                )
            ).scalars()
        )
    assert expected == made[:2]
    joint = card["HELIX-UI-COLLABORATIONS"]
    assert joint["value"] == len(expected)
    assert [x["id"] for x in joint["provenance"]["inputs"]] == expected
    assert "helix_collaborations" in joint["provenance"]["query"]

    assert card["HELIX-PATENTS"]["value"] == 2 + 0 + 1
    assert [x["id"] for x in card["HELIX-PATENTS"]["provenance"]["inputs"]] == made[:3]
    assert card["HELIX-TRAINED-PEOPLE"]["value"] == 55
    assert card["HELIX-STARTUPS-FORMED"]["value"] == 1
    # points 110, 111, 101: H_u = 0; H_i = H_g = H(1/3, 2/3); H_ig = log2 3; T_uig = 0 + 2h - ...
    h = -(1 / 3) * math.log2(1 / 3) - (2 / 3) * math.log2(2 / 3)
    log3 = math.log2(3)
    # H_ui = H_i, H_ug = H_g (u constant); H_uig = H_ig = log2 3
    t_uig = 0 + h + h - h - h - log3 + log3
    assert card["HELIX-SYNERGY-TUIG"]["value"] == pytest.approx(t_uig, abs=1e-9)
    assert card["HELIX-ST-FUNDING-AWARDED"]["value"] == 0


async def test_manual_indicators_keep_their_source_and_show_status_trend_and_history(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    analyst = bearer(tokens["analyst"])
    for period, value in (("2025", 55.0), ("2026", 70.0)):
        entered = await client.post(
            "/api/helix/scorecard/values",
            json={
                "code": "ISO37122-GOV-SERVICES-ONLINE",
                "period": period,
                "value": value,
                "source": "Provincial public-service portal, yearly report",
                "source_date": f"{period}-11-30",
            },
            headers=analyst,
        )
        assert entered.status_code == 201, entered.text
    card = await _by_code(client)
    online = card["ISO37122-GOV-SERVICES-ONLINE"]
    assert online["value"] == 70.0 and online["manual"] is True
    assert online["provenance"]["source"] == "Provincial public-service portal, yearly report"
    assert online["provenance"]["source_date"] == "2026-11-30"
    assert online["status"] == "watch"  # target 90 %, watched down to 60 %
    assert online["trend"]["direction"] == "improving" and online["trend"]["previous_value"] == 55.0
    never = card["ICF-BROADBAND-HOUSEHOLDS"]
    assert never["value"] is None and never["status"] == "no_data"
    assert never["quality"]["missing"] == ["no value entered"]

    history = (
        await client.get("/api/helix/scorecard/indicators/ISO37122-GOV-SERVICES-ONLINE")
    ).json()
    assert [(h["period"], h["value"]) for h in history["history"]] == [
        ("2025", 55.0),
        ("2026", 70.0),
    ]

    computed = await client.post(
        "/api/helix/scorecard/values",
        json={
            "code": "HELIX-PATENTS",
            "period": "2026",
            "value": 3,
            "source": "x",
            "source_date": "2026-01-01",
        },
        headers=analyst,
    )
    assert computed.status_code == 422 and "code" in computed.json()["detail"]
    for wrong, field in (
        ({"period": "26"}, "period"),
        ({"source": ""}, "source"),
        ({"source_date": "2999-01-01"}, "source_date"),
        ({"value": "high"}, "value"),
    ):
        body = {
            "code": "ICF-BROADBAND-HOUSEHOLDS",
            "period": "2026",
            "value": 80,
            "source": "DIC",
            "source_date": "2026-06-01",
            **wrong,
        }
        refused = await client.post("/api/helix/scorecard/values", json=body, headers=analyst)
        assert refused.status_code in (400, 422) and field in refused.json()["detail"]
    assert (await _by_code(client))["ICF-BROADBAND-HOUSEHOLDS"]["value"] is None
    assert (await client.post("/api/helix/scorecard/recompute")).status_code == 401
    bad = await client.get("/api/helix/scorecard", params={"period": "20x6"})
    assert bad.status_code == 400 and "period" in bad.json()["detail"]


async def test_the_scorecard_exports_as_xlsx_with_every_indicator_and_its_inputs(
    client: httpx.AsyncClient, tokens: dict[str, str], admin: dict[str, str]
) -> None:
    await _thing(client, admin, "AQ", kind="air_quality")
    await client.post("/api/helix/scorecard/recompute", params={"period": "2026"}, headers=admin)
    card = await _by_code(client)
    answer = await client.get("/api/helix/scorecard.xlsx", params={"period": "2026"})
    assert answer.status_code == 200
    book = load_workbook(BytesIO(answer.content))
    rows = list(book["Scorecard 2026"].iter_rows(values_only=True))
    assert rows[0][0] == "code"
    assert {row[0] for row in rows[1:]} == set(card)
    air = next(row for row in rows if row[0] == "ISO37122-ENV-AQ-STATIONS")
    assert air[8] == pytest.approx(1 / AREA)
    inputs = list(book["Inputs"].iter_rows(values_only=True))
    assert any(row[0] == "ISO37122-ENV-AQ-STATIONS" and "name=AQ" in row[1] for row in inputs)
    grid = (await client.get("/api/helix/scorecard", params={"period": "2026"})).json()["grid"]
    assert len(grid) == 4 and all(len(cells) == 6 for cells in grid.values())
    assert "ISO37122-ENV-AQ-STATIONS" in grid["basic_foundations"]["sustainability"]
    assert json.dumps(grid)


async def test_fdi_indicators_equal_hand_written_sql_over_the_investment_registry(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    for number, (issued, sector, capital) in enumerate(
        (
            ("2026-02-01", "26100", 100e6),
            ("2026-05-01", "13100", 50e6),
            ("2025-07-01", "26200", 80e6),
        )
    ):
        await make_project(
            client,
            admin,
            certificate_no=f"32100000{number:02d}",
            issued_on=issued,
            sector_vsic=sector,
            capital_usd=capital,
        )
    await client.post("/api/helix/scorecard/recompute", params={"period": "2026"}, headers=admin)
    card = await _by_code(client)

    # the screening policy in force (invest/policy_v1.json) lists VSIC 2610 (chips) and
    # 2620 (computers) among its priority sectors; 1310 (textile fibres) it does not
    query = text(
        "SELECT id, sector_vsic, capital_usd FROM invest_projects"
        " WHERE issued_on >= :start AND issued_on <= :end ORDER BY id"
    ).bindparams(bindparam("start", type_=Date), bindparam("end", type_=Date))
    async with engine.connect() as connection:
        rows = (
            await connection.execute(query, {"start": date(2026, 1, 1), "end": date(2026, 12, 31)})
        ).all()
    priority = [r for r in rows if r.sector_vsic.startswith(("2610", "2620"))]

    share = card["INVEST-FDI-PRIORITY-SHARE"]
    assert share["value"] == pytest.approx(100 * len(priority) / len(rows)) == 50.0
    assert sorted(i["id"] for i in share["provenance"]["inputs"]) == [r.id for r in rows]
    assert share["status"] == "watch"  # target 60, watch from 40
    capital = card["INVEST-FDI-CAPITAL"]
    assert capital["value"] == pytest.approx(sum(r.capital_usd for r in rows)) == 150e6
    assert [i["capital_usd"] for i in capital["provenance"]["inputs"]] == [100e6, 50e6]
    assert capital["provenance"]["parameters"]["projects"] == 2


async def test_inquiry_response_time_equals_hand_written_sql_over_citizen_incidents(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
) -> None:
    """ISO 37122's inquiry response time comes from the operations centre's incidents."""
    crafted = [  # (reported, source, hours to acknowledge or None)
        ("2026-02-01T08:00:00Z", "citizen", 30),
        ("2026-03-01T08:00:00Z", "citizen", 90),
        ("2026-04-01T08:00:00Z", "citizen", None),  # not acknowledged: left out, noted
        ("2026-05-01T08:00:00Z", "operator", 1),  # not a citizen's inquiry
        ("2025-12-30T08:00:00Z", "citizen", 2),  # before the period
    ]
    made = []
    for reported, source, hours in crafted:
        created = await incident(client, admin, source=source, reported_at=reported)
        made.append(created["id"])
        if hours is not None:
            async with engine.begin() as connection:
                await connection.execute(
                    update(incidents)
                    .where(incidents.c.id == created["id"])
                    .values(
                        acknowledged_at=datetime.fromisoformat(reported) + timedelta(hours=hours)
                    )
                )
    answer = await client.post(
        "/api/helix/scorecard/recompute", params={"period": "2026"}, headers=admin
    )
    assert answer.status_code == 200, answer.text
    card = await _by_code(client)

    seconds = (
        "EXTRACT(EPOCH FROM acknowledged_at - created_at)"
        if engine.dialect.name == "postgresql"
        else "(julianday(acknowledged_at) - julianday(created_at)) * 86400"
    )
    async with engine.connect() as connection:
        mean_days = (
            await connection.execute(
                text(
                    f"SELECT avg({seconds}) / 86400 FROM ops_incidents WHERE source = 'citizen' "
                    "AND created_at >= :start AND created_at < :end "
                    "AND acknowledged_at IS NOT NULL"
                ).bindparams(
                    bindparam("start", type_=UtcDateTime()), bindparam("end", type_=UtcDateTime())
                ),
                {
                    "start": datetime(2026, 1, 1, tzinfo=UTC),
                    "end": datetime(2027, 1, 1, tzinfo=UTC),
                },
            )
        ).scalar_one()
    response = card["ISO37122-GOV-INQUIRY-RESPONSE"]
    assert response["manual"] is False
    assert response["value"] == pytest.approx(float(mean_days), abs=1e-6) == 60 / 24
    assert [i["id"] for i in response["provenance"]["inputs"]] == made[:3]
    assert any("not acknowledged" in m for m in response["quality"]["missing"])
    assert response["status"] == "on_target"  # 2.5 days, target 3 (lower is better)
