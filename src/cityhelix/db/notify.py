"""Wake-ups across processes: PostgreSQL LISTEN/NOTIFY on a connection of its own.

SQLite has no such thing; callers then rely on the in-process bus and polling. The
listening connection is opened again after it drops; meanwhile polling covers the gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

_RECONNECT_SECONDS = 2.0


@asynccontextmanager
async def notifications(
    engine: AsyncEngine, channel: str, wake: Callable[[], None]
) -> AsyncIterator[None]:
    """Call `wake` on every NOTIFY on `channel` while the block runs (PostgreSQL only)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    task = asyncio.create_task(_listen(dsn, channel, wake), name=f"listen-{channel}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _listen(dsn: str, channel: str, wake: Callable[[], None]) -> None:
    while True:
        try:
            connection = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError) as error:
            logger.warning("cannot LISTEN on %s (%s); polling meanwhile", channel, error)
            await asyncio.sleep(_RECONNECT_SECONDS)
            continue
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
            await connection.add_listener(channel, lambda *_args: wake())
            wake()  # whatever was notified while not listening
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await connection.close(timeout=2)
        await asyncio.sleep(_RECONNECT_SECONDS)
