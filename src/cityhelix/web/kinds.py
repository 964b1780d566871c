"""Device kinds as the UI names them (source strings for the catalogues) and their map shapes.

A kind is a Thing's `properties.kind` (the demo province's keys); an unknown kind shows its
key and a circle.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a string for the catalogue without translating it here (templates do)."""
    return message


KIND_LABELS: dict[str, str] = {
    "streetlight": N_("Streetlight"),
    "air_quality": N_("Air quality station"),
    "traffic": N_("Traffic counter"),
    "water_level": N_("Water-level gauge"),
    "camera": N_("Camera"),
    "park_tenant": N_("Park tenant"),
    "other": N_("Other device"),
}

STATE_LABELS: dict[str, str] = {
    "alert": N_("Alert"),
    "normal": N_("Normal"),
    "stale": N_("Stale"),
    "off": N_("Off"),
}


def kind_label(kind: str) -> str:
    """The English label of a kind (translate it with `_`), or the key itself."""
    return KIND_LABELS.get(kind, kind)
