"""AI-camera analytics events: category Observations of a camera's event Datastream (the
category in `result`, snapshot and clip links, confidence, class and count in `parameters`),
listed, counted per hour, and judged for alerts. No video is stored: only the links."""

from __future__ import annotations

import functools
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.city.errors import NotFound
from cityhelix.city.hourly import hour_of, number
from cityhelix.hub import service as hub

DATA_FILE = Path(__file__).with_name("camera_events.json")
#: the most events one listing returns
MAX_EVENTS = 10_000


@dataclass(frozen=True)
class EventKind:
    key: str
    name_en: str
    alerting: bool
    severity: str
    cap_category: str


@functools.cache
def data() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return raw


@functools.cache
def event_kinds() -> dict[str, EventKind]:
    return {
        row["key"]: EventKind(
            row["key"], row["en"], bool(row["alerting"]), row["severity"], row["cap_category"]
        )
        for row in data()["events"]
    }


def is_event_stream(facts: hub.DatastreamFacts) -> bool:
    """A camera's event Datastream: category observations (or one its properties name so)."""
    return (
        facts.observation_type == data()["observation_type"]
        or facts.properties.get("city") == "camera_events"
    )


async def event_streams(engine: AsyncEngine, thing_id: int) -> list[int]:
    """The event Datastreams of camera `thing_id` (NotFound when the Thing does not exist)."""
    if not await hub.things_by_id(engine, [thing_id]):
        raise NotFound(f"thing_id: no Thing {thing_id}", field="thing_id")
    return [f.id for f in await hub.datastreams_of_things(engine, [thing_id]) if is_event_stream(f)]


def event_json(item: hub.ReadingWithParameters) -> dict[str, Any]:
    """An event as the API lists it."""
    parameters = item.parameters
    return {
        "observation_id": item.reading.id,
        "datastream_id": item.reading.datastream_id,
        "time": hub.reading_time(item.reading),
        "event": item.reading.result if isinstance(item.reading.result, str) else None,
        "confidence": number(parameters.get("confidence")),
        "snapshot_url": parameters.get("snapshot_url"),
        "clip_url": parameters.get("clip_url"),
        "vehicle_class": parameters.get("vehicle_class"),
        "count": number(parameters.get("count")),
    }


async def events_between(
    engine: AsyncEngine, thing_id: int, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """A camera's events with start <= time < end, oldest first."""
    streams = await event_streams(engine, thing_id)
    found = await hub.readings_with_parameters_between(
        engine, streams, start, end, limit=MAX_EVENTS
    )
    return [event_json(item) for item in found]


def hourly_counts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events per UTC hour and kind, and vehicles per hour and class (vehicle_count events
    add their `count`)."""
    by_hour: dict[str, Counter[str]] = {}
    vehicles: dict[str, Counter[str]] = {}
    for event in events:
        time = datetime.fromisoformat(str(event["time"]).split("/")[0].replace("Z", "+00:00"))
        hour = hour_of(time).isoformat().replace("+00:00", "Z")
        kind = event["event"] or "unknown"
        by_hour.setdefault(hour, Counter())[kind] += 1
        if kind == "vehicle_count":
            amount = int(event["count"]) if event["count"] is not None else 1
            vehicles.setdefault(hour, Counter())[str(event["vehicle_class"] or "unknown")] += amount
    return [
        {
            "hour": hour,
            "events": dict(sorted(by_hour[hour].items())),
            "vehicles": dict(sorted(vehicles.get(hour, Counter()).items())),
        }
        for hour in sorted(by_hour)
    ]


def alert_value(
    result: object, parameters: dict[str, Any], kinds: set[str], min_confidence: float
) -> float:
    """1.0 when an event is of an alerting kind with enough confidence, else 0.0: the number
    the operations centre's threshold rule judges."""
    confidence = number(parameters.get("confidence"))
    if (
        isinstance(result, str)
        and result in kinds
        and (confidence is None or confidence >= min_confidence)
    ):
        return 1.0
    return 0.0
