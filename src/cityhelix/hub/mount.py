"""What the data hub serves (its `Mount`, named by `hub/pillar.py`): SensorThings under
`/v1.1`, the plain `/api/hub` routes, and the background work it owns (the Observation
partitions' keeper, the batched ingest, the MQTT bridge)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.db.partitions import keep_partitions, maintain
from cityhelix.events.bus import EventBus
from cityhelix.hub.http import aggregates, api, ingest_status
from cityhelix.hub.ingest import ObservationIngest
from cityhelix.hub.mqtt import start_mqtt
from cityhelix.pillar import Mount
from cityhelix.settings import Settings

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running_hub(app: FastAPI, settings: Settings) -> AsyncIterator[None]:
    """The hub's background work, on the ground's engine and event bus (`app.state`)."""
    engine: AsyncEngine = app.state.engine
    bus: EventBus = app.state.bus
    try:
        await maintain(engine, retention_days=settings.retention_days)
    except SQLAlchemyError:
        # whatever rows exist, the hub starts: partitions are kept again every round
        log.exception("observation partition maintenance failed at start-up; serving anyway")
    keeper = asyncio.create_task(keep_partitions(engine, retention_days=settings.retention_days))
    ingest = ObservationIngest(
        engine,
        bus,
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
            mqtt = await start_mqtt(settings, engine, bus, ingest=ingest)
            app.state.mqtt = mqtt
            if mqtt is not None:
                running.push_async_callback(mqtt.stop)
            yield
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper


MOUNT = Mount(
    routers=(api.router, aggregates.router, ingest_status.router),
    described=api.DESCRIBED,
    lifespan=running_hub,
)
