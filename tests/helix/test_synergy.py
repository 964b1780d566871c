"""The Triple Helix mutual information over HTTP equals hand-computed cases (sign
included), per year and per domain, with the network of co-participation; and its
properties (T_xy ≥ 0, symmetry, bounds) hold for any co-occurrence table (Hypothesis)."""

from __future__ import annotations

import itertools
import math

import httpx
from hypothesis import given
from hypothesis import strategies as st

from cityhelix.helix.synergy import Point, mutual_information
from tests.conftest import bearer
from tests.helix.factories import actor, collaboration


async def test_a_parity_table_gives_one_bit_of_synergy_negative_and_no_pairwise_information(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Four collaborations (u,i,g) = 110, 101, 011, 000. By hand: each marginal is ½/½, so
    H_u = H_i = H_g = 1 bit; each pair is uniform on four cells, H_xy = 2; the joint is
    uniform on four points, H_uig = 2. T_uig = 3 - 6 + 2 = -1 (synergy); T_xy = 1 + 1 - 2 = 0.
    """
    analyst = bearer(tokens["analyst"])
    u = await actor(client, analyst, "Thu Dau Mot University", "university")
    i = await actor(client, analyst, "Becamex IDC", "enterprise")
    g = await actor(client, analyst, "Provincial People's Committee", "state")
    hub = await actor(client, analyst, "Binh Duong Innovation Center", "intermediary")
    await collaboration(client, analyst, [u, i], "2026-01-10", domain="technology")
    await collaboration(client, analyst, [u, g], "2026-02-10", domain="people")
    await collaboration(client, analyst, [i, g], "2026-03-10", domain="technology")
    await collaboration(client, analyst, [hub], "2026-04-10", domain="business")
    await collaboration(client, analyst, [u, i, g], "2025-12-31")  # outside the period

    answer = await client.get(
        "/api/helix/synergy", params={"from": "2026-01-01", "to": "2026-12-31"}
    )
    assert answer.status_code == 200, answer.text
    synergy = answer.json()
    assert synergy["n"] == 4
    assert synergy["T_uig"] == -1.0
    assert (synergy["T_ui"], synergy["T_ug"], synergy["T_ig"]) == (0.0, 0.0, 0.0)
    assert synergy["H"]["H_uig"] == 2.0
    counts = {(c["u"], c["i"], c["g"]): c["count"] for c in synergy["table"]}
    assert counts == {
        (1, 1, 0): 1, (1, 0, 1): 1, (0, 1, 1): 1, (0, 0, 0): 1,
        (0, 0, 1): 0, (0, 1, 0): 0, (1, 0, 0): 0, (1, 1, 1): 0,
    }  # fmt: skip
    assert synergy["by_year"]["2026"]["n"] == 4
    # technology: 110 and 011 -> u and g vary, i is always 1: H_i = 0
    technology = synergy["by_domain"]["technology"]
    assert technology["n"] == 2 and technology["T_ug"] == 1.0 and technology["T_uig"] == 0.0

    everything = (await client.get("/api/helix/synergy")).json()
    assert everything["n"] == 5 and set(everything["by_year"]) == {"2025", "2026"}

    network = (await client.get("/api/helix/network", params={"from": "2026-01-01"})).json()
    assert {node["id"] for node in network["nodes"]} == {u, i, g, hub}
    assert [(e["source"], e["target"], e["weight"]) for e in network["edges"]] == [
        (u, i, 1),
        (u, g, 1),
        (i, g, 1),
    ]


async def test_all_three_always_together_is_positive_one_bit(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    """Points 111 and 000: every H (single, pair, joint) is 1 bit, so T_uig = 3 - 3 + 1 = +1
    (no synergy: the three helices are redundant) and every T_xy = 1 + 1 - 1 = 1."""
    analyst = bearer(tokens["analyst"])
    u = await actor(client, analyst, "Vietnam-Germany University", "university")
    i = await actor(client, analyst, "WTC Binh Duong", "enterprise")
    g = await actor(client, analyst, "Department of Planning and Investment", "state")
    hub = await actor(client, analyst, "Block71", "intermediary")
    await collaboration(client, analyst, [u, i, g], "2026-05-01")
    await collaboration(client, analyst, [hub], "2026-06-01")
    synergy = (await client.get("/api/helix/synergy", params={"from": "2026-01-01"})).json()
    assert synergy["T_uig"] == 1.0
    assert synergy["T_ui"] == synergy["T_ug"] == synergy["T_ig"] == 1.0
    network = (await client.get("/api/helix/network")).json()
    assert len(network["edges"]) == 3


async def test_a_bad_period_is_refused_naming_the_parameter(client: httpx.AsyncClient) -> None:
    bad = await client.get("/api/helix/synergy", params={"from": "2026-02-30"})
    assert bad.status_code == 400 and "from" in bad.json()["detail"]
    reversed_ = await client.get(
        "/api/helix/synergy", params={"from": "2026-02-01", "to": "2026-01-01"}
    )
    assert reversed_.status_code == 400 and "to" in reversed_.json()["detail"]
    empty = (await client.get("/api/helix/synergy")).json()
    assert empty["n"] == 0 and empty["T_uig"] == 0.0


POINTS = st.lists(st.tuples(*(st.integers(0, 1),) * 3), min_size=0, max_size=60)


@given(POINTS)
def test_pairwise_information_is_never_negative_nor_above_one_bit(points: list[Point]) -> None:
    result = mutual_information(points)
    for name in ("T_ui", "T_ug", "T_ig"):
        assert 0.0 <= result[name] <= 1.0 + 1e-9


@given(POINTS, st.permutations([0, 1, 2]))
def test_t_uig_is_symmetric_in_the_three_helices(points: list[Point], order: list[int]) -> None:
    swapped = [tuple(point[k] for k in order) for point in points]
    assert math.isclose(
        mutual_information(points)["T_uig"],
        mutual_information(swapped)["T_uig"],  # type: ignore[arg-type]
        abs_tol=1e-9,
    )


@given(POINTS)
def test_t_uig_is_the_inclusion_exclusion_of_pairwise_and_conditional_terms(
    points: list[Point],
) -> None:
    """T_uig = T_ui - T_ui|g, with T_ui|g = H_ug + H_ig - H_uig - H_g ≥ 0; so T_uig ≤ T_ui."""
    result = mutual_information(points)
    h = result["H"]
    conditional = h["H_ug"] + h["H_ig"] - h["H_uig"] - h["H_g"]
    assert conditional >= -1e-9
    assert math.isclose(result["T_uig"], result["T_ui"] - conditional, abs_tol=1e-9)
    assert result["n"] == len(points)
    assert sum(c["count"] for c in result["table"]) == len(points)


def test_a_table_of_one_repeated_point_carries_no_information() -> None:
    for point in itertools.product((0, 1), repeat=3):
        result = mutual_information([point] * 5)  # type: ignore[list-item]
        assert result["T_uig"] == result["T_ui"] == 0.0
