"""The CityHelix web application: the ground, then every pillar of `cityhelix.pillars`.

It only composes: the ground's shared resources (settings, migrations, the database engine,
the event bus), then each pillar's routers and lifespan (its `Mount`, imported here), the
lifespans entered in order and left in reverse. Each pillar's routers render their own
errors (their `route_class`); everything else answers FastAPI's `{"detail": ...}`. Tests
build several apps with different `Settings` in one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute

from cityhelix.background import stopped_within
from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade_async
from cityhelix.events.bus import EventBus
from cityhelix.events.stream import open_stream
from cityhelix.limits import BodyLimit, HeaderLimit, RateLimit
from cityhelix.pillar import Pillar
from cityhelix.pillars import SCHEMA, chosen, schema_of
from cityhelix.settings import Settings, get_settings
from cityhelix.text_guard import TextGuard


def create_app(
    settings: Settings | None = None,
    *,
    migrate: bool = True,
    pillars: Sequence[Pillar] | None = None,
) -> FastAPI:
    """The app for `settings` (the environment's by default) made of `pillars` (by default
    those `settings.pillars` names); migrates on start-up, the whole composition's schema
    when the pillars come from the settings (a process of some pillars shares the database
    with processes of the others)."""
    settings = settings or get_settings()
    schema = SCHEMA if pillars is None else schema_of(pillars)
    pillars = chosen(settings.pillars) if pillars is None else pillars
    mounts = [(pillar, pillar.mounted()) for pillar in pillars]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(settings.database_url, schema)
        engine = create_engine(settings)
        app.state.engine = engine
        try:
            async with contextlib.AsyncExitStack() as running:
                # the durable stream of committed changes: the ground, up before any writer
                stream = open_stream(settings, engine, app.state.bus)
                await stream.start()
                running.push_async_callback(stream.stop)
                app.state.stream = stream
                # a pillar starts on the ones before it and stops before them
                for pillar, mount in mounts:
                    if mount.lifespan is not None:
                        await running.enter_async_context(
                            stopped_within(pillar.name, mount.lifespan(app, settings))
                        )
                yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="CityHelix",
        version="0.1.0",
        description=(
            "Open smart-city platform. The data hub speaks OGC SensorThings API 1.1 under "
            "`/v1.1` (see docs/sensorthings.md)."
        ),
        lifespan=lifespan,
        docs_url=None,  # /docs is served by the web pillar, with Swagger UI from our origin
    )
    app.state.settings = settings
    app.state.bus = EventBus()
    # innermost of the edge: reads a body only once the body limit has let it in
    app.add_middleware(TextGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        RateLimit,
        reads_per_second=settings.rate_anonymous_reads_per_second,
        reads_burst=settings.rate_anonymous_reads_burst,
        failures_per_minute=settings.rate_auth_failures_per_minute,
        failures_burst=settings.rate_auth_failures_burst,
    )
    # added last, so it runs first: nothing else reads a request refused for its headers
    app.add_middleware(
        HeaderLimit, max_count=settings.max_header_count, max_bytes=settings.max_header_bytes
    )
    for _, mount in mounts:
        for router in mount.routers:
            app.include_router(router)
    described = [route for _, mount in mounts for route in mount.described]
    if described:
        _describe(app, described)
    return app


def _describe(app: FastAPI, described: Sequence[BaseRoute]) -> None:
    """/openapi.json with `described` (paths a catch-all serves) ahead of the mounted routes."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=[*described, *app.routes],
                tags=app.openapi_tags,
                servers=app.servers,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
