"""Filters on JSON members, date parts, durations, roundings and spatial relations: each is
compiled once by SQLAlchemy and answered from its cache after (no statement without a
cache key, which SQLAlchemy compiles at every execution), and two filters that differ
only in what such a function compiles from (a JSON key, a date part) never share an entry
(the one compiled first would answer for both)."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine.default import NO_CACHE_KEY
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.app import create_app
from tests.conftest import Backend
from tests.hub.factories import make_datastream

INSIDE = "geography'POLYGON((106.6 10.85, 106.7 10.85, 106.7 10.95, 106.6 10.95, 106.6 10.85))'"

#: (collection, filter, names or results it answers); neighbours differ in one attribute
QUERIES: list[tuple[str, str, list[Any]]] = [
    ("Things", "properties/kind eq 'x'", ["first"]),
    ("Things", "properties/district eq 'x'", ["second"]),
    ("Things", "properties/district eq null", ["third"]),
    ("Things", "properties/kind eq null", ["Air station 1"]),  # make_datastream's Thing
    ("Observations", "hour(phenomenonTime) eq 4", [2.5]),
    ("Observations", "minute(phenomenonTime) eq 4", [3.4]),
    ("Observations", "phenomenonTime add duration'PT1H' gt 2026-11-03T06:00:00Z", [3.4]),
    ("Observations", "phenomenonTime add duration'PT2H' gt 2026-11-03T06:00:00Z", [2.5, 3.4]),
    ("Observations", "round(result) eq 3", [2.5, 3.4]),
    ("Observations", "floor(result) eq 3", [3.4]),
    ("Observations", "ceiling(result) eq 3", [2.5]),
    ("Locations", f"st_intersects(location, {INSIDE})", ["inside"]),
    ("Locations", f"st_disjoint(location, {INSIDE})", ["Thu Dau Mot", "outside"]),
]


async def _made(http: httpx.AsyncClient, admin: dict[str, str]) -> None:
    things = [
        ("first", {"kind": "x", "district": "y"}, [106.65, 10.9], "inside"),
        ("second", {"kind": "y", "district": "x"}, [106.9, 11.2], "outside"),
        ("third", {"kind": "z"}, None, None),
    ]
    for name, properties, point, place in things:
        body: dict[str, Any] = {"name": name, "description": name, "properties": properties}
        if point is not None:
            body["Locations"] = [
                {
                    "name": place,
                    "description": place,
                    "encodingType": "application/geo+json",
                    "location": {"type": "Point", "coordinates": point},
                }
            ]
        made = await http.post("/v1.1/Things", json=body, headers=admin)
        assert made.status_code == 201, made.text
    stream = await make_datastream(http, admin)
    for time, result in (("2026-11-03T04:05:00Z", 2.5), ("2026-11-03T05:04:00Z", 3.4)):
        made = await http.post(
            f"/v1.1/Datastreams({stream})/Observations",
            json={"phenomenonTime": time, "result": result},
            headers=admin,
        )
        assert made.status_code == 201, made.text


def _answer(collection: str, document: dict[str, Any]) -> list[Any]:
    key = "result" if collection == "Observations" else "name"
    return sorted(entity[key] for entity in document["value"])


async def test_filters_with_functions_compile_once_and_never_answer_for_each_other(
    backend: Backend, admin: dict[str, str], engine: AsyncEngine
) -> None:
    # the hub alone: no pillar's background loop runs statements of its own meanwhile
    app = create_app(backend.settings.model_copy(update={"pillars": "hub"}), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            await _made(http, admin)
            uncacheable: list[str] = []

            def note(*args: Any) -> None:
                statement, context = args[2], args[4]
                if context.compiled is not None and context.cache_hit is NO_CACHE_KEY:
                    uncacheable.append(statement)

            event.listen(app.state.engine.sync_engine, "before_cursor_execute", note)
            for collection, text, expected in QUERIES:
                answer = await http.get(f"/v1.1/{collection}", params={"$filter": text})
                assert answer.status_code == 200, (text, answer.text)
                assert _answer(collection, answer.json()) == expected, text
            assert uncacheable == []
