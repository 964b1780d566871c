"""MQTT `v1.1/CreateObservations` messages written together: one transaction for all that wait.

Each DataArray message in its own transaction paid a commit, the rollup refresh and the
stream checks per message, a few dozen readings each (BENCHMARKS.md section 3). Messages
that arrive while a write runs are written by the next one, together (group commit), up to
a number of rows; the broker's receive window bounds how many can wait.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EventBus
from cityhelix.hub import service
from cityhelix.hub.errors import HubError
from cityhelix.hub.service import DataArrayRequest, RowAnswer

logger = logging.getLogger(__name__)


@dataclass
class _Waiting:
    request: DataArrayRequest
    rows: int
    answer: asyncio.Future[list[RowAnswer]]


class DataArrayWriter:
    """Writes CreateObservations requests, those that wait together in one transaction.

    A batch the database refuses as a whole (one request's stream is missing or not the
    caller's, a conflict) is written again one request at a time, so that each gets the
    answer it would have had alone.
    """

    def __init__(self, engine: AsyncEngine, bus: EventBus | None, *, batch_rows: int) -> None:
        self._engine = engine
        self._bus = bus
        self._batch_rows = batch_rows
        self._waiting: list[_Waiting] = []
        self._writing: asyncio.Task[None] | None = None

    async def write(self, request: DataArrayRequest) -> list[RowAnswer]:
        """Write `request`, with whatever waits beside it; its answer per row."""
        rows = _rows(request.body)
        waiting = _Waiting(request, rows, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_waiting())
        return await waiting.answer

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            try:
                await self._write_batch(batch)
            finally:
                # cancelled (the loop is closing): nobody is left waiting for an answer
                for waiting in batch:
                    waiting.answer.cancel()

    def _next_batch(self) -> list[_Waiting]:
        """The longest run of waiting requests within the row bound (at least one)."""
        rows = self._waiting[0].rows
        taken = 1
        while taken < len(self._waiting) and rows + self._waiting[taken].rows <= self._batch_rows:
            rows += self._waiting[taken].rows
            taken += 1
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch

    async def _write_batch(self, batch: list[_Waiting]) -> None:
        if len(batch) > 1:
            requests = [waiting.request for waiting in batch]
            try:
                answers = await service.create_observations_together(
                    self._engine, requests, self._bus
                )
            except HubError:
                pass  # one request spoils the batch: each alone below, with its own error
            except Exception as error:
                logger.warning(
                    "a batch of %d DataArray messages failed (%s); writing them one by one",
                    len(batch),
                    error,
                )
            else:
                for waiting, answer in zip(batch, answers, strict=True):
                    if not waiting.answer.done():
                        waiting.answer.set_result(answer)
                return
        for waiting in batch:
            try:
                (alone,) = await service.create_observations_together(
                    self._engine, [waiting.request], self._bus
                )
            except Exception as error:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            else:
                if not waiting.answer.done():
                    waiting.answer.set_result(alone)


def _rows(body: object) -> int:
    """The readings a CreateObservations body holds (0 for one that is not a list)."""
    if not isinstance(body, list):
        return 0
    return sum(
        len(group["dataArray"])
        for group in body
        if isinstance(group, dict) and isinstance(group.get("dataArray"), list)
    )
