"""Run a consumer group of the durable stream for the life of the app: read, handle, commit,
and start again from the stored position after a failure (nothing is skipped)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cityhelix.events.stream import Change, EventStream, GroupTaken, Start

logger = logging.getLogger(__name__)

Handle = Callable[[Change], Awaitable[None]]


async def consume_forever(
    stream: EventStream, group: str, handle: Handle, *, start: Start, retry_seconds: float
) -> None:
    """Hand every change to `handle`, in order, committing after each batch handled."""
    while True:
        try:
            async with stream.consumer(group, start=start) as consumer:
                while True:
                    changes = await consumer.read(limit=100)
                    for index, change in enumerate(changes):
                        if index:
                            # a large write's changes (5,000 events each): a turn of the
                            # event loop each, whether `handle` waited for anything or not
                            await asyncio.sleep(0)
                        await handle(change)
                    if changes:
                        await consumer.commit()
        except asyncio.CancelledError:
            raise
        except GroupTaken as taken:
            # another process reads for the group now; this one waits to take it back
            logger.info("consumer group %s: %s", group, taken)
        except Exception:
            # a failing handler or a lost lease: the uncommitted changes are read again
            logger.exception("consumer group %s failed; it resumes from its position", group)
            await asyncio.sleep(retry_seconds)
