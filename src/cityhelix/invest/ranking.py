"""The ranking engine of site matching: TOPSIS, and an AHP-weighted sum with its consistency.

Pure functions over given values, so that `POST /api/invest/sites/rank` (what-if work) and
`GET /api/invest/sites/match` (parks from the database) share one implementation. TOPSIS
follows Hwang & Yoon (1981): vector normalisation, weights scaled to sum 1, Euclidean
distances to the ideal and anti-ideal, closeness = d- / (d+ + d-).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cityhelix.invest.errors import BadInput

Direction = Literal["max", "min"]

#: Saaty's random consistency index by matrix order (Saaty 1980, Table 1.7; n 11-15 Saaty 2012)
RANDOM_INDEX = {
    1: 0.0,
    2: 0.0,
    3: 0.58,
    4: 0.90,
    5: 1.12,
    6: 1.24,
    7: 1.32,
    8: 1.41,
    9: 1.45,
    10: 1.49,
    11: 1.51,
    12: 1.48,
    13: 1.56,
    14: 1.57,
    15: 1.59,
}
#: Saaty's rule of thumb: judgements with a ratio above this should be revised
CONSISTENT_BELOW = 0.10


@dataclass(frozen=True)
class CriterionSpec:
    code: str
    weight: float
    direction: Direction


@dataclass(frozen=True)
class Candidate:
    id: Any
    values: Mapping[str, float]


def _check(criteria: Sequence[CriterionSpec], candidates: Sequence[Candidate]) -> None:
    if not criteria:
        raise BadInput("criteria: at least one criterion is needed", field="criteria")
    codes = [c.code for c in criteria]
    if len(set(codes)) != len(codes):
        raise BadInput("criteria: each code may appear once", field="criteria")
    for index, candidate in enumerate(candidates):
        for code in codes:
            value = candidate.values.get(code)
            if value is None:
                raise BadInput(
                    f"candidates[{index}].values.{code}: a number is needed for every criterion",
                    field=f"candidates[{index}].values.{code}",
                )
            if not math.isfinite(value):
                raise BadInput(
                    f"candidates[{index}].values.{code}: expected a finite number",
                    field=f"candidates[{index}].values.{code}",
                )


def scaled_weights(criteria: Sequence[CriterionSpec]) -> list[float]:
    """The weights divided by their sum, so that they add up to 1."""
    total = sum(c.weight for c in criteria)
    if not total > 0:
        raise BadInput("criteria[].weight: the weights must add up to more than 0", field="weight")
    return [c.weight / total for c in criteria]


def _ranks(scores: list[float]) -> list[int]:
    """Competition ranks (1, 2, 2, 4): equal scores share a rank."""
    ordered = sorted(scores, reverse=True)
    return [1 + sum(1 for s in ordered if s > score + 1e-12) for score in scores]


def _answer(
    method: str,
    criteria: Sequence[CriterionSpec],
    weights: list[float],
    candidates: Sequence[Candidate],
    normalised: list[list[float]],
    scores: list[float],
    extra: list[dict[str, Any]],
) -> dict[str, Any]:
    ranks = _ranks(scores)
    rows: list[tuple[int, int, dict[str, Any]]] = []
    for i, candidate in enumerate(candidates):
        rows.append(
            (
                ranks[i],
                i,
                {
                    "id": candidate.id,
                    "rank": ranks[i],
                    "score": scores[i],
                    **extra[i],
                    "criteria": [
                        {
                            "code": c.code,
                            "raw": candidate.values[c.code],
                            "normalised": normalised[i][j],
                            "weighted": normalised[i][j] * weights[j],
                        }
                        for j, c in enumerate(criteria)
                    ],
                },
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    return {
        "method": method,
        "criteria": [
            {"code": c.code, "weight": weights[j], "direction": c.direction}
            for j, c in enumerate(criteria)
        ],
        "candidates": [row for _, _, row in rows],
    }


def topsis(criteria: Sequence[CriterionSpec], candidates: Sequence[Candidate]) -> dict[str, Any]:
    """TOPSIS closeness of each candidate to the ideal, with each criterion's numbers."""
    _check(criteria, candidates)
    weights = scaled_weights(criteria)
    norms = [
        math.sqrt(sum(candidate.values[c.code] ** 2 for candidate in candidates)) for c in criteria
    ]
    normalised = [
        [
            candidate.values[c.code] / norms[j] if norms[j] > 0 else 0.0
            for j, c in enumerate(criteria)
        ]
        for candidate in candidates
    ]
    weighted = [[row[j] * weights[j] for j in range(len(criteria))] for row in normalised]
    best, worst = [], []
    for j, c in enumerate(criteria):
        column = [row[j] for row in weighted] or [0.0]
        high, low = max(column), min(column)
        best.append(high if c.direction == "max" else low)
        worst.append(low if c.direction == "max" else high)
    scores, extra = [], []
    for row in weighted:
        to_best = math.dist(row, best)
        to_worst = math.dist(row, worst)
        # every candidate equal on every criterion: none is farther from the ideal than another
        closeness = to_worst / (to_best + to_worst) if to_best + to_worst > 0 else 1.0
        scores.append(closeness)
        extra.append({"closeness": closeness, "distance_best": to_best, "distance_worst": to_worst})
    answer = _answer("topsis", criteria, weights, candidates, normalised, scores, extra)
    answer["ideal"] = dict(zip([c.code for c in criteria], best, strict=True))
    answer["anti_ideal"] = dict(zip([c.code for c in criteria], worst, strict=True))
    return answer


