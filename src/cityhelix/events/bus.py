"""The in-process event bus: committed changes, fanned out to subscribers in commit order.

Writers publish only after their transaction committed, so a subscriber never sees what
was rolled back. Each subscriber has its own bounded queue; one that falls behind loses
its oldest events and is told how many (never blocking the writers).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EntityEvent:
    """An entity was created, updated or deleted (after commit)."""

    action: str  # "create" | "update" | "delete"
    entity_type: str  # the registry name, e.g. "Observation"
    id: int


@dataclass
class Subscription:
    queue: asyncio.Queue[EntityEvent]
    dropped: int = 0


@dataclass
class EventBus:
    """Fan-out of `EntityEvent`s to every current subscriber."""

    queue_size: int = 100_000
    _subscriptions: list[Subscription] = field(default_factory=list)

    def publish(self, events: Iterable[EntityEvent]) -> None:
        for event in events:
            for subscription in self._subscriptions:
                if subscription.queue.full():
                    subscription.queue.get_nowait()
                    subscription.dropped += 1
                subscription.queue.put_nowait(event)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[Subscription]:
        """A subscription for the duration of the `async with` block."""
        subscription = Subscription(asyncio.Queue(self.queue_size))
        self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.remove(subscription)
