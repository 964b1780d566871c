"""The in-process event bus: committed changes, fanned out to subscribers in commit order.

Writers publish only after their transaction committed, so a subscriber never sees what
was rolled back. Each subscriber has its own bounded queue; one that falls behind loses
its oldest events and is told how many (never blocking the writers): right for live
notifications. Consumers that must see every change read the durable stream instead
(`events.stream`), which carries the same events.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

#: the payload of an event that carries none (read-only: it is shared)
NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})


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


@dataclass
class Subscription:
    queue: asyncio.Queue[EntityEvent]
    dropped: int = 0


@dataclass
class EventBus:
    """Fan-out of `EntityEvent`s to every current subscriber."""

    queue_size: int = 100_000
    _subscriptions: list[Subscription] = field(default_factory=list)
    #: called once per `publish` (not per event): wakes readers of the durable stream
    _wakers: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, events: Iterable[EntityEvent]) -> None:
        for event in events:
            for subscription in self._subscriptions:
                if subscription.queue.full():
                    subscription.queue.get_nowait()
                    subscription.dropped += 1
                subscription.queue.put_nowait(event)
        for wake in self._wakers:
            wake()

    def on_publish(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call `wake` after every publish until the returned function is called."""
        self._wakers.append(wake)
        return lambda: self._wakers.remove(wake)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the `async with` block."""
        subscription = Subscription(asyncio.Queue(self.queue_size))
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.remove(subscription)
