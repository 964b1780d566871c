"""The in-process bus: a large publish goes to the subscribers a slice per turn of the event
loop (a write of 100,000 readings must not hold the loop while it is handed out), in
publish order, and a small one at once."""

from __future__ import annotations

import asyncio

import pytest

from cityhelix.events.bus import EVENTS_PER_TURN, EntityEvent, EventBus

pytestmark = pytest.mark.asyncio


def _readings(first: int, count: int) -> list[EntityEvent]:
    return [EntityEvent("create", "Observation", first + i) for i in range(count)]


async def test_a_small_publish_reaches_the_subscribers_at_once() -> None:
    bus = EventBus()
    woken: list[int] = []
    bus.on_publish(lambda: woken.append(1))
    async with bus.subscribe() as subscription:
        bus.publish(_readings(1, 3))
        assert [subscription.queue.get_nowait().id for _ in range(3)] == [1, 2, 3]
        assert woken == [1]


async def test_a_large_publish_is_handed_out_in_slices_in_publish_order() -> None:
    bus = EventBus(queue_size=50_000)
    woken: list[int] = []
    bus.on_publish(lambda: woken.append(1))
    async with bus.subscribe() as first, bus.subscribe() as second:
        large = _readings(1, 2 * EVENTS_PER_TURN + 10)
        bus.publish(large)
        # one slice now, the rest in later turns of the loop; the stream's readers are
        # woken at once (they read the outbox, committed already)
        assert first.queue.qsize() == second.queue.qsize() == EVENTS_PER_TURN
        assert woken == [1]
        later = [EntityEvent("delete", "Thing", 7)]
        bus.publish(later)  # comes after all of the large one, not amid it
        assert first.queue.qsize() == EVENTS_PER_TURN
        for _ in range(10):
            await asyncio.sleep(0)
        for subscription in (first, second):
            got = [subscription.queue.get_nowait() for _ in range(subscription.queue.qsize())]
            assert got == [*large, *later]
            assert subscription.dropped == 0


async def test_a_subscriber_that_falls_behind_a_large_publish_loses_its_oldest() -> None:
    bus = EventBus(queue_size=100)
    async with bus.subscribe() as subscription:
        bus.publish(_readings(1, EVENTS_PER_TURN + 50))
        for _ in range(5):
            await asyncio.sleep(0)
        got = [subscription.queue.get_nowait().id for _ in range(subscription.queue.qsize())]
        assert got == list(range(EVENTS_PER_TURN - 49, EVENTS_PER_TURN + 51))
        assert subscription.dropped == EVENTS_PER_TURN - 50
