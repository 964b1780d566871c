"""The in-process bus: a large publish goes to the subscribers a slice per turn of the event
loop (a write of 100,000 readings must not hold the loop while it is handed out), in
publish order, and a small one at once; each subscriber receives the slices as batches, and
one that falls behind loses its oldest events, counted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from cityhelix.events.bus import EVENTS_PER_TURN, EntityEvent, EventBus, Subscription

pytestmark = pytest.mark.asyncio


def _readings(first: int, count: int) -> list[EntityEvent]:
    return [EntityEvent("create", "Observation", first + i) for i in range(count)]


def _batches(subscription: Subscription) -> list[Sequence[EntityEvent]]:
    batches: list[Sequence[EntityEvent]] = []
    while batch := subscription.take_nowait():
        batches.append(batch)
    return batches


def _ids(batches: list[Sequence[EntityEvent]]) -> list[int]:
    return [event.id for batch in batches for event in batch]


async def test_a_small_publish_reaches_the_subscribers_at_once() -> None:
    bus = EventBus()
    woken: list[int] = []
    bus.on_publish(lambda: woken.append(1))
    async with bus.subscribe() as subscription:
        bus.publish(_readings(1, 3))
        assert subscription.waiting() == 3
        assert _ids(_batches(subscription)) == [1, 2, 3]
        assert subscription.empty() and subscription.waiting() == 0
        assert subscription.take_nowait() == ()
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
        assert first.waiting() == second.waiting() == EVENTS_PER_TURN
        assert woken == [1]
        later = [EntityEvent("delete", "Thing", 7)]
        bus.publish(later)  # comes after all of the large one, not amid it
        assert first.waiting() == EVENTS_PER_TURN
        for _ in range(10):
            await asyncio.sleep(0)
        for subscription in (first, second):
            batches = _batches(subscription)
            # the slices of one turn of the loop, never more than `EVENTS_PER_TURN` each
            assert [len(batch) for batch in batches] == [EVENTS_PER_TURN, EVENTS_PER_TURN, 10, 1]
            assert [event for batch in batches for event in batch] == [*large, *later]
            assert subscription.dropped == 0


async def test_a_subscriber_that_falls_behind_a_large_publish_loses_its_oldest() -> None:
    bus = EventBus(queue_size=100)
    async with bus.subscribe() as subscription:
        bus.publish(_readings(1, EVENTS_PER_TURN + 50))
        for _ in range(5):
            await asyncio.sleep(0)
        assert subscription.waiting() == 100
        got = _ids(_batches(subscription))
        assert got == list(range(EVENTS_PER_TURN - 49, EVENTS_PER_TURN + 51))
        assert subscription.dropped == EVENTS_PER_TURN - 50


async def test_a_subscriber_behind_loses_whole_batches_and_heads_counted_exactly() -> None:
    """The oldest go first, whether they are whole batches or the head of one; a subscriber
    that keeps up meanwhile loses nothing."""
    bus = EventBus(queue_size=250)
    async with bus.subscribe() as slow, bus.subscribe() as keeping_up:
        seen: list[int] = []
        for first in (1, 101, 201):
            bus.publish(_readings(first, 100))
            seen += _ids(_batches(keeping_up))
        # 300 published, 250 held: the head of the first batch went
        assert slow.dropped == 50 and slow.waiting() == 250
        bus.publish(_readings(301, 150))  # the rest of the first and all of the second go
        seen += _ids(_batches(keeping_up))
        assert slow.dropped == 200 and slow.waiting() == 250
        batches = _batches(slow)
        assert [len(batch) for batch in batches] == [100, 150]
        assert _ids(batches) == list(range(201, 451))
        assert seen == list(range(1, 451)) and keeping_up.dropped == 0


async def test_take_waits_for_a_batch_and_splits_a_long_one_keeping_the_rest() -> None:
    bus = EventBus()
    async with bus.subscribe() as subscription:
        taking = asyncio.create_task(subscription.take(most=4))
        await asyncio.sleep(0)
        assert not taking.done()
        bus.publish(_readings(1, 10))
        assert _ids([await taking]) == [1, 2, 3, 4]
        assert subscription.waiting() == 6
        bus.publish(_readings(11, 2))
        assert _ids([subscription.take_nowait(most=4)]) == [5, 6, 7, 8]
        assert _ids([await subscription.take(most=4)]) == [9, 10]
        assert _ids(_batches(subscription)) == [11, 12]


async def test_a_take_cancelled_while_waiting_loses_nothing() -> None:
    bus = EventBus()
    async with bus.subscribe() as subscription:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(subscription.take(), 0.01)
        # cancelled after its batch came but before it ran again: the batch stays
        taking = asyncio.create_task(subscription.take())
        await asyncio.sleep(0)
        bus.publish(_readings(1, 3))
        taking.cancel()
        with pytest.raises(asyncio.CancelledError):
            await taking
        assert subscription.waiting() == 3
        assert _ids([await subscription.take()]) == [1, 2, 3]
