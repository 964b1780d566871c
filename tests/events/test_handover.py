"""A consumer group handed over between two processes on one database (SQLite, PostgreSQL).

Two apps on one database stand for two `cityhelix serve` processes. Reader A holds a group
and stops renewing its lease; reader B, of the other app, takes the group once A's lease ran
out. A's next `read` raises `GroupTaken` (what A derived from the changes it read is out of
date); the changes committed meanwhile are each read once by the group, and the operations
centre's rule evaluator, told so, reopens and reads its rules again: a rule made while the
other process held the group applies once it comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cityhelix.app import create_app
from cityhelix.events.stream import EventStream, GroupTaken
from cityhelix.ops.alerting import live
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN, Backend
from tests.events.test_stream import drain, read_until, write_readings
from tests.ops.conftest import client_of, fresh_database, ops_settings
from tests.ops.readings import alerts, new_datastream, new_rule, send, threshold

pytestmark = pytest.mark.asyncio

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
#: generous: a loaded machine, and a PostgreSQL shared with other runs
TIMEOUT = 30.0
#: A's lease runs out a second after it last read; B, once it holds the group, keeps it for
#: the whole test (its lease never runs out under A, however slow the machine)
SHORT_LEASE, LONG_LEASE = 1.0, 300.0


async def until(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """The first true value of `condition`, polled; AssertionError naming `what` after
    TIMEOUT (the state asked for lives in another app's tasks: no event to wait on)."""
    if not (value := await at_most(condition)):
        raise AssertionError(f"timed out after {TIMEOUT:g} s waiting for {what}")
    return value


async def at_most(condition: Callable[[], Awaitable[Any]]) -> Any:
    """The first true value of `condition` within TIMEOUT, else its last (false) one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while not (value := await condition()) and loop.time() < deadline:
        await asyncio.sleep(0.1)
    return value


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with its lifespan (one process of the installation) and a client of it."""
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app), client_of(app) as client:
        yield app, client


async def test_a_reader_whose_lease_ran_out_is_told_the_group_was_taken_and_nothing_is_lost(
    backend: Backend,
) -> None:
    quiet = {"ops_rules_live": False}
    settings_a = ops_settings(backend, stream_lease_seconds=SHORT_LEASE, **quiet)
    settings_b = ops_settings(backend, stream_lease_seconds=LONG_LEASE, **quiet)
    await fresh_database(settings_a)
    async with running(settings_a) as (app_a, client), running(settings_b) as (app_b, _):
        stream_a: EventStream = app_a.state.stream
        stream_b: EventStream = app_b.state.stream
        datastream = await new_datastream(client, ADMIN)
        group = f"handover-{uuid.uuid4().hex[:8]}"
        first = stream_a.consumer(group)
        await drain(first)  # A holds the group, at the stream's end

        before = await write_readings(client, datastream, 3, start=0)
        seen_a = await read_until(first, set(before))  # read and committed: A holds on
        # A stops reading (a process stalled, or busy elsewhere): its lease runs out
        meanwhile = await write_readings(client, datastream, 3, start=3)
        second = stream_b.consumer(group)
        seen_b = await read_until(second, set(meanwhile))  # B takes the group once it can
        during = await write_readings(client, datastream, 3, start=6)

        with pytest.raises(GroupTaken, match=group):
            await first.read(timeout=TIMEOUT)
        await first.close()  # as `async with` does: A reads nothing more on that reader

        seen_b += await read_until(second, set(during))
        await second.close()  # B stops: A may read for the group again
        after = await write_readings(client, datastream, 3, start=9)
        async with stream_a.consumer(group) as again:
            seen_a += await read_until(again, set(after))

    ids_a, ids_b = [e.id for e in seen_a], [e.id for e in seen_b]
    assert sorted(ids_a) == sorted(before + after)
    assert sorted(ids_b) == sorted(meanwhile + during)  # each change once for the group


