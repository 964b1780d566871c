"""The durable stream on the database itself: consumer groups read the outbox directly.

For the embedded and the one-database installation (SQLite or PostgreSQL). A group's
position is a row of `event_consumers`; the process that reads for a group holds a lease on
that row, renewed as it reads, and stores the position only while it still holds it, so
N `cityhelix serve` processes on one PostgreSQL see each change once per group. Readers
wake on the in-process bus, on PostgreSQL's NOTIFY (other processes' commits), and poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.background import stop_tasks
from cityhelix.db.engine import read_connection, statement_connection
from cityhelix.db.notify import notifications
from cityhelix.db.types import UtcDateTime
from cityhelix.events import outbox
from cityhelix.events.bus import EventBus
from cityhelix.events.outbox import Position
from cityhelix.events.stream import (
    Change,
    ConsumerStatus,
    EventStream,
    GroupTaken,
    Start,
    StreamConsumer,
    StreamStatus,
)
from cityhelix.events.tables import event_consumers
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)

#: how often retention runs, at most
_PRUNE_SECONDS = 600.0


class Wake:
    """A signal that wakes every waiting reader at once (set, then replaced by a fresh one)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def mark(self) -> asyncio.Event:
        """A mark to wait from, taken before a read: a signal that comes during the read
        is not lost (the waiter would otherwise sleep until the next one, or its poll)."""
        return self._event

    async def wait(self, seconds: float, since: asyncio.Event | None = None) -> None:
        """Until the next signal (after the mark `since`), or `seconds`, whichever first."""
        event = self._event if since is None else since
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()