@dataclass(frozen=True)
class PairwiseWeights:
    weights: list[float]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float


def ahp_weights(matrix: Sequence[Sequence[float]]) -> PairwiseWeights:
    """Weights from a pairwise comparison matrix (principal eigenvector) and Saaty's CR."""
    n = len(matrix)
    if n == 0 or n > max(RANDOM_INDEX):
        raise BadInput(f"pairwise: expected 1 to {max(RANDOM_INDEX)} rows", field="pairwise")
    for i, row in enumerate(matrix):
        if len(row) != n:
            raise BadInput(
                f"pairwise[{i}]: expected {n} numbers (a square matrix)", field="pairwise"
            )
        for j, value in enumerate(row):
            where = f"pairwise[{i}][{j}]"
            if not (math.isfinite(value) and value > 0):
                raise BadInput(f"{where}: expected a positive number", field=where)
            if i == j and value != 1:
                raise BadInput(f"{where}: the diagonal must be 1", field=where)
            if not math.isclose(value * matrix[j][i], 1.0, rel_tol=1e-3):
                raise BadInput(
                    f"{where}: expected the reciprocal of pairwise[{j}][{i}] (1/{matrix[j][i]:g})",
                    field=where,
                )
    vector = [1.0 / n] * n
    for _ in range(1000):
        product = [sum(matrix[i][k] * vector[k] for k in range(n)) for i in range(n)]
        total = sum(product)
        following = [p / total for p in product]
        converged = max(abs(a - b) for a, b in zip(following, vector, strict=True)) < 1e-13
        vector = following
        if converged:
            break
    product = [sum(matrix[i][k] * vector[k] for k in range(n)) for i in range(n)]
    lambda_max = sum(product[i] / vector[i] for i in range(n)) / n
    index = (lambda_max - n) / (n - 1) if n > 2 else 0.0
    ratio = index / RANDOM_INDEX[n] if RANDOM_INDEX[n] > 0 else 0.0
    return PairwiseWeights(vector, lambda_max, max(index, 0.0), max(ratio, 0.0))


def ahp(
    criteria: Sequence[CriterionSpec],
    matrix: Sequence[Sequence[float]],
    candidates: Sequence[Candidate],
) -> dict[str, Any]:
    """Weighted sum of min-max normalised values, weights from the pairwise matrix.

    A criterion on which every candidate is equal scores 1 for all of them (it tells none
    apart); "min" criteria are turned round so that 1 is always best.
    """
    if len(matrix) != len(criteria):
        raise BadInput(
            f"pairwise: expected {len(criteria)} rows, one per criterion", field="pairwise"
        )
    _check(criteria, candidates)
    pairwise = ahp_weights(matrix)
    specs = [
        CriterionSpec(c.code, pairwise.weights[j], c.direction) for j, c in enumerate(criteria)
    ]
    weights = pairwise.weights
    normalised: list[list[float]] = [[0.0] * len(criteria) for _ in candidates]
    for j, c in enumerate(criteria):
        column = [candidate.values[c.code] for candidate in candidates]
        if not column:
            continue
        low, high = min(column), max(column)
        for i, value in enumerate(column):
            if high == low:
                normalised[i][j] = 1.0
            elif c.direction == "max":
                normalised[i][j] = (value - low) / (high - low)
            else:
                normalised[i][j] = (high - value) / (high - low)
    scores = [sum(row[j] * weights[j] for j in range(len(criteria))) for row in normalised]
    answer = _answer("ahp", specs, weights, candidates, normalised, scores, [{}] * len(scores))
    answer.update(
        {
            "lambda_max": pairwise.lambda_max,
            "consistency_index": pairwise.consistency_index,
            "consistency_ratio": pairwise.consistency_ratio,
            "consistent": pairwise.consistency_ratio <= CONSISTENT_BELOW,
        }
    )
    return answer
