"""The indicators' catalogue: `indicators.json` read once and checked, so a bad entry in
the data file fails at start-up with its code and field, not in the middle of a request."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

CATALOGUE_FILE = Path(__file__).with_name("indicators.json")
DIRECTIONS = ("higher", "lower")
MANUAL = "manual"


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    #: framework name -> the domain, criterion or theme within it
    frameworks: dict[str, str]
    #: a method of `scorecard.methods`, or "manual"
    method: str
    unit: str
    direction: str
    target: float | None
    #: {"watch": value}: between target and watch the indicator is watched, beyond it off
    thresholds: dict[str, float]
    source: str

    @property
    def manual(self) -> bool:
        return self.method == MANUAL

    def document(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "frameworks": self.frameworks,
            "method": self.method,
            "unit": self.unit,
            "direction": self.direction,
            "target": self.target,
            "thresholds": self.thresholds,
            "source": self.source,
        }


@dataclass(frozen=True)
class Catalogue:
    frameworks: dict[str, dict[str, Any]]
    indicators: tuple[Indicator, ...]

    def by_code(self, code: str) -> Indicator | None:
        return next((i for i in self.indicators if i.code == code), None)


def parse_catalogue(raw: dict[str, Any], methods: frozenset[str]) -> Catalogue:
    frameworks: dict[str, dict[str, Any]] = raw["frameworks"]
    indicators = []
    seen: set[str] = set()
    for entry in raw["indicators"]:
        code = entry["code"]
        if code in seen:
            raise ValueError(f"indicators.json: {code} given twice")
        seen.add(code)
        if entry["direction"] not in DIRECTIONS:
            raise ValueError(f"indicators.json: {code}.direction: expected higher or lower")
        if entry["method"] != MANUAL and entry["method"] not in methods:
            raise ValueError(f"indicators.json: {code}.method: no method {entry['method']!r}")
        for framework, value in entry["frameworks"].items():
            allowed = frameworks.get(framework)
            if allowed is None:
                raise ValueError(f"indicators.json: {code}.frameworks: unknown {framework!r}")
            if allowed["values"] and value not in allowed["values"]:
                raise ValueError(f"indicators.json: {code}.frameworks.{framework}: {value!r}")
        indicators.append(
            Indicator(
                code=code,
                name=entry["name"],
                frameworks=dict(entry["frameworks"]),
                method=entry["method"],
                unit=entry["unit"],
                direction=entry["direction"],
                target=entry.get("target"),
                thresholds=dict(entry.get("thresholds", {})),
                source=entry["source"],
            )
        )
    return Catalogue(frameworks, tuple(indicators))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    from cityhelix.helix.scorecard.methods import METHODS

    return parse_catalogue(json.loads(CATALOGUE_FILE.read_text()), frozenset(METHODS))
