"""Loads the demo province into a running data hub through its SensorThings API.

Goes over HTTP like any other client, so the demo exercises the real write path (catalog
first, then one deep insert per Thing) and does nothing when the hub already has Things.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from cityhelix.demo.province import JSONDict, build_things, catalog, read_province

log = logging.getLogger(__name__)

API = "/v1.1"
_ID_IN_URL = re.compile(r"\((\d+)\)\s*$")


class HubRequestError(RuntimeError):
    """The hub answered a demo request with a non-2xx status; carries what it said."""

    def __init__(self, method: str, url: str, status_code: int, body: str) -> None:
        self.method = method
        self.url = url
        self.status_code = status_code
        self.body = body
        super().__init__(f"{method} {url} -> HTTP {status_code}: {body[:2000]}")


@dataclass(frozen=True)
class LoadSummary:
    """What `load_province` did. When `already_loaded`, `things` is how many it found."""

    things: int
    datastreams: int
    observations: int
    already_loaded: bool = False


def check(response: httpx.Response) -> httpx.Response:
    """The response itself when 2xx, else a HubRequestError with the server's answer."""
    if not response.is_success:
        raise HubRequestError(
            response.request.method,
            str(response.request.url),
            response.status_code,
            response.text,
        )
    return response


def _created_id(response: httpx.Response) -> int:
    """The `@iot.id` of a freshly created entity: from its JSON, else its Location header."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping) and isinstance(body.get("@iot.id"), int):
        return int(body["@iot.id"])
    match = _ID_IN_URL.search(response.headers.get("Location", ""))
    if match is None:
        raise HubRequestError(
            response.request.method,
            str(response.request.url),
            response.status_code,
            f"created, but no @iot.id in the body nor an id in Location: {response.text}",
        )
    return int(match.group(1))


async def _create_all(
    client: httpx.AsyncClient, collection: str, bodies: list[JSONDict]
) -> dict[str, int]:
    """POST each body to the collection; map each body's `properties.key` to its new id."""
    ids: dict[str, int] = {}
    for body in bodies:
        response = check(await client.post(f"{API}/{collection}", json=body))
        ids[body["properties"]["key"]] = _created_id(response)
    log.info("created %d %s", len(ids), collection)
    return ids


async def count_things(client: httpx.AsyncClient) -> int:
    """How many Things the hub holds (`$count=true`, or the page length if it gives none)."""
    response = check(await client.get(f"{API}/Things", params={"$top": 0, "$count": "true"}))
    body = response.json()
    count = body.get("@iot.count")
    return int(count) if count is not None else len(body.get("value", []))


async def load_province(
    client: httpx.AsyncClient, *, seed: int = 7, now: datetime | None = None
) -> LoadSummary:
    """Create the demo province's Sensors, ObservedProperties and Things, with a day of history.

    `client` has its base_url at the server root and the bearer token set. Nothing is
    written when the hub already has Things. Raises HubRequestError on any non-2xx answer.
    """
    existing = await count_things(client)
    if existing > 0:
        log.info("hub already holds %d Things; demo province not loaded", existing)
        return LoadSummary(things=existing, datastreams=0, observations=0, already_loaded=True)
    province = read_province()
    sensors, observed_properties = catalog(province)
    sensor_ids = await _create_all(client, "Sensors", sensors)
    observed_property_ids = await _create_all(client, "ObservedProperties", observed_properties)
    things = build_things(
        province,
        seed=seed,
        now=now or datetime.now(UTC),
        sensor_ids=sensor_ids,
        observed_property_ids=observed_property_ids,
    )
    datastreams = observations = 0
    for thing in things:
        check(await client.post(f"{API}/Things", json=thing))
        datastreams += len(thing["Datastreams"])
        observations += sum(len(d["Observations"]) for d in thing["Datastreams"])
    log.info(
        "loaded %s: %d Things, %d Datastreams, %d Observations",
        province.name,
        len(things),
        datastreams,
        observations,
    )
    return LoadSummary(things=len(things), datastreams=datastreams, observations=observations)
