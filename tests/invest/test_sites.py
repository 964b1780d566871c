"""Site matching and the ranking engine through HTTP: hard constraints, TOPSIS, AHP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.invest.factories import make_park, make_plot

# Papathanasiou, J. and Ploskas, N. (2018), "TOPSIS", chapter 1 of Multiple Criteria
# Decision Aid: Methods, Examples and Python Implementations, Springer Optimization and Its
# Applications 136, pp. 1-30: six alternatives, four benefit criteria, weights 0.4 0.3 0.1
# 0.2; closeness 0.387, 0.327, 0.391, 0.615, 0.868, 0.493.
PLOSKAS = [[8, 7, 2, 1], [5, 3, 7, 5], [7, 5, 6, 4], [9, 9, 7, 3], [11, 10, 3, 7], [6, 9, 5, 4]]

# Hwang, C.-L. and Yoon, K. (1981), Multiple Attribute Decision Making: Methods and
# Applications, Lecture Notes in Economics and Mathematical Systems 186, Springer: the
# fighter-aircraft example of the TOPSIS section (four aircraft; maximum speed Mach, ferry
# range NM, maximum payload lb, acquisition cost M$ (a cost), reliability and
# manoeuvrability on a 1-9 interval scale; weights 0.2 0.1 0.1 0.1 0.2 0.3), ranked
# A1 > A3 > A4 > A2. The closeness below is computed without rounding in between
# (A3 0.61354...); a table built from rounded intermediate values may print 0.613.
FIGHTERS = {
    "A1": [2.0, 1500, 20000, 5.5, 5, 9],
    "A2": [2.5, 2700, 18000, 6.5, 3, 5],
    "A3": [1.8, 2000, 21000, 4.5, 7, 7],
    "A4": [2.2, 1800, 20000, 5.0, 5, 5],
}
ATTRIBUTES = [
    ("speed", 0.2, "max"),
    ("range", 0.1, "max"),
    ("payload", 0.1, "max"),
    ("cost", 0.1, "min"),
    ("reliability", 0.2, "max"),
    ("manoeuvrability", 0.3, "max"),
]


def fighter_body(**extra: Any) -> dict[str, Any]:
    return {
        "method": "topsis",
        "criteria": [{"code": c, "weight": w, "direction": d} for c, w, d in ATTRIBUTES],
        "candidates": [
            {"id": name, "values": dict(zip([a[0] for a in ATTRIBUTES], row, strict=True))}
            for name, row in FIGHTERS.items()
        ],
        **extra,
    }


async def test_topsis_reproduces_papathanasiou_and_ploskas_worked_example(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "criteria": [
            {"code": f"c{j}", "weight": w, "direction": "max"}
            for j, w in enumerate([0.4, 0.3, 0.1, 0.2])
        ],
        "candidates": [
            {"id": f"A{i + 1}", "values": {f"c{j}": v for j, v in enumerate(row)}}
            for i, row in enumerate(PLOSKAS)
        ],
    }
    response = await client.post("/api/invest/sites/rank", json=body)
    assert response.status_code == 200, response.text
    closeness = {c["id"]: round(c["closeness"], 3) for c in response.json()["candidates"]}
    assert closeness == {
        "A1": 0.387,
        "A2": 0.327,
        "A3": 0.391,
        "A4": 0.615,
        "A5": 0.868,
        "A6": 0.493,
    }
    assert [c["id"] for c in response.json()["candidates"]] == ["A5", "A4", "A6", "A3", "A1", "A2"]


async def test_topsis_ranks_hwang_and_yoons_fighter_aircraft_example(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/invest/sites/rank", json=fighter_body())
    assert response.status_code == 200, response.text
    ranked = response.json()["candidates"]
    assert [(c["id"], round(c["closeness"], 3), c["rank"]) for c in ranked] == [
        ("A1", 0.643, 1),
        ("A3", 0.614, 2),
        ("A4", 0.312, 3),
        ("A2", 0.268, 4),
    ]
    a1 = {c["code"]: c for c in ranked[0]["criteria"]}
    # A1's speed normalised by the column's Euclidean norm, then weighted by 0.2
    norm = (2.0**2 + 2.5**2 + 1.8**2 + 2.2**2) ** 0.5
    assert a1["speed"]["raw"] == 2.0
    assert a1["speed"]["normalised"] == pytest.approx(2.0 / norm)
    assert a1["speed"]["weighted"] == pytest.approx(0.2 * 2.0 / norm)


async def test_weights_are_scaled_to_sum_one(client: httpx.AsyncClient) -> None:
    body = fighter_body()
    for criterion in body["criteria"]:
        criterion["weight"] *= 10  # 2, 1, 1, 1, 2, 3
    ranked = (await client.post("/api/invest/sites/rank", json=body)).json()
    assert [round(c["closeness"], 3) for c in ranked["candidates"]] == [0.643, 0.614, 0.312, 0.268]
    assert sum(c["weight"] for c in ranked["criteria"]) == pytest.approx(1)


async def test_ahp_weights_a_consistent_matrix_exactly(client: httpx.AsyncClient) -> None:
    body = {
        "method": "ahp",
        "criteria": [
            {"code": "price", "direction": "min"},
            {"code": "port", "direction": "min"},
            {"code": "labour", "direction": "max"},
        ],
        # price twice as important as port, four times labour: weights 4/7, 2/7, 1/7
        "pairwise": [[1, 2, 4], [0.5, 1, 2], [0.25, 0.5, 1]],
        "candidates": [
            {"id": "cheap", "values": {"price": 100, "port": 50, "labour": 1000}},
            {"id": "near", "values": {"price": 200, "port": 10, "labour": 3000}},
        ],
    }
    answer = (await client.post("/api/invest/sites/rank", json=body)).json()
    assert [c["weight"] for c in answer["criteria"]] == pytest.approx([4 / 7, 2 / 7, 1 / 7])
    assert answer["consistency_ratio"] == pytest.approx(0, abs=1e-9)
    assert answer["consistent"] is True
    # min-max normalised: cheap scores 4/7 (price), near 2/7 + 1/7 (port, labour)
    scores = {c["id"]: c["score"] for c in answer["candidates"]}
    assert scores == pytest.approx({"cheap": 4 / 7, "near": 3 / 7})


async def test_ahp_shows_an_inconsistent_matrix_ratio(client: httpx.AsyncClient) -> None:
    # a circular matrix (a > b > c > a, each 3x): weights equal, lambda_max = 1 + 3 + 1/3,
    # CI = (13/3 - 3) / 2 = 2/3, CR = CI / RI(3) = (2/3) / 0.58
    body = {
        "method": "ahp",
        "criteria": [
            {"code": "a", "direction": "max"},
            {"code": "b", "direction": "max"},
            {"code": "c", "direction": "max"},
        ],
        "pairwise": [[1, 3, 1 / 3], [1 / 3, 1, 3], [3, 1 / 3, 1]],
        "candidates": [{"id": 1, "values": {"a": 1, "b": 2, "c": 3}}],
    }
    answer = (await client.post("/api/invest/sites/rank", json=body)).json()
    assert answer["lambda_max"] == pytest.approx(13 / 3)
    assert answer["consistency_ratio"] == pytest.approx((2 / 3) / 0.58)
    assert answer["consistent"] is False


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"pairwise": [[1, 2], [0.5, 1]]}, 400, "pairwise"),  # topsis takes no matrix
        ({"method": "ahp"}, 400, "pairwise"),
        ({"method": "ahp", "pairwise": [[1] * 6] * 6 + [[1, 1, 1, 1, 1, 2]]}, 400, "pairwise"),
    ],
)
async def test_bad_rank_requests_name_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], status: int, field: str
) -> None:
    response = await client.post("/api/invest/sites/rank", json=fighter_body(**change))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


async def test_a_missing_value_or_a_non_reciprocal_matrix_is_named(
    client: httpx.AsyncClient,
) -> None:
    body = fighter_body()
    del body["candidates"][2]["values"]["cost"]
    response = await client.post("/api/invest/sites/rank", json=body)
    assert (response.status_code, response.json()["field"]) == (400, "candidates[2].values.cost")
    matrix = [[1.0] * 6 for _ in range(6)]
    matrix[0][1] = 3
    response = await client.post(
        "/api/invest/sites/rank", json=fighter_body(method="ahp", pairwise=matrix)
    )
    assert (response.status_code, response.json()["field"]) == (400, "pairwise[0][1]")
    response = await client.post("/api/invest/sites/rank", json=fighter_body(method="electre"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "method"]


# -- matching parks and plots -----------------------------------------------------------


NEEDS = {
    "land_ha": 8,
    "power_mw": 20,
    "wastewater_m3_day": 500,
    "sector_vsic": "26100",
    "ready_by": "2027-06-30",
}


async def province(client: httpx.AsyncClient, admin: dict[str, str]) -> dict[str, int]:
    """Two parks that fit NEEDS and one refused by each hard constraint."""
    parks = {
        "Fits": {"land_rent_usd_m2": 150, "seaport_km": 45},
        "Also fits": {"land_rent_usd_m2": 110, "seaport_km": 60, "workforce_within_reach": 90_000},
        "Excludes electronics": {"excluded_sectors": ["26"]},
        "Textiles only": {"permitted_sectors": ["13", "14"]},
        "Short of power": {"power_spare_mw": 5},
        "Short of treatment": {"wastewater_spare_m3_day": 100},
        "Small plots": {},
        "Late plots": {},
    }
    ids = {}
    for name, fields in parks.items():
        ids[name] = await make_park(client, admin, name=name, **fields)
        plot: dict[str, Any] = {"area_ha": 10, "price_usd_m2": None}
        if name == "Small plots":
            plot["area_ha"] = 3
        if name == "Late plots":
            plot["ready_on"] = "2028-01-01"
        await make_plot(client, admin, ids[name], "P1", **plot)
    # a leased plot large enough is never offered
    await make_plot(client, admin, ids["Small plots"], "P2", area_ha=50, status="leased")
    return ids


async def test_matching_respects_every_hard_constraint(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ids = await province(client, admin)
    response = await client.get("/api/invest/sites/match", params=NEEDS)
    assert response.status_code == 200, response.text
    answer = response.json()
    refused = {r["park_name"]: r["constraint"] for r in answer["refused"]}
    assert refused == {
        "Excludes electronics": "sector",
        "Textiles only": "sector",
        "Short of power": "power",
        "Short of treatment": "wastewater",
        "Small plots": "land",
        "Late plots": "ready_by",
    }
    assert {c["park_id"] for c in answer["candidates"]} == {ids["Fits"], ids["Also fits"]}
    for candidate in answer["candidates"]:
        park = (await client.get(f"/api/invest/parks/{candidate['park_id']}")).json()
        plot = next(p for p in park["plots"] if p["id"] == candidate["plot_id"])
        assert plot["status"] == "free" and plot["area_ha"] >= NEEDS["land_ha"]
        assert park["power_spare_mw"] >= NEEDS["power_mw"]
        assert park["wastewater_spare_m3_day"] >= NEEDS["wastewater_m3_day"]
    explanation = next(r for r in answer["refused"] if r["constraint"] == "power")["explanation"]
    assert explanation == "needs 20 MW of spare power, the park has 5"


async def test_the_ranking_is_recomputed_on_the_candidates_that_remain(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await province(client, admin)
    answer = (await client.get("/api/invest/sites/match", params=NEEDS)).json()
    # the same two candidates through the engine alone give the same closeness
    body = {
        "method": "topsis",
        "criteria": answer["criteria"],
        "candidates": [
            {"id": c["id"], "values": {x["code"]: x["raw"] for x in c["criteria"]}}
            for c in answer["candidates"]
        ],
    }
    alone = (await client.post("/api/invest/sites/rank", json=body)).json()
    assert [(c["id"], c["closeness"]) for c in alone["candidates"]] == [
        (c["id"], c["closeness"]) for c in answer["candidates"]
    ]
    # cheaper rent, farther port, smaller workforce: with price alone, "Also fits" wins
    by_price = (
        await client.get("/api/invest/sites/match", params={**NEEDS, "weights": "land_price:1"})
    ).json()
    assert [c["park_name"] for c in by_price["candidates"]] == ["Also fits", "Fits"]
    assert [c["closeness"] for c in by_price["candidates"]] == [1.0, 0.0]


async def test_matching_by_ahp_and_for_a_lead(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await province(client, admin)
    matrix = [[1, 3], [1 / 3, 1]]
    answer = (
        await client.get(
            "/api/invest/sites/match",
            params={
                **NEEDS,
                "method": "ahp",
                "weights": "land_price:1,seaport_km:1",
                "pairwise": json.dumps(matrix),
            },
        )
    ).json()
    assert [c["weight"] for c in answer["criteria"]] == pytest.approx([0.75, 0.25])
    assert answer["consistency_ratio"] == 0
    assert [c["park_name"] for c in answer["candidates"]] == ["Also fits", "Fits"]

    lead = await client.post(
        "/api/invest/leads", json={"organisation": "Chips", "needs": NEEDS}, headers=admin
    )
    for_lead = await client.get(
        "/api/invest/sites/match", params={"lead_id": lead.json()["id"]}, headers=admin
    )
    assert len(for_lead.json()["candidates"]) == 2
    private = await client.get("/api/invest/sites/match", params={"lead_id": lead.json()["id"]})
    assert private.status_code == 401


async def test_bad_matching_parameters_name_the_field(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/api/invest/sites/match", params={"weights": "beauty:1"})
    assert (unknown.status_code, unknown.json()["field"]) == (400, "weights")
    bad_date = await client.get("/api/invest/sites/match", params={"ready_by": "soon"})
    assert bad_date.status_code == 422
    assert bad_date.json()["detail"][0]["loc"] == ["query", "ready_by"]
    matrix = await client.get(
        "/api/invest/sites/match", params={"method": "ahp", "pairwise": "[[1]]"}
    )
    assert (matrix.status_code, matrix.json()["field"]) == (400, "pairwise")
