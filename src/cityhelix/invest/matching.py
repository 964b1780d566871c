"""Site matching: refuse the parks and plots that cannot take a lead, rank the rest.

Hard constraints come first, each named when it refuses a park; the plots that pass are
ranked by `ranking` over the criteria below, on those candidates alone (a score is never
carried over from a larger set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cityhelix.invest.errors import BadInput
from cityhelix.invest.ranking import Candidate, CriterionSpec, ahp, topsis

#: criterion code -> (direction, default weight, what it measures)
CRITERIA: dict[str, tuple[str, float, str]] = {
    "land_price": ("min", 0.25, "plot price, or the park's land rent (USD/m2, remaining term)"),
    "seaport_km": ("min", 0.15, "distance to the seaport (km)"),
    "airport_km": ("min", 0.10, "distance to the airport (km)"),
    "workforce": ("max", 0.15, "workers within reach of the park"),
    "cluster_fit": ("max", 0.15, "active projects of the same VSIC division in the park"),
    "free_land_ha": ("max", 0.10, "area of the free plot (ha)"),
    "spare_power_mw": ("max", 0.10, "the park's spare power (MW)"),
}


@dataclass(frozen=True)
class SiteNeeds:
    land_ha: float | None = None
    power_mw: float | None = None
    wastewater_m3_day: float | None = None
    sector_vsic: str | None = None
    ready_by: date | None = None


def _refusal(park: Mapping[str, Any], constraint: str, explanation: str) -> dict[str, Any]:
    return {
        "park_id": park["id"],
        "park_name": park["name"],
        "constraint": constraint,
        "explanation": explanation,
    }


def _park_refusal(park: Mapping[str, Any], needs: SiteNeeds) -> dict[str, Any] | None:
    sector = needs.sector_vsic
    if sector is not None:
        excluded = next((s for s in park["excluded_sectors"] if sector.startswith(s)), None)
        if excluded is not None:
            return _refusal(park, "sector", f"VSIC {sector} is excluded here ({excluded})")
        permitted = park["permitted_sectors"]
        if permitted and not any(sector.startswith(s) for s in permitted):
            return _refusal(park, "sector", f"VSIC {sector} is not among the permitted sectors")
    checks = (
        ("power", needs.power_mw, "power_spare_mw", "MW of spare power"),
        (
            "wastewater",
            needs.wastewater_m3_day,
            "wastewater_spare_m3_day",
            "m3/day of spare wastewater treatment",
        ),
    )
    for constraint, need, column, words in checks:
        if need is None or need == 0:
            continue
        spare = park[column]
        if spare is None:
            return _refusal(park, constraint, f"the park does not record its {words}")
        if spare < need:
            return _refusal(park, constraint, f"needs {need:g} {words}, the park has {spare:g}")
    return None


def _criterion_values(
    park: Mapping[str, Any], plot: Mapping[str, Any], cluster: int
) -> dict[str, float | None]:
    price = plot["price_usd_m2"] if plot["price_usd_m2"] is not None else park["land_rent_usd_m2"]
    workforce = park["workforce_within_reach"]
    return {
        "land_price": price,
        "seaport_km": park["seaport_km"],
        "airport_km": park["airport_km"],
        "workforce": float(workforce) if workforce is not None else None,
        "cluster_fit": float(cluster),
        "free_land_ha": plot["area_ha"],
        "spare_power_mw": park["power_spare_mw"],
    }


def criteria_from(weights: Mapping[str, float] | None) -> list[CriterionSpec]:
    """The criteria with the default weights, or the given ones (unknown codes refused)."""
    if weights:
        unknown = sorted(set(weights) - set(CRITERIA))
        if unknown:
            raise BadInput(
                f"weights: unknown criteria {', '.join(unknown)}; expected some of "
                f"{', '.join(CRITERIA)}",
                field="weights",
            )
        return [
            CriterionSpec(code, weights[code], CRITERIA[code][0])  # type: ignore[arg-type]
            for code in CRITERIA
            if code in weights
        ]
    return [
        CriterionSpec(code, weight, direction)  # type: ignore[arg-type]
        for code, (direction, weight, _) in CRITERIA.items()
    ]


def match(
    parks: Sequence[Mapping[str, Any]],
    plots: Sequence[Mapping[str, Any]],
    cluster: Mapping[int, int],
    needs: SiteNeeds,
    criteria: list[CriterionSpec],
    method: str = "topsis",
    pairwise: list[list[float]] | None = None,
) -> dict[str, Any]:
    """Candidates (free plots of parks that pass) ranked, and each refused park's reason."""
    refused: list[dict[str, Any]] = []
    candidates: list[Candidate] = []
    about: dict[str, dict[str, Any]] = {}
    by_park: dict[int, list[Mapping[str, Any]]] = {}
    for plot in plots:
        by_park.setdefault(plot["park_id"], []).append(plot)
    codes = [c.code for c in criteria]
    for park in parks:
        refusal = _park_refusal(park, needs)
        if refusal is not None:
            refused.append(refusal)
            continue
        free = [p for p in by_park.get(park["id"], []) if p["status"] == "free"]
        large = [p for p in free if needs.land_ha is None or p["area_ha"] >= needs.land_ha]
        if not large:
            refused.append(
                _refusal(
                    park,
                    "land",
                    f"no free plot of {needs.land_ha:g} ha or more"
                    if needs.land_ha is not None
                    else "no free plot",
                )
            )
            continue
        ready = [
            p
            for p in large
            if needs.ready_by is None or p["ready_on"] is None or p["ready_on"] <= needs.ready_by
        ]
        if not ready:
            refused.append(
                _refusal(park, "ready_by", f"no large enough plot is ready by {needs.ready_by}")
            )
            continue
        for plot in ready:
            values = _criterion_values(park, plot, cluster.get(park["id"], 0))
            missing = [code for code in codes if values[code] is None]
            if missing:
                refused.append(
                    _refusal(
                        park,
                        "data",
                        f"plot {plot['code']} cannot be ranked: the park does not record "
                        f"{', '.join(missing)}",
                    )
                )
                continue
            key = f"plot:{plot['id']}"
            candidates.append(
                Candidate(key, {code: float(values[code]) for code in codes})  # type: ignore[arg-type]
            )
            about[key] = {
                "park_id": park["id"],
                "park_name": park["name"],
                "plot_id": plot["id"],
                "plot_code": plot["code"],
            }
    if candidates:
        if method == "ahp":
            if pairwise is None:
                raise BadInput("pairwise: AHP needs a pairwise comparison matrix", field="pairwise")
            ranked = ahp(criteria, pairwise, candidates)
        else:
            ranked = topsis(criteria, candidates)
    else:
        ranked = {"method": method, "criteria": [], "candidates": []}
    for row in ranked["candidates"]:
        row.update(about[row["id"]])
    ranked["refused"] = refused
    return ranked
