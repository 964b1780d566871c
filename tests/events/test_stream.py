"""The durable stream of committed changes, one suite over every backend.

Each backend runs under a real app (`create_app` with its lifespan) on a database of its
own: the database backend on SQLite and on PostgreSQL, the NATS backend (JetStream at
127.0.0.1:4222, `CITYHELIX_TEST_NATS_URL`) on PostgreSQL. Readings are written over HTTP.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from cityhelix.app import create_app
from cityhelix.auth.principal import Principal, Role
from cityhelix.events import outbox
from cityhelix.events.bus import EntityEvent, EventBus
from cityhelix.events.stream import Change, Events, EventStream, StreamConsumer, position_order
from cityhelix.events.tables import event_outbox
from cityhelix.hub import service
from cityhelix.hub.query.path import parse_path
from cityhelix.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.hub.factories import make_datastream
from tests.hub.processes import fresh_postgres, start_hub

pytestmark = pytest.mark.asyncio

NATS_URL = os.environ.get("CITYHELIX_TEST_NATS_URL", "nats://127.0.0.1:4222")
STREAM_BACKENDS = ("database-sqlite", "database-postgresql", "nats")
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
TIMEOUT = 20.0


@dataclass
class StreamHub:
    backend: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings

    @property
    def stream(self) -> EventStream:
        stream: EventStream = self.app.state.stream
        return stream


@contextmanager
def _database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "database-sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'stream.db'}"
        return
    with fresh_postgres() as url:
        yield url


async def _drop_nats_stream(name: str) -> None:
    client = await nats.connect(NATS_URL)
    try:
        await client.jetstream().delete_stream(name)
    finally:
        await client.close()


def stream_settings(backend: str, url: str, nats_stream: str, **extra: Any) -> Settings:
    return Settings(
        database_url=url,
        admin_token=ADMIN_TOKEN,
        mqtt_port=0,
        stream_backend="nats" if backend == "nats" else "database",
        nats_url=NATS_URL,
        nats_stream=nats_stream,
        stream_poll_seconds=0.2,
        stream_lease_seconds=3,
        **extra,
    )


@pytest.fixture(scope="module", params=STREAM_BACKENDS)
async def stream_hub(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[StreamHub]:
    backend: str = request.param
    nats_stream = f"TEST_{uuid.uuid4().hex[:10]}"
    with _database(backend, tmp_path_factory.mktemp("stream")) as url:
        settings = stream_settings(backend, url, nats_stream)
        app = create_app(settings)
        # a small live bus: the tests show it drops what the durable stream keeps
        app.state.bus = EventBus(queue_size=50)
        try:
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://testserver"
                ) as client:
                    yield StreamHub(backend, app, client, settings)
        finally:
            if backend == "nats":
                await _drop_nats_stream(nats_stream)


async def write_readings(
    client: httpx.AsyncClient, stream_id: int, count: int, *, start: int = 0
) -> list[int]:
    """`count` readings of one Datastream by CreateObservations (one transaction); their ids."""
    rows = [
        [f"2026-11-01T00:{(start + i) // 60:02d}:{(start + i) % 60:02d}Z", start + i]
        for i in range(count)
    ]
    answer = await client.post(
        "/v1.1/CreateObservations",
        json=[
            {
                "Datastream": {"@iot.id": stream_id},
                "components": ["phenomenonTime", "result"],
                "dataArray": rows,
            }
        ],
        headers=ADMIN_HEADERS,
    )
    assert answer.status_code == 201, answer.text
    return [int(link.rsplit("(", 1)[1].rstrip(")")) for link in answer.json()]


async def post_reading(client: httpx.AsyncClient, stream_id: int, result: float) -> int:
    """One reading by a plain POST (the batched ingest); its id."""
    answer = await client.post(
        f"/v1.1/Datastreams({stream_id})/Observations",
        json={"phenomenonTime": "2026-11-02T08:00:00+07:00", "result": result},
        headers=ADMIN_HEADERS,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("(", 1)[1].rstrip(")"))


async def read_until(
    consumer: StreamConsumer, wanted: set[int], *, limit: int = 100
) -> list[EntityEvent]:
    """Observation creations read (and committed) until all of `wanted` came."""
    seen: list[EntityEvent] = []
    async with asyncio.timeout(TIMEOUT):
        while not wanted <= {e.id for e in seen}:
            changes = await consumer.read(limit=limit, timeout=TIMEOUT)
            seen.extend(observations(changes))
            await consumer.commit()
    return seen


async def drain(consumer: StreamConsumer) -> None:
    """Read and commit whatever the group has (a new group at "latest" may get the last few
    changes: those PostgreSQL cannot yet tell apart from ones that commit later)."""
    while await consumer.read(timeout=0.3):
        await consumer.commit()


def observations(changes: list[Change]) -> list[EntityEvent]:
    return [
        event
        for change in changes
        for event in change.events
        if event.topic == "hub.Observation.create"
    ]


def group() -> str:
    return f"group-{uuid.uuid4().hex[:8]}"


async def test_a_consumer_that_stops_and_restarts_sees_each_reading_once_in_commit_order(
    stream_hub: StreamHub,
) -> None:
    client = stream_hub.client
    first, second = (
        await make_datastream(client, ADMIN_HEADERS),
        await make_datastream(client, ADMIN_HEADERS, "Air station 2"),
    )
    name = group()
    async with stream_hub.stream.consumer(name) as consumer:
        await drain(consumer)  # the group starts after what was written so far
        before = await write_readings(client, first, 30)
        seen = await read_until(consumer, set(before))
    # stopped: readings of both streams keep coming, by both write paths
    while_stopped = await write_readings(client, second, 20)
    while_stopped += [await post_reading(client, first, 99.5) for _ in range(3)]
    while_stopped += await write_readings(client, first, 10, start=100)
    async with stream_hub.stream.consumer(name) as restarted:
        seen += await read_until(restarted, set(while_stopped))
        # nothing more: each reading came once
        assert observations(await restarted.read(timeout=0.5)) == []
    ids = [event.id for event in seen]
    assert sorted(ids) == sorted(before + while_stopped)
    assert len(ids) == len(set(ids))
    for stream_id in (first, second):
        of_stream = [e.id for e in seen if e.payload["datastream_id"] == stream_id]
        assert of_stream == sorted(of_stream)  # one writer at a time: commit order is id order
    single = next(e for e in seen if e.id == while_stopped[20])
    assert single.payload["result"] == 99.5
    assert single.payload["phenomenonTime"] == "2026-11-02T01:00:00Z"  # normalised to UTC


async def test_an_observation_event_carries_its_reading_stream_and_thing(
    stream_hub: StreamHub,
) -> None:
    client = stream_hub.client
    stream_id = await make_datastream(client, ADMIN_HEADERS)
    thing_id = (await client.get(f"/v1.1/Datastreams({stream_id})/Thing")).json()["@iot.id"]
    feature_id = None
    async with stream_hub.stream.consumer(group()) as consumer:
        await drain(consumer)
        (created,) = await write_readings(client, stream_id, 1, start=7)
        (event,) = await read_until(consumer, {created})
        feature = await client.get(f"/v1.1/Observations({created})/FeatureOfInterest")
        feature_id = feature.json()["@iot.id"]
    assert event.payload == {
        "datastream_id": stream_id,
        "thing_id": thing_id,
        "phenomenonTime": "2026-11-01T00:00:07Z",
        "resultTime": None,
        "result": 7,
        "feature_of_interest_id": feature_id,
    }


async def test_a_slow_consumer_is_never_skipped_where_the_live_bus_drops(
    stream_hub: StreamHub,
) -> None:
    client = stream_hub.client
    stream_id = await make_datastream(client, ADMIN_HEADERS)
    bus: EventBus = stream_hub.app.state.bus
    async with bus.subscribe() as live, stream_hub.stream.consumer(group()) as slow:
        await drain(slow)
        written: list[int] = []
        for batch in range(12):  # 12 transactions of 10: more than the live queue holds
            written += await write_readings(client, stream_id, 10, start=batch * 10)
        assert live.dropped > 0
        seen: list[EntityEvent] = []
        async with asyncio.timeout(TIMEOUT):
            while len(seen) < len(written):
                seen += observations(await slow.read(limit=1, timeout=TIMEOUT))
                await slow.commit()
    assert [event.id for event in seen] == written


async def test_a_large_write_comes_in_bounded_changes_each_reading_once_in_order(
    stream_hub: StreamHub,
) -> None:
    """25,000 readings in one transaction: changes of at most `EVENTS_PER_ROW` events (NATS
    messages: fewer), reads of at most `EVENTS_PER_READ`, so a consumer handles a bounded
    batch at a time; every reading once, in order, and what was read but not committed
    goes to the group's next reader."""
    client = stream_hub.client
    stream_id = await make_datastream(client, ADMIN_HEADERS)
    count = 25_000
    start = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        [(start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z"), i] for i in range(count)
    ]
    name = group()
    async with stream_hub.stream.consumer(name) as consumer:
        await drain(consumer)
        answer = await client.post(
            "/v1.1/CreateObservations",
            json=[
                {
                    "Datastream": {"@iot.id": stream_id},
                    "components": ["phenomenonTime", "result"],
                    "dataArray": rows,
                }
            ],
            headers=ADMIN_HEADERS,
        )
        assert answer.status_code == 201, answer.text[:300]
        written = [int(link.rsplit("(", 1)[1].rstrip(")")) for link in answer.json()]
        uncommitted = observations(await consumer.read(timeout=TIMEOUT))
        assert uncommitted
    seen: list[EntityEvent] = []
    reads: list[list[Change]] = []
    async with stream_hub.stream.consumer(name) as restarted:
        async with asyncio.timeout(TIMEOUT * 3):
            while len(seen) < count:
                changes = await restarted.read(timeout=TIMEOUT)
                reads.append(changes)
                seen += observations(changes)
                await restarted.commit()
        assert observations(await restarted.read(timeout=0.5)) == []
    assert [event.id for event in seen] == written
    assert seen[: len(uncommitted)] == uncommitted  # read again: nothing was committed
    assert [event.payload["result"] for event in seen] == list(range(count))
    assert len(reads) >= 2
    for changes in reads:
        assert all(len(change.events) <= outbox.EVENTS_PER_ROW for change in changes)
        assert sum(len(change.events) for change in changes) <= outbox.EVENTS_PER_READ


async def test_the_writing_process_reads_the_events_another_decodes_from_the_outbox(
    stream_hub: StreamHub,
) -> None:
    """The writing process keeps its own rows' events instead of decoding them again: what
    its groups read is what any other reader decodes from the stored text."""
    if stream_hub.backend == "nats":
        pytest.skip("the NATS consumers decode every message; the relay reads the outbox")
    client, engine = stream_hub.client, stream_hub.app.state.engine
    async with stream_hub.stream.consumer(group()) as consumer:
        await drain(consumer)
        stream_id = await make_datastream(client, ADMIN_HEADERS, "Air station 9")
        # the first write also makes the stream's FeatureOfInterest; the second only readings
        written = await write_readings(client, stream_id, 12)
        written += await write_readings(client, stream_id, 12, start=12)
        seen: list[Change] = []
        async with asyncio.timeout(TIMEOUT):
            while written[-1] not in {e.id for e in observations(seen)}:
                seen += await consumer.read(timeout=TIMEOUT)
    async with engine.connect() as connection:
        texts = {
            str(outbox.Position(row.xid, row.id)): row.events
            for row in await connection.execute(select(event_outbox))
        }
    stored = {position: list(outbox.decode(text)) for position, text in texts.items()}
    # the readings' row in columns (a fifth of the text), the Thing's as an array of events
    readings = next(c for c in seen if c.events.by_topic.keys() == {"hub.Observation.create"})
    assert list(orjson.loads(texts[readings.position])) == ["readings"]
    assert any(isinstance(orjson.loads(text), list) for text in texts.values())
    assert seen
    for change in seen:
        assert list(change.events) == stored[change.position]
    created = [e for change in seen for e in change.events if e.action == "create"]
    assert {e.entity_type for e in created} >= {"Thing", "Datastream", "Observation"}


async def test_a_changes_events_are_looked_up_by_topic_and_datastream() -> None:
    reading = partial(EntityEvent, "create", "Observation")
    events = [
        reading(1, {"datastream_id": 7, "result": 1}),
        EntityEvent("create", "Alert", 3, {"rule_id": 2}, "ops"),
        reading(2, {"multi_datastream_id": 7, "result": [1, 2]}),
        reading(4, {"datastream_id": 8, "result": 2}),
        reading(5, {"datastream_id": 7, "result": 3}),
        EntityEvent("delete", "Observation", 1),
    ]
    change = Change("0:1", datetime.now(UTC), tuple(events))  # a plain tuple is made Events
    assert isinstance(change.events, Events)
    assert list(change.events) == events
    assert change.events.by_topic == {
        "hub.Observation.create": (events[0], events[2], events[3], events[4]),
        "ops.Alert.create": (events[1],),
        "hub.Observation.delete": (events[5],),
    }
    assert change.events.readings_by_datastream == {
        7: (events[0], events[4]),
        8: (events[3],),
    }


async def test_positions_sort_in_the_order_a_group_receives_changes() -> None:
    # the database backend's "xid:id" (ids of a younger transaction may be lower), the
    # NATS backend's "xid:id/part" (part 0 when absent), and the stream's start
    received = ["-1:0", "0:9", "7:120", "8:100", "8:100/1", "8:101/0", "12:3"]
    assert sorted(received, key=position_order) == received
    assert position_order("8:100") == position_order("8:100/0") == (8, 100, 0)
    assert position_order(str(outbox.Position(5, 40))) == (5, 40, 0)
    with pytest.raises(ValueError, match="not a stream position"):
        position_order("8")


async def test_writers_committing_out_of_order_are_not_skipped(stream_hub: StreamHub) -> None:
    if stream_hub.backend == "database-sqlite":
        pytest.skip("SQLite runs one write transaction at a time: no commit can overtake")
    client, engine = stream_hub.client, stream_hub.app.state.engine
    stream_id = await make_datastream(client, ADMIN_HEADERS)
    # the held transaction writes another Datastream: it would hold this one's row lock
    held_stream = await make_datastream(client, ADMIN_HEADERS, "Air station 2")
    async with stream_hub.stream.consumer(group()) as consumer:
        await drain(consumer)
        seen: list[EntityEvent] = []
        # an older transaction, still open while younger ones commit
        async with service.group_transaction(engine, stream_hub.app.state.bus) as (held, _log):
            late = await service.create(
                engine,
                Principal("admin", Role.ADMIN),
                parse_path("Observations"),
                {"Datastream": {"@iot.id": held_stream}, "result": -1},
                "/test",
                connection=held,
            )
            early = await asyncio.gather(
                *(write_readings(client, stream_id, 5, start=i * 5) for i in range(6))
            )
            # what the consumer may read now must not move it past the open transaction
            seen += observations(await consumer.read(timeout=0.5))
            await consumer.commit()
        reading = asyncio.create_task(read_until(consumer, {late.id}))
        later = await asyncio.gather(
            *(write_readings(client, stream_id, 5, start=100 + i * 5) for i in range(8))
        )
        seen += await reading
        everything = {late.id} | {i for ids in [*early, *later] for i in ids}
        seen += await read_until(consumer, everything - {e.id for e in seen})
    ids = [event.id for event in seen]
    assert sorted(ids) == sorted(everything)
    assert len(ids) == len(set(ids))


async def test_stream_status_shows_retention_and_each_consumers_lag(
    stream_hub: StreamHub,
) -> None:
    client = stream_hub.client
    stream_id = await make_datastream(client, ADMIN_HEADERS)
    name = group()
    async with stream_hub.stream.consumer(name) as consumer:
        await drain(consumer)
        await consumer.commit()
        await write_readings(client, stream_id, 4)
        await write_readings(client, stream_id, 4, start=4)

        async def lag() -> dict[str, Any]:
            answer = await client.get("/api/hub/stream", headers=ADMIN_HEADERS)
            assert answer.status_code == 200, answer.text
            (mine,) = [c for c in answer.json()["consumers"] if c["name"] == name]
            assert answer.json()["retention_hours"] == 168
            assert answer.json()["backend"] == stream_hub.settings.stream_backend
            return mine

        async with asyncio.timeout(TIMEOUT):
            while (await lag())["lag_changes"] < 2:
                await asyncio.sleep(0.1)  # the NATS relay publishes after the commit
        await read_until(consumer, set())
        while True:
            changes = await consumer.read(timeout=0.5)
            await consumer.commit()
            if not changes:
                break
        assert (await lag())["lag_changes"] == 0
    assert (await client.get("/api/hub/stream")).status_code == 401


@pytest.mark.parametrize(
    "backend",
    [
        "database-postgresql",
        "nats",
    ],
)
async def test_two_serve_processes_one_consumer_group_sees_each_reading_once(
    backend: str, tmp_path: Path
) -> None:
    nats_stream = f"TEST_{uuid.uuid4().hex[:10]}"
    env = {
        "CITYHELIX_ADMIN_TOKEN": ADMIN_TOKEN,
        "CITYHELIX_STREAM_BACKEND": "nats" if backend == "nats" else "database",
        "CITYHELIX_NATS_URL": NATS_URL,
        "CITYHELIX_NATS_STREAM": nats_stream,
        "CITYHELIX_STREAM_POLL_SECONDS": "0.2",
    }
    try:
        with fresh_postgres() as url:
            hubs = [start_hub(url, tmp_path / f"hub{n}.log", **env) for n in range(2)]
            try:
                await _two_writers_one_group(backend, url, nats_stream, hubs)
            finally:
                for hub in hubs:
                    hub.stop()
    finally:
        if backend == "nats":
            await _drop_nats_stream(nats_stream)


async def _two_writers_one_group(backend: str, url: str, nats_stream: str, hubs: list[Any]) -> None:
    # the consumers run in an app of their own (as a third process would) on the same database
    settings = stream_settings(backend, url, nats_stream)
    app = create_app(settings, migrate=False)
    async with app.router.lifespan_context(app):
        stream: EventStream = app.state.stream
        clients = [httpx.AsyncClient(base_url=hub.url, timeout=30) for hub in hubs]
        try:
            stream_ids = [
                await make_datastream(c, ADMIN_HEADERS, f"Station {n}")
                for n, c in enumerate(clients)
            ]
            name = group()
            first, second = stream.consumer(name), stream.consumer(name)
            await drain(first)

            async def write(client: httpx.AsyncClient, stream_id: int) -> list[int]:
                ids: list[int] = []
                for n in range(10):
                    ids += await write_readings(client, stream_id, 5, start=n * 5)
                    ids.append(await post_reading(client, stream_id, n))
                return ids

            async def consume(
                consumer: StreamConsumer, seen: list[int], stop: asyncio.Event
            ) -> None:
                # a reader leaves between batches, as a process that stops does: read,
                # handle, commit, then look at the stop. (A reader killed inside its commit
                # may have committed what it never handled: at-least-once is the promise
                # across a crash, see the restart tests; exactly once within a group holds
                # for readers that come and go between batches.)
                while not stop.is_set():
                    changes = await consumer.read(limit=5, timeout=0.3)
                    seen.extend(event.id for event in observations(changes))
                    await consumer.commit()

            seen_first: list[int] = []
            seen_second: list[int] = []
            stop_first, stop = asyncio.Event(), asyncio.Event()
            readers = [
                asyncio.create_task(consume(first, seen_first, stop_first)),
                asyncio.create_task(consume(second, seen_second, stop)),
            ]
            written = await asyncio.gather(*(write(c, s) for c in clients for s in stream_ids))
            everything = {i for ids in written for i in ids}
            # the first reader leaves half-way: the other reads on (or takes over)
            stop_first.set()
            await readers[0]
            await first.close()
            async with asyncio.timeout(TIMEOUT * 2):
                while not everything <= set(seen_first) | set(seen_second):
                    await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*readers, return_exceptions=True)
            await second.close()
        finally:
            for client in clients:
                await client.aclose()
    both = seen_first + seen_second
    assert sorted(both) == sorted(everything)  # each once, for the group as a whole


