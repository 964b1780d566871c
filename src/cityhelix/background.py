"""Stopping a pillar's background tasks without letting one hold the app's shutdown.

A task that swallows its cancellation (Python 3.11's `asyncio.timeout` can turn an outside
cancel into its own TimeoutError when both land in one step) would make `await task` wait
forever; the stop waits a bounded time instead and says which tasks did not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

logger = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]], *, seconds: float = 5.0) -> None:
    """Cancel `tasks` and wait at most `seconds` for them to end."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=seconds)
    for task in stuck:
        logger.error("background task %s did not stop within %s s", task.get_name(), seconds)


@contextlib.asynccontextmanager
async def stopped_within(
    name: str, running: AbstractAsyncContextManager[None], *, seconds: float = 20.0
) -> AsyncIterator[None]:
    """Enter `running` (a pillar's lifespan); on the way out, wait at most `seconds` for it
    to stop, then log and go on: one pillar stuck in its shutdown must not hold the
    process (and the pillars below it) forever."""
    await running.__aenter__()
    try:
        yield
    except BaseException as error:
        stopping = asyncio.ensure_future(running.__aexit__(type(error), error, error.__traceback__))
        await _bounded(name, stopping, seconds)
        raise
    stopping = asyncio.ensure_future(running.__aexit__(None, None, None))
    await _bounded(name, stopping, seconds)


async def _bounded(name: str, stopping: asyncio.Future[bool | None], seconds: float) -> None:
    done, _ = await asyncio.wait({stopping}, timeout=seconds)
    if not done:
        logger.error("the %s pillar did not stop within %s s; going on without it", name, seconds)
        return
    stopping.result()  # its own failure to stop is raised, as without the bound
