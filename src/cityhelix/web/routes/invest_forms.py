"""What the investment pages share: form fields read into the pillar's bodies, the park
map's GeoJSON, and the labels of criteria and stages (marked for translation here once).

A form field that does not validate becomes `FormProblem` naming the field, so a page can
answer 400 with the form again and the field marked, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Path
from pydantic import BaseModel, ValidationError

from cityhelix.invest import service

Body = TypeVar("Body", bound=BaseModel)

#: an id in a page's path: past 2**62 nothing exists and the database is never asked
RowId = Annotated[int, Path(ge=1, le=2**62)]


def N_(text: str) -> str:
    """Marks a text for extraction (Babel's `N_`); translated where it is shown."""
    return text


#: site-matching criteria (`invest.matching.CRITERIA` codes) as people read them
CRITERION_LABELS: dict[str, str] = {
    "land_price": N_("Land price (USD/m²)"),
    "seaport_km": N_("Distance to seaport (km)"),
    "airport_km": N_("Distance to airport (km)"),
    "workforce": N_("Workers within reach"),
    "cluster_fit": N_("Projects of the same sector in the park"),
    "free_land_ha": N_("Free land of the plot (ha)"),
    "spare_power_mw": N_("Spare power (MW)"),
}

#: why a park was refused (`invest.matching` constraint names)
CONSTRAINT_LABELS: dict[str, str] = {
    "sector": N_("Sector not allowed"),
    "power": N_("Not enough spare power"),
    "wastewater": N_("Not enough spare wastewater treatment"),
    "land": N_("No free plot large enough"),
    "ready_by": N_("No plot ready in time"),
    "data": N_("Data missing"),
}

#: sectors offered in the portal's and the screening page's choice lists (VSIC 2018)
SECTOR_CHOICES: list[tuple[str, str]] = [
    ("2610", N_("Semiconductors and electronic components")),
    ("2620", N_("Computers and peripheral equipment")),
    ("2630", N_("Communication equipment")),
    ("2640", N_("Consumer electronics")),
    ("2710", N_("Electric motors and power equipment")),
    ("2219", N_("Rubber products")),
    ("2220", N_("Plastic products")),
    ("1410", N_("Garments")),
    ("1520", N_("Footwear")),
    ("3100", N_("Furniture")),
    ("6201", N_("Software and AI")),
    ("6311", N_("Data centres")),
    ("7210", N_("Research and development")),
]


class FormProblem(Exception):
    """A form field that cannot be used: its name and what was expected."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def filled(form: Mapping[str, str], names: list[str]) -> dict[str, str]:
    """The named fields that have a value (an empty field is an unknown, not a zero)."""
    return {name: form[name].strip() for name in names if form.get(name, "").strip()}


def body_of(model: type[Body], values: Mapping[str, Any]) -> Body:
    """`values` validated as `model`, or FormProblem naming the first field that fails."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as error:
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ())]
        field = location[-1] if location else "form"
        raise FormProblem(field, str(first.get("msg", "not valid"))) from None


def number(form: Mapping[str, str], name: str, *, low: float = 0, high: float = 1e18) -> float:
    """A number field between `low` and `high`, or FormProblem naming it."""
    text = form.get(name, "").strip().replace(",", "")
    try:
        value = float(text)
    except ValueError:
        raise FormProblem(name, f"expected a number, got {text[:40]!r}") from None
    if not low <= value <= high:
        raise FormProblem(name, f"expected a number from {low:g} to {high:g}")
    return value


async def parks_geojson(engine: Any) -> dict[str, Any]:
    """Every park as a polygon Feature with what the maps show, and the free plots that
    have an outline of their own."""
    parks = await service.list_parks(engine, limit=1000)
    plots = await service.list_plots(engine, status="free", limit=1000)
    free_plots: dict[int, int] = {}
    for plot in plots:
        free_plots[plot["park_id"]] = free_plots.get(plot["park_id"], 0) + 1
    features = []
    for park in parks:
        if park.get("boundary") is None:
            continue
        features.append(
            {
                "type": "Feature",
                "id": park["id"],
                "geometry": park["boundary"],
                "properties": {
                    "kind": "park",
                    "id": park["id"],
                    "name": park["name"],
                    "status": park["status"],
                    "free_land_ha": park.get("free_land_ha") or 0,
                    "free_plots": free_plots.get(park["id"], 0),
                    "land_rent_usd_m2": park.get("land_rent_usd_m2"),
                    "seaport_km": park.get("seaport_km"),
                },
            }
        )
    # a free plot with its own outline is drawn over its park (the demo's plots have none)
    for plot in plots:
        if plot.get("boundary") is not None:
            features.append(
                {
                    "type": "Feature",
                    "geometry": plot["boundary"],
                    "properties": {
                        "kind": "plot",
                        "id": plot["park_id"],
                        "code": plot["code"],
                        "area_ha": plot["area_ha"],
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}
