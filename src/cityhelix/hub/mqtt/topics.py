"""The topics of the SensorThings MQTT extension, worked out from the entity registry.

Which collection a publication creates in, which topics announce a committed entity, and
which `?$select=` subscriptions want a narrower document of it; no I/O here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from cityhelix.hub.errors import BadQuery, BadRequest, NotFound
from cityhelix.hub.model import BY_NAME, EntityType, Navigation
from cityhelix.hub.query.expression import SelectItem
from cityhelix.hub.query.options import parse_select
from cityhelix.hub.query.path import ResourcePath, parse_path

logger = logging.getLogger(__name__)

VERSION_ROOT = "v1.1/"
#: everything a client may publish a creation to
CREATION_FILTER = VERSION_ROOT + "#"
#: the DataArray extension: a list of DataArray groups, as `POST /CreateObservations` takes
CREATE_OBSERVATIONS_TOPIC = VERSION_ROOT + "CreateObservations"


@lru_cache(maxsize=4096)
def creation_path(topic: str) -> ResourcePath:
    """The resource path a publication to `topic` is a POST to (HubError when there is none).

    Cached: devices publish to the same few thousand topics again and again, and parsing one
    was 4 % of the hub's time on single-reading messages (a refused topic is not cached).
    """
    if not topic.startswith(VERSION_ROOT):
        raise NotFound(f"topic {topic!r} is not under {VERSION_ROOT!r}")
    rest = topic.removeprefix(VERSION_ROOT)
    if "?" in rest:
        raise BadRequest(
            f"topic {topic!r}: publish creations to a collection topic without query options, "
            "e.g. v1.1/Datastreams(1)/Observations"
        )
    return parse_path(rest)


def _inverse(navigation: Navigation, source: EntityType) -> Navigation | None:
    """The to-many link back to `source` from the target of the to-one `navigation`."""
    target = BY_NAME[navigation.target]
    for candidate in target.navigations:
        if candidate.target == source.name and candidate.target_fk == navigation.source_fk:
            return candidate
    return None


def entity_topics(entity_type: EntityType, entity_id: int, links: Mapping[str, int]) -> list[str]:
    """Every topic the standard announces a created or updated entity on.

    Its collection, itself, and for each to-one link the collection it joined on the other
    side: an Observation of Datastream 5 also goes to `v1.1/Datastreams(5)/Observations`.
    """
    topics = [
        f"{VERSION_ROOT}{entity_type.set_name}",
        f"{VERSION_ROOT}{entity_type.set_name}({entity_id})",
    ]
    for navigation in entity_type.navigations:
        linked = links.get(navigation.name)
        inverse = _inverse(navigation, entity_type) if navigation.source_fk else None
        if linked is None or inverse is None:
            continue
        target = BY_NAME[navigation.target]
        topics.append(f"{VERSION_ROOT}{target.set_name}({linked})/{inverse.name}")
    return topics


def filter_matches(topic_filter: str, topic: str) -> bool:
    """MQTT topic matching: `+` is one level, a final `#` any number of levels (even none)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return index == len(filter_levels) - 1
        if index >= len(topic_levels) or level not in ("+", topic_levels[index]):
            return False
    return len(filter_levels) == len(topic_levels)


@dataclass(frozen=True)
class SelectTopic:
    """Where to publish a narrowed document, and how to narrow it."""

    topic: str
    select: tuple[SelectItem, ...]


@lru_cache(maxsize=1024)
def _select_items(query: str) -> tuple[SelectItem, ...] | None:
    """The `$select` of a topic's query part, None when it is not only a valid `$select`."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "$select":
        logger.info("not serving MQTT subscriptions with ?%s: only $select is supported", query)
        return None
    try:
        return parse_select(pairs[0][1])
    except BadQuery as error:
        logger.info("not serving MQTT subscriptions with ?%s: %s", query, error.message)
        return None


def select_topics(topic_filters: Iterable[str], topics: Sequence[str]) -> list[SelectTopic]:
    """The `<topic>?$select=...` topics that subscriptions in `topic_filters` ask for.

    A filter's part before `?` may hold wildcards (`v1.1/Datastreams(+)/Observations?$select=
    result`); the narrowed document goes to the matching announced topic plus the query.
    """
    found: dict[str, SelectTopic] = {}
    for topic_filter in topic_filters:
        base, separator, query = topic_filter.partition("?")
        if not separator or not base.startswith(VERSION_ROOT) or "+" in query or "#" in query:
            continue
        select = _select_items(query)
        if select is None:
            continue
        for topic in topics:
            if filter_matches(base, topic):
                exact = f"{topic}?{query}"
                found.setdefault(exact, SelectTopic(exact, select))
    return list(found.values())