def process_name() -> str:
    """Who reads: host, process id and a random tag (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DatabaseStream(EventStream):
    backend = "database"

    def __init__(self, settings: Settings, engine: AsyncEngine, bus: EventBus) -> None:
        self.settings = settings
        self.engine = engine
        self.bus = bus
        self.wake = Wake()
        self._stack = contextlib.AsyncExitStack()
        self._pruning: asyncio.Task[None] | None = None
        #: the reads of the outbox under way or just done, by (position, limit): the
        #: process's groups, woken by the same commit at the same position, share one
        self._reads: dict[tuple[Position, int], _SharedRead] = {}

    async def start(self) -> None:
        self._stack.callback(self.bus.on_publish(self.wake))
        await self._stack.enter_async_context(notifications(self.engine, outbox.CHANNEL, self.wake))
        self._pruning = asyncio.create_task(self._prune_forever(), name="cityhelix-stream-prune")

    async def stop(self) -> None:
        if self._pruning is not None:
            await stop_tasks((self._pruning,))
        await stop_tasks([read.task for read in self._reads.values()])
        self._reads.clear()
        await self._stack.aclose()

    async def read_after(self, position: Position, limit: int, mark: asyncio.Event) -> list[Change]:
        """`outbox.read_after(position, limit)`, shared by this process's consumer groups.

        Every group reads after each commit, and the groups of one process are mostly at
        the same position: one read serves them all as long as no wake-up came since it
        began (the caller's `mark`, taken before its read, is the one the read began under)
        and it is in flight or at most `_fresh_seconds` old. A commit that came since
        wakes the readers with a new mark, so a shared read never hides it; an older result
        would hide rows held back by an open transaction from a poll that should see them.
        """
        loop = asyncio.get_running_loop()
        key = (position, limit)
        shared = self._reads.get(key)
        fresh = shared is not None and (
            not shared.task.done() or loop.time() - shared.begun <= self._fresh_seconds
        )
        if shared is None or shared.mark is not mark or not fresh:
            for stale in [k for k, read in self._reads.items() if read.task.done()]:
                del self._reads[stale]
            shared = _SharedRead(mark, loop.time(), asyncio.create_task(self._read(*key)))
            self._reads[key] = shared
        # a reader cancelled while it waits (the app stopping) leaves the read to the others
        return list(await asyncio.shield(shared.task))

    @property
    def _fresh_seconds(self) -> float:
        """How long a read done serves the groups that come after it: a read gap (they
        would have paused that long anyway), at most half a poll (which must read anew)."""
        settings = self.settings
        return min(settings.stream_read_gap_ms / 1000, settings.stream_poll_seconds / 2)

    async def _read(self, position: Position, limit: int) -> list[Change]:
        # no transaction around the read: the groups read after every commit
        async with read_connection(self.engine) as connection:
            return await outbox.read_after(connection, position, limit)

    async def _prune_forever(self) -> None:
        retention = timedelta(hours=self.settings.stream_retention_hours)
        every = min(_PRUNE_SECONDS, retention.total_seconds() / 10)
        while True:
            try:
                async with self.engine.begin() as connection:
                    pruned = await outbox.prune(connection, retention)
                if pruned:
                    logger.info("retention: %d changes older than %s dropped", pruned, retention)
            except Exception:
                logger.exception("could not prune the event outbox")
            await asyncio.sleep(every)

    def consumer(self, group: str, *, start: Start = "latest") -> DatabaseConsumer:
        return DatabaseConsumer(self, group, start)

    async def status(self) -> StreamStatus:
        async with self.engine.connect() as connection:
            count, oldest = await outbox.kept(connection)
            rows = (
                await connection.execute(select(event_consumers).order_by(event_consumers.c.name))
            ).all()
            consumers = []
            for row in rows:
                position = Position(row.position_xid, row.position_id)
                changes, events, unread = await outbox.lag(connection, position)
                owner = row.owner if _held(row.lease_until) else None
                consumers.append(
                    ConsumerStatus(
                        row.name, str(position), changes, events, unread, owner, row.updated_at
                    )
                )
        return StreamStatus(
            self.backend,
            self.settings.stream_retention_hours,
            count,
            oldest,
            tuple(consumers),
        )


@dataclass(frozen=True)
class _SharedRead:
    #: the wake-up mark current when the read began, and when (loop time)
    mark: asyncio.Event
    begun: float
    task: asyncio.Task[list[Change]]


def _events(changes: list[Change]) -> int:
    return sum(len(change.events) for change in changes)


def _held(lease_until: datetime | None) -> bool:
    return lease_until is not None and lease_until > datetime.now(UTC)


#: a group's position stored by the reader holding it (made once: a consumer group stores
#: its position after every read, and building the statement cost more than running it)
_STORE_POSITION = (
    update(event_consumers)
    .where(
        event_consumers.c.name == bindparam("group"),
        event_consumers.c.owner == bindparam("reader"),
    )
    .values(
        position_xid=bindparam("xid"),
        position_id=bindparam("row_id"),
        lease_until=bindparam("until", type_=UtcDateTime()),
        updated_at=bindparam("now", type_=UtcDateTime()),
    )
)


class DatabaseConsumer(StreamConsumer):
    """Reads the outbox for a group while it holds the group's lease."""

    def __init__(self, stream: DatabaseStream, group: str, start: Start) -> None:
        if not group or len(group) > 100:
            raise ValueError("a consumer group's name has 1 to 100 characters")
        self.group = group
        self._stream = stream
        self._start = start
        self._owner = process_name()
        self._lease = timedelta(seconds=stream.settings.stream_lease_seconds)
        self._held_until: datetime | None = None
        self._read: Position | None = None  # after the changes read, not yet committed
        self._stored: Position | None = None
        self._gap = stream.settings.stream_read_gap_ms / 1000
        #: when the last read that found the group caught up ended (loop time), if any
        self._caught_up_at: float | None = None

    async def read(self, *, limit: int = 100, timeout: float | None = None) -> list[Change]:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        poll = self._stream.settings.stream_poll_seconds
        while True:
            if self._caught_up_at is not None:
                # the previous read took all there was: more commits that come within the
                # gap are read at its end, in one read, instead of each on its own
                pause = self._caught_up_at + self._gap - loop.time()
                if deadline is not None:
                    pause = min(pause, deadline - loop.time())
                if pause > 0:
                    await asyncio.sleep(pause)
                self._caught_up_at = None
            mark = self._stream.wake.mark()
            if await self._hold():
                assert self._read is not None
                changes = await self._stream.read_after(self._read, limit, mark)
                if changes:
                    self._read = Position.parse(changes[-1].position)
                    if len(changes) < limit and _events(changes) < outbox.EVENTS_PER_READ:
                        self._caught_up_at = loop.time()  # (a read cut short holds more)
                    return changes
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return []
            await self._stream.wake.wait(poll if left is None else min(poll, left), mark)

    async def commit(self) -> None:
        if self._read is None or self._read == self._stored:
            return
        now = datetime.now(UTC)
        async with statement_connection(self._stream.engine) as connection:
            result = await connection.execute(
                _STORE_POSITION,
                {
                    "group": self.group,
                    "reader": self._owner,
                    "xid": self._read.xid,
                    "row_id": self._read.id,
                    "until": now + self._lease,
                    "now": now,
                },
            )
        if result.rowcount != 1:
            self._held_until, self._read, self._stored = None, None, None
            raise GroupTaken(f"another process reads for the consumer group {self.group!r} now")
        self._stored, self._held_until = self._read, now + self._lease

    async def close(self) -> None:
        if self._held_until is None:
            return
        self._held_until, self._read, self._stored = None, None, None
        async with self._stream.engine.begin() as connection:
            await connection.execute(
                update(event_consumers)
                .where(event_consumers.c.name == self.group, event_consumers.c.owner == self._owner)
                .values(owner=None, lease_until=None)
            )
        self._stream.wake()  # a process waiting for the group takes it now

    async def _hold(self) -> bool:
        """Whether this reader holds the group's lease (taking or renewing it as needed)."""
        now = datetime.now(UTC)
        if self._held_until is not None and self._held_until - now > self._lease / 2:
            return True
        engine = self._stream.engine
        if self._held_until is None:
            await self._create_group()
        held = self._held_until is not None
        # a reader renews only a lease still in its name: one whose row was taken by another
        # process meanwhile, even if that process has left again (owner cleared), must not
        # take the group back from its own position (it would read again what that process
        # committed); a reader taking the group starts from the stored position
        claimable = (
            event_consumers.c.owner == self._owner
            if held
            else or_(
                event_consumers.c.owner.is_(None),
                event_consumers.c.owner == self._owner,
                event_consumers.c.lease_until < now,
            )
        )
        async with engine.begin() as connection:
            result = await connection.execute(
                update(event_consumers)
                .where(event_consumers.c.name == self.group, claimable)
                .values(owner=self._owner, lease_until=now + self._lease)
            )
            if result.rowcount != 1:
                self._held_until, self._read, self._stored = None, None, None
                if held:
                    # another process took the group while this one held it: say so, as
                    # `commit` does, so the reader drops what it derived from the changes
                    # it read (they may be read again there, and others after them)
                    raise GroupTaken(
                        f"another process reads for the consumer group {self.group!r} now"
                    )
                return False
            if self._held_until is None or self._read is None:
                row = (
                    await connection.execute(
                        select(event_consumers.c.position_xid, event_consumers.c.position_id).where(
                            event_consumers.c.name == self.group
                        )
                    )
                ).one()
                self._read = self._stored = Position(row.position_xid, row.position_id)
        self._held_until = now + self._lease
        return True

    async def _create_group(self) -> None:
        """The group's row, at its start position, unless it exists."""
        engine = self._stream.engine
        async with engine.connect() as connection:
            exists = await connection.scalar(
                select(event_consumers.c.name).where(event_consumers.c.name == self.group)
            )
            if exists is not None:
                return
            if self._start == "earliest":
                position = outbox.START
            else:
                position = await outbox.latest(connection)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    insert(event_consumers).values(
                        name=self.group,
                        position_xid=position.xid,
                        position_id=position.id,
                        updated_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # another process made it at the same moment: theirs holds
