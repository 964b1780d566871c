"""The durable stream of committed changes: one small interface, a backend per file.

Every write transaction appends its events to the outbox (`events.outbox`) before it
commits; a backend hands them to consumer groups, each from the position it stored, so
none is missed across restarts, slow phases or N processes. Backends: `database` (the
outbox itself, SQLite or PostgreSQL) and `nats` (JetStream, fed from the outbox).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import Any, Literal, Self

from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events.bus import EntityEvent, EventBus, datastream_ids, only_readings
from cityhelix.settings import Settings

#: where a new consumer group starts: at the oldest change kept, or after the newest
Start = Literal["earliest", "latest"]


#: the topic of a new reading's event
READING = "hub.Observation.create"


class Events(tuple[EntityEvent, ...]):
    """A change's events in order, with lookups by topic and by Datastream made once.

    Every consumer group of a process reads the same decoded change (`outbox._decoded`):
    a group that wants one topic of a bulk write's 5,000 events looks it up instead of
    testing each event, and the lookup is built by whichever group asks first.
    """

    @cached_property
    def by_topic(self) -> Mapping[str, tuple[EntityEvent, ...]]:
        """The events of each topic present, in order."""
        if self.only_readings:
            return {READING: tuple(self)}
        found: dict[str, list[EntityEvent]] = {}
        for event in self:
            found.setdefault(event.topic, []).append(event)
        return {topic: tuple(events) for topic, events in found.items()}

    @cached_property
    def readings_by_datastream(self) -> Mapping[int, tuple[EntityEvent, ...]]:
        """The new readings of each Datastream (not MultiDatastream), in order."""
        streams = datastream_ids(self) if self.only_readings else None
        if streams is not None and len(first := set(streams)) == 1:
            (only,) = first  # a bulk write of one stream: the change as it is
            return {only: tuple(self)} if isinstance(only, int) else {}
        found: dict[int, list[EntityEvent]] = {}
        if streams is None:
            readings = self.by_topic.get(READING, ())
            streams = [event.payload.get("datastream_id") for event in readings]
        else:
            readings = self
        for datastream, event in zip(streams, readings, strict=True):
            if isinstance(datastream, int):
                found.setdefault(datastream, []).append(event)
        return {datastream: tuple(events) for datastream, events in found.items()}

    @cached_property
    def only_readings(self) -> bool:
        """Whether every event is a new reading (`events.bus.only_readings`)."""
        return only_readings(self)


def as_events(batch: Sequence[EntityEvent]) -> Events:
    """`batch` (a slice the bus handed out) with the lookups of `Events`: itself when it is
    an outbox row's `Events` already (a write's rows are published as they are), so that
    every subscriber and consumer group of the process shares one set of lookups."""
    return batch if isinstance(batch, Events) else Events(batch)


@dataclass(frozen=True)
class Change:
    """The events of one committed transaction, in the order it wrote them (a transaction
    of more than `outbox.EVENTS_PER_ROW` events comes as several changes, in order)."""

    #: the backend's position of this change (opaque to consumers: compared by equality,
    #: or put in the group's order by `position_order`)
    position: str
    committed_at: datetime
    events: Events

    def __post_init__(self) -> None:
        if not isinstance(self.events, Events):  # a plain sequence (a test, a relay)
            object.__setattr__(self, "events", Events(self.events))


def position_order(position: str) -> tuple[int, int, int]:
    """A sortable key of a change's `position`: the order in which a consumer group
    receives changes (commit order), on every backend.

    The database backend's position is "xid:id" (`outbox.Position`); the NATS backend's
    is "xid:id/part", the outbox's position and the part of a change too large for one
    message (part 0 when absent). A consumer that records the position of the last change
    it applied, in the transaction that applied it, tells a change delivered again (at or
    before that position) from a new one: exactly-once effects over at-least-once delivery.
    """
    change, _, part = position.partition("/")
    xid, _, row_id = change.partition(":")
    try:
        return int(xid), int(row_id), int(part or 0)
    except ValueError:
        raise ValueError(f"not a stream position: {position!r}") from None


@dataclass(frozen=True)
class ConsumerStatus:
    """How far a consumer group has read, and what it has left to read."""

    name: str
    position: str
    #: changes (transactions) and events committed after the position
    lag_changes: int
    lag_events: int
    #: when the oldest unread change committed (None: nothing left to read)
    oldest_unread_at: datetime | None
    owner: str | None
    updated_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "lag_changes": self.lag_changes,
            "lag_events": self.lag_events,
            "oldest_unread_at": _time(self.oldest_unread_at),
            "owner": self.owner,
            "updated_at": _time(self.updated_at),
        }


@dataclass(frozen=True)
class StreamStatus:
    backend: str
    retention_hours: int
    #: changes kept now, and when the oldest of them committed
    kept_changes: int
    oldest_kept_at: datetime | None
    consumers: tuple[ConsumerStatus, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "retention_hours": self.retention_hours,
            "kept_changes": self.kept_changes,
            "oldest_kept_at": _time(self.oldest_kept_at),
            "consumers": [consumer.as_json() for consumer in self.consumers],
        }


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


class GroupTaken(RuntimeError):
    """Another process took over the consumer group (this one held it too long)."""


class StreamConsumer(ABC):
    """One reader of a consumer group: each change goes to the group once, in order.

    `read` returns the changes after the group's position (waiting for some, or while
    another process reads for the group); `commit` stores the position after the changes
    read so far. Changes read but not committed are read again by the group's next reader.
    """

    group: str

    @abstractmethod
    async def read(self, *, limit: int = 100, timeout: float | None = None) -> list[Change]:
        """Up to `limit` changes after those read, of a bounded number of events in all
        (`outbox.EVENTS_PER_READ`); [] when none came within `timeout`.

        Raises `GroupTaken` when another process took the group from this reader (a lease
        that ran out): what the reader kept of the changes it read is out of date."""

    @abstractmethod
    async def commit(self) -> None:
        """Store the group's position after the changes read so far."""

    @abstractmethod
    async def close(self) -> None:
        """Let another process read for the group (uncommitted changes are read again)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except Exception:
            if error is None:
                raise
            # left on an error or a cancellation (the app stopping): that one goes on, and
            # the group's lease runs out. A failed close (SQLite's write lock, taken at
            # shutdown) replaced a cancellation with a database error, which the readers
            # retry: a stopping reader read on, writing, and held the process's stop


class EventStream(ABC):
    """A backend of the durable stream, started and stopped by the app's lifespan."""

    backend: str

    async def start(self) -> None:  # noqa: B027 - most backends need no start
        """Start background work (wake-ups, relaying, pruning)."""

    async def stop(self) -> None:  # noqa: B027
        """Stop it."""

    @abstractmethod
    def consumer(self, group: str, *, start: Start = "latest") -> StreamConsumer:
        """A reader for consumer group `group` (created at `start` on first use)."""

    @abstractmethod
    async def status(self) -> StreamStatus:
        """Retention, what is kept, and every consumer group's position and lag."""


def open_stream(settings: Settings, engine: AsyncEngine, bus: EventBus) -> EventStream:
    """The backend `settings.stream_backend` names (not started)."""
    if settings.stream_backend == "nats":
        from cityhelix.events.nats import NatsStream  # nats-py only when asked for

        return NatsStream(settings, engine, bus)
    from cityhelix.events.database import DatabaseStream

    return DatabaseStream(settings, engine, bus)
