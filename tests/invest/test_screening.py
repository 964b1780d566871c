"""POST /api/invest/screen on hand-computed proposals: verdicts, numbers, unknowns, sources."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.invest.factories import make_park

#: a 10 ha chip plant that passes every v1 criterion (numbers worked out in the comments)
PRIORITY: dict[str, Any] = {
    "sector_vsic": "26100",  # electronic components: a priority sector
    "capital_usd": 200_000_000,  # 20 M USD/ha >= 8 M
    "land_ha": 10,
    "employees": 400,  # 40 workers/ha <= 50
    "local_content_pct": 35,  # >= 30
    "pollution_type": None,  # not an Appendix II type
    "wastewater_m3_day": 300,  # < 1,000 (not a polluting type)
    "energy_toe_year": 800,  # < 1,000
    "equipment_age_years": 0,  # new
    "hitech_revenue_pct": 80,  # >= 70
    # medium band (>= VND 100 bn and >= 200 workers): R&D spend >= 1 % of value added
    "total_funding_vnd": 500_000_000_000,
    "revenue_vnd": 1_000_000_000_000,
    "input_costs_vnd": 600_000_000_000,
    "rd_spend_vnd": 6_000_000_000,  # 6 bn / 400 bn = 1.5 %
    "rd_staff": 12,  # 12 / 400 = 3 % >= 2.5 %
    "rd_staff_college_level": 2,
}


def by_code(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["code"]: c for c in answer["criteria"]}


async def screen(client: httpx.AsyncClient, body: dict[str, Any], **params: Any) -> dict[str, Any]:
    response = await client.post("/api/invest/screen", json=body, params=params)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_project_passing_every_test_is_priority_with_its_numbers(
    client: httpx.AsyncClient,
) -> None:
    answer = await screen(client, PRIORITY)
    assert answer["verdict"] == "priority"
    assert answer["policy_version"] == 1
    # no park chosen yet: whether its treatment plant has room is unknown, and says so
    assert answer["unknown"] == ["wastewater_park_capacity"]
    criteria = by_code(answer)
    assert criteria["wastewater_park_capacity"]["explanation"] == (
        "needs park_id, which was not given"
    )
    assert all(c["passed"] is True for c in criteria.values() if c["code"] not in answer["unknown"])
    assert criteria["capital_intensity"]["value"] == pytest.approx(20_000_000)
    assert criteria["capital_intensity"]["threshold"] == 8_000_000
    assert criteria["labour_intensity"]["value"] == pytest.approx(40)
    assert criteria["rd_spend_share"]["value"] == pytest.approx(1.5)
    assert criteria["rd_spend_share"]["threshold"] == 1.0
    assert criteria["rd_staff_share"]["value"] == pytest.approx(3.0)
    assert criteria["rd_staff_share"]["threshold"] == 2.5
    assert "Decision 10/2021" in criteria["rd_spend_share"]["source"]
    assert "Decree 08/2022" in criteria["polluting_type"]["source"]
    assert set(criteria["capital_intensity"]) >= {
        "code",
        "passed",
        "severity",
        "value",
        "threshold",
        "explanation",
        "source",
    }


async def test_one_flag_is_acceptable_and_takes_away_priority(client: httpx.AsyncClient) -> None:
    # 20 % local content < 30 %: one flag
    answer = await screen(client, {**PRIORITY, "local_content_pct": 20})
    assert answer["verdict"] == "acceptable"
    assert by_code(answer)["local_content"]["passed"] is False
    assert by_code(answer)["local_content"]["severity"] == "flag"


async def test_two_flags_call_for_review(client: httpx.AsyncClient) -> None:
    # 50 M USD on 10 ha = 5 M/ha < 8 M (flag); 700 workers on 10 ha = 70/ha > 50 (flag)
    answer = await screen(client, {**PRIORITY, "capital_usd": 50_000_000, "employees": 700})
    criteria = by_code(answer)
    assert answer["verdict"] == "review"
    assert criteria["capital_intensity"]["value"] == pytest.approx(5_000_000)
    assert criteria["labour_intensity"]["value"] == pytest.approx(70)
    assert "50,000,000 / 10" in criteria["capital_intensity"]["explanation"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"equipment_age_years": 12}, "used_equipment_age"),
        ({"sector_vsic": "82910"}, "prohibited_sector"),
        ({"pollution_type": "5", "pollution_band": "large"}, "polluting_type"),
    ],
)
async def test_any_block_is_not_recommended(
    client: httpx.AsyncClient, change: dict[str, Any], code: str
) -> None:
    answer = await screen(client, {**PRIORITY, **change})
    assert answer["verdict"] == "not_recommended"
    criterion = by_code(answer)[code]
    assert criterion["passed"] is False
    assert criterion["severity"] == "block"


async def test_a_polluting_type_below_the_large_band_only_flags(client: httpx.AsyncClient) -> None:
    answer = await screen(client, {**PRIORITY, "pollution_type": "5", "pollution_band": "medium"})
    polluting = by_code(answer)["polluting_type"]
    assert (polluting["passed"], polluting["severity"]) == (False, "flag")
    assert "Appendix II type 5" in polluting["explanation"]
    # 300 m3/day is below 500, the threshold for a polluting type: still one flag
    assert by_code(answer)["wastewater_monitoring"]["threshold"] == 500
    assert answer["verdict"] == "acceptable"


async def test_wastewater_threshold_depends_on_the_pollution_type(
    client: httpx.AsyncClient,
) -> None:
    clean = by_code(await screen(client, {**PRIORITY, "wastewater_m3_day": 600}))
    assert (
        clean["wastewater_monitoring"]["passed"],
        clean["wastewater_monitoring"]["threshold"],
    ) == (
        True,
        1000,
    )
    polluting = by_code(
        await screen(
            client,
            {
                **PRIORITY,
                "wastewater_m3_day": 600,
                "pollution_type": "5",
                "pollution_band": "small",
            },
        )
    )
    assert polluting["wastewater_monitoring"]["passed"] is False


async def test_wastewater_over_the_parks_spare_treatment_blocks(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    park = await make_park(client, admin, wastewater_spare_m3_day=250)
    answer = await screen(client, {**PRIORITY, "park_id": park})
    capacity = by_code(answer)["wastewater_park_capacity"]
    assert (capacity["passed"], capacity["value"], capacity["threshold"]) == (False, 300, 250)
    assert answer["verdict"] == "not_recommended"


async def test_absent_values_are_unknown_never_passed(client: httpx.AsyncClient) -> None:
    answer = await screen(client, {"sector_vsic": "26100"})
    criteria = by_code(answer)
    assert criteria["capital_intensity"]["passed"] is None
    assert "capital_usd, land_ha" in criteria["capital_intensity"]["explanation"]
    assert "not given" in criteria["capital_intensity"]["explanation"]
    assert criteria["polluting_type"]["passed"] is None  # absent is not "none"
    assert criteria["priority_sector"]["passed"] is True
    assert "capital_intensity" in answer["unknown"]
    # priority needs every priority test known and passed
    assert answer["verdict"] == "acceptable"


# -- Decision 10/2021/QD-TTg: the size bands and the denominator ------------------------

BN = 1_000_000_000  # one billion VND


@pytest.mark.parametrize(
    ("funding_bn", "workers", "band", "spend_threshold", "staff_threshold"),
    [
        (6000, 3000, "large", 0.5, 1.0),  # both at the large band's floor
        (6000, 2999, "medium", 1.0, 2.5),  # funding large, workers not: medium
        (100, 200, "medium", 1.0, 2.5),
        (99.999, 5000, "other", 2.0, 5.0),  # workers large, funding below VND 100 bn
        (500, 199, "other", 2.0, 5.0),
    ],
)
async def test_decision_10_size_bands_need_funding_and_workers_both(
    client: httpx.AsyncClient,
    funding_bn: float,
    workers: int,
    band: str,
    spend_threshold: float,
    staff_threshold: float,
) -> None:
    body = {
        **PRIORITY,
        "total_funding_vnd": funding_bn * BN,
        "employees": workers,
        "land_ha": 100,
    }
    criteria = by_code(await screen(client, body))
    assert criteria["rd_spend_share"]["inputs"]["band"] == band
    assert criteria["rd_spend_share"]["threshold"] == spend_threshold
    assert criteria["rd_staff_share"]["inputs"]["band"] == band
    assert criteria["rd_staff_share"]["threshold"] == staff_threshold


async def test_decision_10_rd_spend_is_measured_against_revenue_minus_input_costs(
    client: httpx.AsyncClient,
) -> None:
    # 150 / (40,000 - 10,000) = 0.5 %: passes the large band; against revenue alone it
    # would be 0.375 % and fail
    body = {
        **PRIORITY,
        "total_funding_vnd": 7000 * BN,
        "employees": 3500,
        "land_ha": 100,
        "revenue_vnd": 40_000 * BN,
        "input_costs_vnd": 10_000 * BN,
        "rd_spend_vnd": 150 * BN,
    }
    spend = by_code(await screen(client, body))["rd_spend_share"]
    assert spend["value"] == pytest.approx(0.5)
    assert spend["passed"] is True
    assert "revenue_vnd - input_costs_vnd" in spend["explanation"]


async def test_no_value_added_fails_the_rd_spend_test(client: httpx.AsyncClient) -> None:
    body = {**PRIORITY, "revenue_vnd": 100 * BN, "input_costs_vnd": 100 * BN}
    spend = by_code(await screen(client, body))["rd_spend_share"]
    assert spend["passed"] is False
    assert "not positive" in spend["explanation"]


async def test_college_level_rd_staff_count_up_to_30_percent(client: httpx.AsyncClient) -> None:
    # band "other" (5 %), 2,000 workers. 70 university + 40 college-level R&D staff:
    # college-level staff may be 30 % of those counted -> 30 of them count, 100 in all = 5 %
    body = {
        **PRIORITY,
        "total_funding_vnd": 50 * BN,
        "employees": 2000,
        "land_ha": 100,
        "rd_staff": 110,
        "rd_staff_college_level": 40,
    }
    staff = by_code(await screen(client, body))["rd_staff_share"]
    assert staff["inputs"]["counted_rd_staff"] == pytest.approx(100)
    assert staff["value"] == pytest.approx(5.0)
    assert staff["passed"] is True
    # one more college-level person adds nothing; one university-level one fewer fails
    fewer = {**body, "rd_staff": 109, "rd_staff_college_level": 40}
    assert by_code(await screen(client, fewer))["rd_staff_share"]["passed"] is False


async def test_bad_input_names_the_field_and_answers_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/invest/screen", json={**PRIORITY, "local_content_pct": 130})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "local_content_pct"]
    response = await client.post("/api/invest/screen", json={"capital": 1})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "capital"]
    response = await client.post("/api/invest/screen", content=b"{not json")
    assert response.status_code == 422
    assert "detail" in response.json()


async def test_an_unknown_park_or_policy_is_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/invest/screen", json={**PRIORITY, "park_id": 999})
    assert response.status_code == 404
    assert response.json()["field"] == "park_id"
    response = await client.post("/api/invest/screen", json=PRIORITY, params={"policy_version": 7})
    assert response.status_code == 404
    assert response.json()["field"] == "policy_version"