@asynccontextmanager
async def _served_stream(
    settings: Settings,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, int]]:
    """An app of its own on `settings`, started: (the app, a client of it, a Datastream)."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield app, client, await make_datastream(client, ADMIN_HEADERS)


@pytest.mark.parametrize("backend", ["database-sqlite", "database-postgresql"])
async def test_a_caught_up_group_takes_the_commits_of_its_read_gap_in_one_read(
    backend: str, tmp_path: Path
) -> None:
    """Commits that come faster than `stream_read_gap_ms` are read together (one read and
    one position store per gap, not per commit); an idle group reads at once when woken."""
    gap = 0.6
    with _database(backend, tmp_path) as url:
        settings = stream_settings(backend, url, "unused", stream_read_gap_ms=int(gap * 1000))
        async with _served_stream(settings) as (app, client, stream_id):
            stream: EventStream = app.state.stream
            async with stream.consumer(group()) as consumer:
                await drain(consumer)
                await asyncio.sleep(gap)  # idle for longer than the gap
                loop = asyncio.get_running_loop()
                first = await post_reading(client, stream_id, 1.0)
                woken = loop.time()
                assert [e.id for e in observations(await consumer.read(timeout=5))] == [first]
                assert loop.time() - woken < gap / 2  # read at once, not after a gap
                read_at = loop.time()
                await consumer.commit()
                reading = asyncio.create_task(consumer.read(timeout=5))
                more = [await post_reading(client, stream_id, float(i)) for i in range(3)]
                changes = await reading
                assert loop.time() - read_at >= gap * 0.9
                assert [e.id for e in observations(changes)] == more
                assert len(changes) == 3  # three transactions, one read


@pytest.mark.parametrize("backend", ["database-sqlite", "database-postgresql"])
async def test_the_groups_of_a_process_woken_by_one_commit_share_one_read_of_the_outbox(
    backend: str, tmp_path: Path
) -> None:
    """Every group reads after every commit; those of one process at one position read the
    outbox once between them, and each gets the whole change."""
    with _database(backend, tmp_path) as url:
        # the hub alone: no pillar's own group reads beside the three of the test
        # a lease long enough that no group renews it (a statement of its own) mid-test
        settings = stream_settings(backend, url, "unused", pillars="hub").model_copy(
            update={"stream_lease_seconds": 60.0}
        )
        async with _served_stream(settings) as (app, client, stream_id):
            stream: EventStream = app.state.stream
            reads: list[str] = []

            def count(*args: Any) -> None:
                statement: str = args[2]
                if "event_outbox" in statement and " OVER " in statement.upper():
                    reads.append(statement)

            event.listen(app.state.engine.sync_engine, "before_cursor_execute", count)
            async with AsyncExitStack() as stack:
                consumers = [
                    await stack.enter_async_context(stream.consumer(group())) for _ in range(3)
                ]
                for consumer in consumers:
                    await drain(consumer)
                # new groups start at positions of their own ("latest" when each was
                # made); a change read by all three puts them at one
                await post_reading(client, stream_id, 0.0)
                for consumer in consumers:
                    await drain(consumer)
                waiting = [asyncio.create_task(c.read(timeout=5)) for c in consumers]
                await asyncio.sleep(0.3)  # each has read, found nothing, and waits
                reads.clear()
                reading = await post_reading(client, stream_id, 1.0)
                changes = await asyncio.gather(*waiting)
                assert [[e.id for e in observations(c)] for c in changes] == [[reading]] * 3
                # one read; on a loaded machine a group may come after the shared read
                # ended (PostgreSQL's NOTIFY wakes them again): never one read a group
                assert len(reads) < len(consumers)


def _reading(entity_id: int, **payload: Any) -> EntityEvent:
    base = {
        "datastream_id": 7,
        "thing_id": 2,
        "phenomenonTime": f"2026-11-01T00:00:{entity_id % 60:02d}Z",
        "resultTime": None,
        "result": entity_id * 0.5,
        "feature_of_interest_id": 3,
    }
    return EntityEvent("create", "Observation", entity_id, {**base, **payload})


@pytest.mark.parametrize(
    ("events", "columns"),
    [
        ([_reading(i) for i in range(1, 50)], True),
        ([_reading(1, result={"a": [1, None]}), _reading(2, result="x", resultTime="t")], True),
        ([_reading(1), EntityEvent("update", "Thing", 3, {"name": "x", "properties": {}})], False),
        ([_reading(1), EntityEvent("delete", "Observation", 1)], False),
        ([_reading(1), EntityEvent("update", "Observation", 1, _reading(1).payload)], False),
        ([_reading(1), EntityEvent("create", "Observation", 2, {})], False),
        ([_reading(1, extra=1)], False),
        ([_reading(1), _reading(2, pillar_note=None)], False),
        (
            [
                _reading(1),
                EntityEvent(
                    "create",
                    "Observation",
                    2,
                    {
                        "multi_datastream_id": 7,
                        "thing_id": 2,
                        "phenomenonTime": "2026-11-01T00:00:00Z",
                        "resultTime": None,
                        "result": [1, 2],
                        "feature_of_interest_id": 3,
                    },
                ),
            ],
            False,
        ),
        ([EntityEvent("create", "Observation", 1, _reading(1).payload, "ops")], False),
    ],
)
async def test_an_outbox_row_of_readings_is_written_in_columns_and_read_back_the_same(
    events: list[EntityEvent], columns: bool
) -> None:
    text = outbox.encode(events)
    assert isinstance(orjson.loads(text), dict) is columns
    assert list(outbox.decode(text)) == events
