"""The CityHelix web application: one FastAPI app carrying every pillar's routers.

Its lifespan owns the shared resources (database engine, migrations); tests build
several apps with different `Settings` in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from cityhelix.db.engine import create_engine
from cityhelix.db.migrate import upgrade_async
from cityhelix.db.partitions import keep_partitions, maintain
from cityhelix.events.bus import EventBus
from cityhelix.hub import api as hub_api
from cityhelix.hub import api_aggregates, api_ingest
from cityhelix.hub.errors import HubError
from cityhelix.hub.ingest import ObservationIngest
from cityhelix.hub.mqtt import start_mqtt
from cityhelix.invest.pillar import PILLAR as INVEST
from cityhelix.limits import BodyLimit
from cityhelix.settings import Settings, get_settings


def create_app(settings: Settings | None = None, *, migrate: bool = True) -> FastAPI:
    """The app for `settings` (the environment's by default); migrates on start-up."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            await upgrade_async(settings.database_url)
        engine = create_engine(settings)
        app.state.engine = engine
        await maintain(engine, retention_days=settings.retention_days)
        keeper = asyncio.create_task(
            keep_partitions(engine, retention_days=settings.retention_days)
        )
        ingest = ObservationIngest(
            engine,
            app.state.bus,
            batch_size=settings.ingest_batch_size,
            batch_ms=settings.ingest_batch_ms,
            queue_size=settings.ingest_queue_size,
        )
        try:
            async with contextlib.AsyncExitStack() as running:
                # stopped in reverse order: MQTT, which hands readings to the ingest, first
                await ingest.start()
                running.push_async_callback(ingest.stop)
                app.state.ingest = ingest
                mqtt = await start_mqtt(settings, engine, app.state.bus, ingest=ingest)
                app.state.mqtt = mqtt
                if mqtt is not None:
                    running.push_async_callback(mqtt.stop)
                yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
            await engine.dispose()

    app = FastAPI(
        title="CityHelix",
        version="0.1.0",
        description=(
            "Open smart-city platform. The data hub speaks OGC SensorThings API 1.1 under "
            "`/v1.1` (see docs/sensorthings.md)."
        ),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.bus = EventBus()
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(hub_api.router)
    app.include_router(api_aggregates.router)
    app.include_router(api_ingest.router)
    for router in INVEST.routers:  # the integrator's pillar composition replaces this
        app.include_router(router)

    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, error: HubError) -> Response:
        return hub_api.hub_error_response(error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, error: RequestValidationError) -> Response:
        return hub_api.error_response(400, str(error))

    return app
