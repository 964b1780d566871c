"""A draft policy made from the one in force by changing rules' severities and thresholds:
what the staff policy editor writes, validated as `POST /api/invest/policies` validates.

A change is addressed by a path that is also the form field's name and the error's field:
`rules.<code>.severity`, `rules.<code>.threshold` (likewise `threshold_polluting`,
`threshold_other`) and `rules.<code>.bands.<index>.threshold`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.db.engine import read_connection
from cityhelix.invest.errors import BadInput
from cityhelix.invest.policies import create_policy, policy_in_force
from cityhelix.invest.policy import PolicyDocument
from cityhelix.invest.schemas import PolicyIn
from cityhelix.invest.store import require_staff

#: a rule's numbers the editor may change, besides its severity
THRESHOLDS = ("threshold", "threshold_polluting", "threshold_other")
_PATH = re.compile(
    r"^rules\.(?P<code>[a-z][a-z0-9_]{0,63})\."
    r"(?:(?P<attribute>severity|threshold|threshold_polluting|threshold_other)"
    r"|bands\.(?P<band>[0-9])\.threshold)$"
)


def editable_numbers(rule: Mapping[str, Any]) -> list[tuple[str, float]]:
    """A rule's numbers the editor offers: (path, value now), thresholds then bands."""
    code = rule["code"]
    numbers = [
        (f"rules.{code}.{name}", float(rule[name]))
        for name in THRESHOLDS
        if isinstance(rule.get(name), int | float)
    ]
    for index, band in enumerate(rule.get("bands") or []):
        numbers.append((f"rules.{code}.bands.{index}.threshold", float(band["threshold"])))
    return numbers


def _field_of(raw: Mapping[str, Any], location: tuple[int | str, ...]) -> str:
    """A validation error's location as an editor path (`rules.<code>....`)."""
    parts = list(location)
    if len(parts) >= 2 and parts[0] == "rules" and isinstance(parts[1], int):
        rule = raw["rules"][parts[1]]
        rest = parts[2:]
        if rest and rest[0] == rule.get("kind"):  # the discriminated union's tag
            rest = rest[1:]
        return ".".join(["rules", str(rule.get("code")), *map(str, rest)])
    return ".".join(map(str, parts)) or "document"


def revised_document(base: PolicyDocument, changes: Mapping[str, object]) -> PolicyDocument:
    """`base` with `changes` applied and validated as a whole policy, or BadInput naming the
    first path that cannot be used."""
    raw = base.model_dump(mode="json")
    rules = {rule["code"]: rule for rule in raw["rules"]}
    for path, value in changes.items():
        matched = _PATH.match(path)
        if matched is None:
            raise BadInput(
                f"{path}: not a severity or threshold of a rule the editor may change", field=path
            )
        rule = rules.get(matched["code"])
        if rule is None:
            raise BadInput(f"{path}: the policy has no rule {matched['code']!r}", field=path)
        if matched["attribute"] == "severity":
            rule["severity"] = value
            continue
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise BadInput(f"{path}: expected a number from 0", field=path)
        if matched["band"] is not None:
            bands = rule.get("bands") or []
            index = int(matched["band"])
            if index >= len(bands):
                raise BadInput(f"{path}: the rule has {len(bands)} size band(s)", field=path)
            bands[index]["threshold"] = float(value)
        elif matched["attribute"] in rule:
            rule[matched["attribute"]] = float(value)
        else:
            raise BadInput(f"{path}: the rule has no {matched['attribute']}", field=path)
    try:
        return PolicyDocument.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = _field_of(raw, tuple(first.get("loc", ())))
        raise BadInput(f"{field}: {first.get('msg', 'not valid')}", field=field) from None


async def draft_policy(
    engine: AsyncEngine,
    principal: Principal,
    changes: Mapping[str, object],
    note: str | None,
    path: str,
) -> dict[str, Any]:
    """Store a draft: the policy in force with `changes`; refused (nothing stored) when a
    change cannot be used or none changes anything."""
    require_staff(principal, "writing a screening policy")
    async with read_connection(engine) as connection:
        base_version, base = await policy_in_force(connection)
    document = revised_document(base, changes)
    if document == base:
        raise BadInput("rules: no severity or threshold was changed", field="rules")
    try:
        body = PolicyIn(
            document=document,
            note=(note or "").strip() or f"draft from version {base_version}",
        )
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(map(str, first.get("loc", ()))) or "note"
        raise BadInput(f"{field}: {first.get('msg', 'not valid')}", field=field) from None
    return await create_policy(engine, principal, body, path)
