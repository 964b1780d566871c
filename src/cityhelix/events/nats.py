"""The durable stream on NATS JetStream, for hub processes and consumers on many machines.

Nothing committed may be lost, so the database outbox stays the source: a relay (a consumer
group of the database backend, so one process relays at a time) publishes each change to a
JetStream stream and stores its position only after JetStream acknowledged it; a change
published twice after a crash is dropped by JetStream's de-duplication (`Nats-Msg-Id`).
Consumer groups are durable JetStream pull consumers with one change in flight at a time,
so a group sees each change once, in order, whichever of its processes reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.events import outbox
from cityhelix.events.bus import EventBus
from cityhelix.events.database import DatabaseStream
from cityhelix.events.stream import (
    Change,
    ConsumerStatus,
    EventStream,
    Start,
    StreamConsumer,
    StreamStatus,
)
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)

#: the relay's consumer group in the database backend
RELAY_GROUP = "nats-relay"
#: events per JetStream message: a 10,000-reading transaction would pass NATS's 1 MB limit
EVENTS_PER_MESSAGE = 1000
#: how long JetStream remembers message ids to drop a change the relay publishes again
DUPLICATE_WINDOW = timedelta(hours=1)
_POSITION = "Cityhelix-Position"
_COMMITTED = "Cityhelix-Committed-At"


class NatsStream(EventStream):
    backend = "nats"

    def __init__(self, settings: Settings, engine: AsyncEngine, bus: EventBus) -> None:
        self.settings = settings
        self.subject = f"{settings.nats_stream}.changes"
        self._outbox = DatabaseStream(settings, engine, bus)
        self._client: Client | None = None
        self._relay: asyncio.Task[None] | None = None

    @property
    def jetstream(self) -> JetStreamContext:
        if self._client is None:
            raise RuntimeError("the NATS stream is not started")
        return self._client.jetstream()

    async def start(self) -> None:
        await self._outbox.start()
        self._client = await nats.connect(self.settings.nats_url, max_reconnect_attempts=-1)
        retention = timedelta(hours=self.settings.stream_retention_hours)
        config = StreamConfig(
            name=self.settings.nats_stream,
            subjects=[self.subject],
            max_age=retention.total_seconds(),
            duplicate_window=min(retention, DUPLICATE_WINDOW).total_seconds(),
        )
        try:
            await self.jetstream.stream_info(self.settings.nats_stream)
        except NotFoundError:
            await self.jetstream.add_stream(config)
        else:
            await self.jetstream.update_stream(config)
        self._relay = asyncio.create_task(self._relay_forever(), name="cityhelix-nats-relay")

    async def stop(self) -> None:
        if self._relay is not None:
            self._relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relay
        if self._client is not None:
            await self._client.close()
            self._client = None
        await self._outbox.stop()

    async def _relay_forever(self) -> None:
        while True:
            try:
                async with self._outbox.consumer(RELAY_GROUP, start="earliest") as relay:
                    while True:
                        for change in await relay.read(limit=100):
                            await self._publish(change)
                        await relay.commit()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the NATS relay failed; it starts again from its position")
                await asyncio.sleep(self.settings.stream_poll_seconds)

    async def _publish(self, change: Change) -> None:
        events = change.events
        for part, first in enumerate(range(0, max(len(events), 1), EVENTS_PER_MESSAGE)):
            position = f"{change.position}/{part}"
            await self.jetstream.publish(
                self.subject,
                outbox.encode(events[first : first + EVENTS_PER_MESSAGE]).encode(),
                headers={
                    "Nats-Msg-Id": f"{self.settings.nats_stream}:{position}",
                    _POSITION: position,
                    _COMMITTED: change.committed_at.isoformat(),
                },
            )

    def consumer(self, group: str, *, start: Start = "latest") -> NatsConsumer:
        return NatsConsumer(self, group, start)

    async def status(self) -> StreamStatus:
        relay_status = await self._outbox.status()
        relay = [c for c in relay_status.consumers if c.name == RELAY_GROUP]
        info = await self.jetstream.stream_info(self.settings.nats_stream)
        consumers: list[ConsumerStatus] = list(relay)
        for consumer in await self.jetstream.consumers_info(self.settings.nats_stream):
            pending = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            consumers.append(
                ConsumerStatus(
                    consumer.name,
                    str(consumer.ack_floor.stream_seq if consumer.ack_floor else 0),
                    pending,
                    -1,  # JetStream counts messages, not the events in them
                    None,
                    None,
                    None,
                )
            )
        oldest = None
        if info.state.messages:
            first = await self.jetstream.get_msg(self.settings.nats_stream, info.state.first_seq)
            committed = (first.headers or {}).get(_COMMITTED)
            oldest = datetime.fromisoformat(committed) if committed else None
        return StreamStatus(
            self.backend,
            self.settings.stream_retention_hours,
            int(info.state.messages),
            oldest,
            tuple(consumers),
        )


class NatsConsumer(StreamConsumer):
    """A durable JetStream pull consumer named after the group, one change in flight."""

    def __init__(self, stream: NatsStream, group: str, start: Start) -> None:
        if not group or any(c in group for c in " .*>") or len(group) > 100:
            raise ValueError("a NATS consumer group's name has no spaces, '.', '*' or '>'")
        self.group = group
        self._stream = stream
        self._start = start
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._unacked: list[Msg] = []

    async def _subscribe(self) -> JetStreamContext.PullSubscription:
        if self._subscription is None:
            settings = self._stream.settings
            config = ConsumerConfig(
                durable_name=self.group,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=settings.stream_lease_seconds,
                # one change in flight for the whole group: each once, in commit order
                max_ack_pending=1,
                deliver_policy=DeliverPolicy.ALL
                if self._start == "earliest"
                else DeliverPolicy.NEW,
                filter_subject=self._stream.subject,
            )
            self._subscription = await self._stream.jetstream.pull_subscribe(
                self._stream.subject,
                durable=self.group,
                stream=settings.nats_stream,
                config=config,
            )
        return self._subscription

    async def read(self, *, limit: int = 100, timeout: float | None = None) -> list[Change]:
        if self._unacked:
            raise RuntimeError("commit the changes read before reading on (NATS: one in flight)")
        subscription = await self._subscribe()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wait = 5.0 if deadline is None else max(0.05, min(5.0, deadline - loop.time()))
            try:
                # one at a time: the group has one change in flight (max_ack_pending=1)
                messages = await subscription.fetch(batch=1, timeout=wait)
            except (NatsTimeout, TimeoutError):
                if deadline is not None and loop.time() >= deadline:
                    return []
                continue
            self._unacked = messages
            return [_change(message) for message in messages]

    async def commit(self) -> None:
        for message in self._unacked:
            await message.ack_sync()
        self._unacked = []

    async def close(self) -> None:
        for message in self._unacked:
            with contextlib.suppress(Exception):
                await message.nak()  # to the group's next reader at once
        self._unacked = []
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None


def _change(message: Msg) -> Change:
    headers = message.headers or {}
    return Change(
        headers.get(_POSITION, ""),
        datetime.fromisoformat(headers[_COMMITTED]) if _COMMITTED in headers else datetime.now(UTC),
        outbox.decode(message.data),
    )
