"""How the city services tell what a Datastream measures: its ObservedProperty's name or
the last segment of its definition, reduced to a token and looked up in a domain's data."""

from __future__ import annotations

from collections.abc import Iterable

from cityhelix.hub.service import DatastreamFacts


def token(text: str) -> str:
    """Lower case letters and digits only ("Water level" -> "waterlevel")."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def tokens_of(facts: DatastreamFacts) -> tuple[str, str]:
    """The tokens of a Datastream's ObservedProperty name and definition's last segment."""
    last = facts.observed_property_definition.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    return token(facts.observed_property_name), token(last)


def is_one_of(facts: DatastreamFacts, names: Iterable[str]) -> bool:
    """Whether the Datastream measures something named by one of `names` (tokens)."""
    wanted = set(names)
    return any(t in wanted for t in tokens_of(facts))