async def test_a_reader_back_after_another_process_held_and_left_the_group_reads_on_after_it(
    backend: Backend,
) -> None:
    quiet = {"ops_rules_live": False}
    settings_a = ops_settings(backend, stream_lease_seconds=SHORT_LEASE, **quiet)
    settings_b = ops_settings(backend, stream_lease_seconds=LONG_LEASE, **quiet)
    await fresh_database(settings_a)
    async with running(settings_a) as (app_a, client), running(settings_b) as (app_b, _):
        stream_a: EventStream = app_a.state.stream
        stream_b: EventStream = app_b.state.stream
        datastream = await new_datastream(client, ADMIN)
        group = f"handover-{uuid.uuid4().hex[:8]}"
        first = stream_a.consumer(group)
        await drain(first)
        before = await write_readings(client, datastream, 3, start=0)
        await read_until(first, set(before))
        # A stalls past its lease; B takes the group, handles what came, commits, and stops
        meanwhile = await write_readings(client, datastream, 3, start=3)
        async with stream_b.consumer(group) as second:
            await read_until(second, set(meanwhile))
        after = await write_readings(client, datastream, 3, start=6)
        try:
            seen = await read_until(first, set(after))
        except GroupTaken:  # told, A reopens and reads on from the group's position
            async with stream_a.consumer(group) as again:
                seen = await read_until(again, set(after))
        await first.close()
    assert sorted(e.id for e in seen) == sorted(after)  # not `meanwhile` a second time


async def _owner_of(client: httpx.AsyncClient, group: str) -> str | None:
    answer = await client.get("/api/hub/stream", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    owners = {c["name"]: c["owner"] for c in answer.json()["consumers"]}
    owner: str | None = owners.get(group)
    return owner


async def test_the_rule_evaluator_applies_a_rule_made_while_another_process_held_its_group(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=live.__name__)
    # A wakes to read on a signal of its own process (a write through it) or after its poll:
    # a poll longer than its lease leaves the lease to run out between wake-ups, as a
    # stalled process's would
    settings_a = ops_settings(backend, stream_lease_seconds=SHORT_LEASE, stream_poll_seconds=30)
    settings_b = ops_settings(backend, stream_lease_seconds=LONG_LEASE)
    await fresh_database(settings_a)
    async with running(settings_a) as (_, a):
        station = await new_datastream(a, ADMIN, "Station 1")
        other = await new_datastream(a, ADMIN, "Station 2")
        first_rule = await new_rule(a, ADMIN, **threshold(station, name="Station 1 high"))
        await send(a, ADMIN, station, 0, 60)

        async def raised(client: httpx.AsyncClient, rule: int, **expected: Any) -> bool:
            found = await alerts(client, ADMIN, rule_id=rule)
            return len(found) == 1 and all(found[0][k] == v for k, v in expected.items())

        # A evaluated a reading: its rules are read and kept
        await until(lambda: raised(a, first_rule, state="active"), "A to raise the first alert")
        owner_a = await _owner_of(a, live.GROUP)
        assert owner_a is not None

        async with running(settings_b) as (_, b):

            async def taken_by_b() -> bool:
                return (await _owner_of(b, live.GROUP)) not in (None, owner_a)

            await until(taken_by_b, "B to take the group once A's lease ran out")
            second_rule = await new_rule(b, ADMIN, **threshold(other, name="Station 2 high"))
            await send(b, ADMIN, other, 1, 60)
            await until(lambda: raised(b, second_rule, state="active"), "B to raise on the rule")
            # a write through A wakes its reader, which finds B holding the group
            await send(a, ADMIN, station, 2, 70)
            await until(lambda: raised(b, first_rule, count=2), "B to evaluate A's reading")

            async def told() -> bool:
                return any("reading again after" in r.getMessage() for r in caplog.records)

            # B leaves once A's reader was told, or had all the time to be: were it not
            # told, it would come back later with the rules it kept
            told_while_b_held = await at_most(told)
        # B stopped (its lease released); a reading through A wakes A, which reads on
        await send(a, ADMIN, other, 3, 10)
        await until(
            lambda: raised(a, second_rule, state="cleared"),
            "A to clear the alert of the rule made while B's process held the group",
        )
    assert told_while_b_held, "A's evaluator was not told (GroupTaken) that B held its group"
