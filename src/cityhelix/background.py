"""Stopping a pillar's background tasks without letting one hold the app's shutdown.

A task that swallows its cancellation (Python 3.11's `asyncio.timeout` can turn an outside
cancel into its own TimeoutError when both land in one step) would make `await task` wait
forever; the stop waits a bounded time instead and says which tasks did not end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

logger = logging.getLogger(__name__)


async def stop_tasks(tasks: Iterable[asyncio.Task[None]], *, seconds: float = 5.0) -> None:
    """Cancel `tasks` and wait at most `seconds` for them to end."""
    pending = [task for task in tasks if not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return
    _, stuck = await asyncio.wait(pending, timeout=seconds)
    for task in stuck:
        logger.error("background task %s did not stop within %s s", task.get_name(), seconds)
