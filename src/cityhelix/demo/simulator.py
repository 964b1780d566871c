"""Live feed for the demo province: one fresh Observation per demo Datastream every interval.

Uses the same value model as the loaded history (`province.value_at`), plus seeded faults,
so dashboards and alerts downstream see a plausible, continuing city.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from cityhelix.demo.loader import API, check
from cityhelix.demo.province import JSONDict, Province, iso_z, read_province, value_at

log = logging.getLogger(__name__)

CHUNK = 20


@dataclass(frozen=True)
class _Feed:
    """A Datastream on the hub that the demo value model knows how to fill."""

    id: int
    key: str
    scale: float


async def list_datastreams(client: httpx.AsyncClient) -> list[JSONDict]:
    """Every Datastream on the hub, following `@iot.nextLink` (absolute URLs) page by page."""
    found: list[JSONDict] = []
    url: str | None = f"{API}/Datastreams"
    params: dict[str, int] | None = {"$top": 1000}
    while url is not None:
        body = check(await client.get(url, params=params)).json()
        found.extend(body.get("value", []))
        url, params = body.get("@iot.nextLink"), None
    return found


def _feeds(datastreams: list[JSONDict], province: Province) -> list[_Feed]:
    """The demo Datastreams (known `properties.key`), in id order for a reproducible draw."""
    feeds = []
    for datastream in datastreams:
        properties = datastream.get("properties") or {}
        key = properties.get("key")
        if isinstance(key, str) and key in province.streams:
            scale = float(properties.get("scale", 1.0))
            feeds.append(_Feed(id=int(datastream["@iot.id"]), key=key, scale=scale))
    return sorted(feeds, key=lambda feed: feed.id)


#: sends one Observation of a Datastream (e.g. over MQTT); True when it was accepted
Publish = Callable[[int, JSONDict], Awaitable[bool]]


async def _post(client: httpx.AsyncClient, feed: _Feed, body: JSONDict) -> bool:
    """POST one Observation; a failure is logged, not raised, so the feed keeps running."""
    url = f"{API}/Datastreams({feed.id})/Observations"
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        log.warning("POST %s failed: %s", url, exc)
        return False
    if not response.is_success:
        log.warning("POST %s -> HTTP %d: %s", url, response.status_code, response.text[:500])
        return False
    return True


async def run_simulator(
    client: httpx.AsyncClient,
    *,
    seed: int = 7,
    interval_s: float = 5.0,
    stop: asyncio.Event,
    ticks: int | None = None,
    publish: Publish | None = None,
) -> int:
    """Post live Observations until `stop` is set or `ticks` ticks are done; return the count.

    Each tick posts one Observation per demo Datastream (the ones whose `properties.key`
    names a stream of the province), up to CHUNK at a time. Listing the Datastreams raises
    HubRequestError on a non-2xx answer; a failed Observation POST is only logged.
    """
    province = read_province()
    feeds = _feeds(await list_datastreams(client), province)
    if not feeds:
        log.warning("no demo Datastreams on the hub; load the demo province first")
        return 0
    log.info("simulating %d Datastreams every %.1f s", len(feeds), interval_s)
    rng = random.Random(seed)
    posted = tick = 0
    while not stop.is_set() and (ticks is None or tick < ticks):
        now = datetime.now(UTC)
        phenomenon_time = iso_z(now)
        bodies = [
            {
                "phenomenonTime": phenomenon_time,
                "result": value_at(
                    feed.key, now, rng, scale=feed.scale, faults=True, province=province
                ),
            }
            for feed in feeds
        ]
        for start in range(0, len(feeds), CHUNK):
            results = await asyncio.gather(
                *(
                    (publish(feed.id, body) if publish else _post(client, feed, body))
                    for feed, body in zip(
                        feeds[start : start + CHUNK], bodies[start : start + CHUNK], strict=True
                    )
                )
            )
            posted += sum(results)
        tick += 1
        if ticks is not None and tick >= ticks:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
    log.info("simulator stopped after %d ticks, %d Observations posted", tick, posted)
    return posted
