"""Properties of the ranking engine (Hypothesis): bounds, scale invariance, dominance."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityhelix.invest.ranking import Candidate, CriterionSpec, ahp, topsis

values = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw: st.DrawFn) -> tuple[list[CriterionSpec], list[Candidate]]:
    n_criteria = draw(st.integers(1, 5))
    n_candidates = draw(st.integers(1, 8))
    criteria = [
        CriterionSpec(
            f"c{j}",
            draw(st.floats(min_value=0.01, max_value=10)),
            draw(st.sampled_from(["max", "min"])),
        )
        for j in range(n_criteria)
    ]
    candidates = [
        Candidate(i, {c.code: draw(values) for c in criteria}) for i in range(n_candidates)
    ]
    return criteria, candidates


def closeness(answer: dict[str, object]) -> dict[object, float]:
    return {c["id"]: c["closeness"] for c in answer["candidates"]}  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(problems())
def test_closeness_lies_between_0_and_1_and_ranks_follow_it(
    problem: tuple[list[CriterionSpec], list[Candidate]],
) -> None:
    criteria, candidates = problem
    ranked = topsis(criteria, candidates)["candidates"]
    assert all(0 <= c["closeness"] <= 1 for c in ranked)
    scores = [c["closeness"] for c in ranked]
    # scores within 1e-12 tie and share a rank (in the candidates' order): 0.0 and 1.7e-18
    # are one score, so their order is the order given, not the float order
    assert all(a >= b - 1e-12 for a, b in itertools.pairwise(scores))
    assert ranked[0]["rank"] == 1


@settings(max_examples=200, deadline=None)
@given(problems(), st.floats(min_value=1e-3, max_value=1e3), st.data())
def test_rescaling_a_criterion_changes_no_closeness(
    problem: tuple[list[CriterionSpec], list[Candidate]], factor: float, data: st.DataObject
) -> None:
    """Vector normalisation makes units irrelevant: USD/m2 or VND/m2 rank alike."""
    criteria, candidates = problem
    code = data.draw(st.sampled_from([c.code for c in criteria]))
    rescaled = [Candidate(c.id, {**c.values, code: c.values[code] * factor}) for c in candidates]
    before, after = closeness(topsis(criteria, candidates)), closeness(topsis(criteria, rescaled))
    assert after == pytest.approx(before, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(problems(), st.data())
def test_a_dominating_candidate_is_never_ranked_below_the_one_it_dominates(
    problem: tuple[list[CriterionSpec], list[Candidate]], data: st.DataObject
) -> None:
    criteria, candidates = problem
    base = candidates[0]
    better = {
        c.code: base.values[c.code] * (1 + data.draw(st.floats(0, 1)))
        if c.direction == "max"
        else base.values[c.code] / (1 + data.draw(st.floats(0, 1)))
        for c in criteria
    }
    field = [*candidates, Candidate("dominant", better)]
    for answer in (
        topsis(criteria, field),
        ahp(criteria, [[1.0] * len(criteria) for _ in criteria], field),
    ):
        scores = {c["id"]: c["score"] for c in answer["candidates"]}
        assert scores["dominant"] >= scores[base.id] - 1e-9


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.1, max_value=10), min_size=1, max_size=8))
def test_a_matrix_built_from_weights_is_consistent_and_gives_them_back(
    weights: list[float],
) -> None:
    total = sum(weights)
    matrix = [[a / b for b in weights] for a in weights]
    criteria = [CriterionSpec(f"c{j}", 1, "max") for j in range(len(weights))]
    answer = ahp(criteria, matrix, [Candidate(1, {c.code: 1.0 for c in criteria})])
    assert [c["weight"] for c in answer["criteria"]] == pytest.approx(
        [w / total for w in weights], rel=1e-6
    )
    assert answer["consistency_ratio"] == pytest.approx(0, abs=1e-6)
