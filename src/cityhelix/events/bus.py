"""The in-process event bus: committed changes, fanned out to subscribers in commit order.

Writers publish only after their transaction committed, so a subscriber never sees what
was rolled back. Each subscriber has its own bounded queue (`Subscription`); one that falls
behind loses its oldest events and is told how many (never blocking the writers): right for
live notifications. Consumers that must see every change read the durable stream instead
(`events.stream`), which carries the same events. A large publish (a write of 100,000
readings) is handed out in slices, one turn of the event loop each, in publish order; a
subscriber receives those slices as they are, never event by event.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

#: the payload of an event that carries none (read-only: it is shared)
NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})
#: events handed to the subscribers in one turn of the event loop (a few ms of work)
EVENTS_PER_TURN = 5_000


class EntityEvent(NamedTuple):
    """An entity was created, updated or deleted (after commit), with what consumers need.

    `topic` is `<pillar>.<entity_type>.<action>`, e.g. `hub.Observation.create`; the
    payload's members per topic are listed in docs/events.md. A named tuple, not a frozen
    dataclass: a bulk write makes one per reading, and it is written to the outbox as a
    JSON array (orjson writes tuples several times faster than dataclasses).
    """

    action: str  # "create" | "update" | "delete"
    entity_type: str  # the registry name, e.g. "Observation"
    id: int
    payload: Mapping[str, Any] = NO_PAYLOAD
    pillar: str = "hub"

    @property
    def topic(self) -> str:
        return f"{self.pillar}.{self.entity_type}.{self.action}"


_ACTION, _ENTITY_TYPE, _PAYLOAD, _PILLAR = map(itemgetter, (0, 1, 3, 4))
_DATASTREAM = itemgetter("datastream_id")


def only_readings(events: Sequence[EntityEvent]) -> bool:
    """Whether `events` are all new readings (`hub.Observation.create`: a bulk write, the
    MQTT ingest), tested in C (`map`): the bus's subscribers, the stream's consumers and
    the outbox ask this of every batch, and a test per event in Python cost them a few ms
    per 10,000 readings."""
    return (
        set(map(_ENTITY_TYPE, events)) == {"Observation"}
        and set(map(_ACTION, events)) == {"create"}
        and set(map(_PILLAR, events)) == {"hub"}
    )


def datastream_ids(readings: Sequence[EntityEvent]) -> list[Any]:
    """The `datastream_id` of each of `readings` (new readings, `only_readings`), in order;
    None for a MultiDatastream's."""
    try:
        return list(map(_DATASTREAM, map(_PAYLOAD, readings)))
    except KeyError:  # a MultiDatastream's reading among them
        return [event.payload.get("datastream_id") for event in readings]


class Subscription:
    """One subscriber's waiting events, as the batches the bus handed out, oldest first.

    Batches, not single events: a write of 10,000 readings reaches a subscriber as two
    slices in O(1) each, where a queue of events cost a put and a get per event per
    subscriber. Bounded by `size` events all the same: a batch that would make more wait
    drops the oldest events (whole batches, or the head of the oldest), counted in
    `dropped`, so the writers never wait for a slow subscriber. A batch is shared by every
    subscriber: read it, never change it.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        #: events dropped so far because more than `size` were waiting
        self.dropped = 0
        self._batches: deque[Sequence[EntityEvent]] = deque()
        self._waiting = 0
        #: what `take` waits for: set by every batch put, cleared by `take` before it waits
        self._arrived = asyncio.Event()

    def empty(self) -> bool:
        """Whether no event waits."""
        return not self._batches

    def waiting(self) -> int:
        """The events waiting, in all batches."""
        return self._waiting

    def take_nowait(self, most: int | None = None) -> Sequence[EntityEvent]:
        """The oldest waiting batch, or an empty sequence when none waits: never raises,
        so `while batch := subscription.take_nowait()` takes all that waits.

        With `most` (at least 1), a longer batch gives its first `most` events and keeps
        the rest waiting as the oldest: a consumer that works in chunks of its own size
        need not hold a remainder outside the bound."""
        if not self._batches:
            return ()
        batch = self._batches[0]
        if most is not None and len(batch) > most:
            self._batches[0] = batch[most:]
            batch = batch[:most]
        else:
            self._batches.popleft()
        self._waiting -= len(batch)
        return batch

    async def take(self, most: int | None = None) -> Sequence[EntityEvent]:
        """The oldest batch (as `take_nowait`), waiting until one is there.

        Cancelled while waiting, it has taken nothing: the batch is taken only after the
        wait, in the same step, so a timeout around it loses no event."""
        while not self._batches:
            self._arrived.clear()
            await self._arrived.wait()
        return self.take_nowait(most)

    def _put(self, batch: Sequence[EntityEvent]) -> None:
        """Called by the bus with each slice (the same object for every subscriber, never
        copied); past the bound the oldest events go, so the writer never waits."""
        self._batches.append(batch)
        self._waiting += len(batch)
        excess = self._waiting - self._size
        while excess > 0:
            oldest = self._batches[0]
            lost = min(len(oldest), excess)
            if lost == len(oldest):
                self._batches.popleft()
            else:
                self._batches[0] = oldest[lost:]
            self._waiting -= lost
            self.dropped += lost
            excess -= lost
        self._arrived.set()


@dataclass
class EventBus:
    """Fan-out of `EntityEvent`s to every current subscriber."""

    #: events a subscriber may have waiting; past this its oldest are dropped
    queue_size: int = 100_000
    _subscriptions: list[Subscription] = field(default_factory=list)
    #: called once per `publish` (not per event): wakes readers of the durable stream
    _wakers: list[Callable[[], None]] = field(default_factory=list)
    #: published events not handed out yet (past `EVENTS_PER_TURN`), oldest first, each
    #: batch with the index of its first event still to hand out
    _waiting: deque[tuple[Sequence[EntityEvent], int]] = field(default_factory=deque)

    def publish(self, events: Iterable[EntityEvent]) -> None:
        """Hand `events` to every subscriber: at once when few (and none wait before them),
        else a slice per turn of the event loop, after those published before."""
        batch = events if isinstance(events, Sequence) else list(events)
        if batch:
            self._waiting.append((batch, 0))
            if len(self._waiting) == 1:
                self._hand_out()
        for wake in self._wakers:
            wake()  # the durable stream's readers read the outbox: committed already

    def _hand_out(self) -> None:
        """Up to `EVENTS_PER_TURN` waiting events to the subscribers; the rest next turn."""
        budget = EVENTS_PER_TURN
        while self._waiting and budget > 0:
            batch, first = self._waiting[0]
            end = min(len(batch), first + budget)
            # a batch that fits goes out as it is (an outbox row's `Events`, with its lookups)
            self._fan_out(batch if first == 0 and end == len(batch) else batch[first:end])
            budget -= end - first
            if end < len(batch):
                self._waiting[0] = (batch, end)
            else:
                self._waiting.popleft()
        if not self._waiting:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script): no one to share it with
            while self._waiting:
                batch, first = self._waiting.popleft()
                self._fan_out(batch[first:])
            return
        loop.call_soon(self._hand_out)

    def _fan_out(self, events: Sequence[EntityEvent]) -> None:
        for subscription in self._subscriptions:
            subscription._put(events)  # the same slice for all: O(subscribers)

    def on_publish(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` after every publish until the returned function is called."""
        self._wakers.append(wake)
        return lambda: self._wakers.remove(wake)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the `async with` block."""
        subscription = Subscription(self.queue_size)
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.remove(subscription)
