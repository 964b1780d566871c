"""The SensorThings MQTT bridge: creations in through the ingest or `hub.service`, changes out.

Creations are written concurrently (a bounded number at a time), plain Observations batched by
`hub.ingest`; one task publishes each committed change, in commit order, to every topic that
announces it; the connection to the broker is kept up in between.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import orjson
from paho.mqtt.properties import Properties
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.events.broker import Publication, start_embedded_broker
from cityhelix.events.bus import EntityEvent, EventBus, Subscription
from cityhelix.hub import service
from cityhelix.hub.body import parse_json_body
from cityhelix.hub.errors import BadRequest, HubError
from cityhelix.hub.ingest import ObservationIngest, plain_observation
from cityhelix.hub.model import BY_NAME
from cityhelix.hub.mqtt.data_arrays import DataArrayWriter
from cityhelix.hub.mqtt.links import (
    DEFAULT_WINDOW,
    SHARE_GROUP,
    BrokerLink,
    Delivery,
    EmbeddedLink,
    ExternalLink,
    Session,
)
from cityhelix.hub.mqtt.publisher import Publisher
from cityhelix.hub.mqtt.sessions import SlotKeeper
from cityhelix.hub.mqtt.topics import (
    CREATE_OBSERVATIONS_TOPIC,
    creation_path,
    entity_topics,
    filter_matches,
    select_topics,
)
from cityhelix.hub.mqtt_state import DeadLetter, DeadLetterStore, SlotLeases, deployment_id
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)

#: a notification to publish: topic, payload, MQTT 5 properties
Notification = tuple[str, bytes, Properties | None]

#: who creates what arrives through an external broker, which cannot say who published;
#: an operator writes every SensorThings entity and nothing outside the hub
INGEST_PRINCIPAL = Principal("mqtt-ingest", Role.OPERATOR)
#: the longest wait between two attempts to reach a broker that went away
MAX_RETRY_DELAY = 30.0
#: creations written by their own transaction at once (deep inserts, other entities):
#: each holds a pooled connection, and a window of them queued in the pool starved the
#: ingest's writer and the notifications of connections (and timed out)
DIRECT_WRITES = 4
#: committed changes announced together (each is published to 3 or 4 topics): one query
#: reads them, and their publishes are in flight together
ANNOUNCE_CHUNK = 500


class MqttUnavailable(RuntimeError):
    """The broker cannot be reached (or refuses the hub) at start-up."""


class MqttBridge:
    """SensorThings over MQTT on one broker link.

    `accepted`, `refused` and `failed` count creations: written; rejected by the hub (bad
    topic or body, not allowed: MQTT 3.1.1 has no way to tell the publisher); lost to an
    error or an overflowing queue. At most `window` creations are written at a time; plain
    Observations go through `ingest` (the bridge starts and stops it when it `owns_ingest`).
    """

    def __init__(
        self,
        engine: AsyncEngine,
        bus: EventBus,
        link: BrokerLink,
        base_url: str,
        ingest: ObservationIngest,
        *,
        owns_ingest: bool = False,
        window: int = DEFAULT_WINDOW,
        max_body_bytes: int = 16 * 1024 * 1024,
        retry_delay: float = 1.0,
        batch_rows: int = 1000,
        notify_qos: int = 1,
        dead_letters: DeadLetterStore | None = None,
        slots: SlotKeeper | None = None,
    ) -> None:
        self._engine = engine
        self._bus = bus
        self._link = link
        self._base_url = base_url
        self._ingest = ingest
        self._owns_ingest = owns_ingest
        self._slots = asyncio.Semaphore(window)
        self._direct_slots = asyncio.Semaphore(DIRECT_WRITES)
        self._data_arrays = DataArrayWriter(engine, bus, batch_rows=batch_rows)
        self._max_body_bytes = max_body_bytes
        self._retry_delay = retry_delay
        self._dead_letters = dead_letters
        self._keeper = slots
        self._client = link.new_client()
        self._publisher = Publisher(self._client)
        self._notify_qos = notify_qos
        self._stack = AsyncExitStack()
        self._events: Subscription | None = None
        self._pending: list[EntityEvent] = []
        self._reader: asyncio.Task[None] | None = None
        self._connection: asyncio.Task[None] | None = None
        self._creations: set[asyncio.Task[None]] = set()
        self._events_dropped = 0
        self._processed = asyncio.Condition()
        self.accepted = 0
        self.refused = 0
        self._failed = 0
        #: notifications handed to the broker, and committed changes announced to no one (the
        #: embedded broker had no client whose subscription matched any of their topics)
        self.notifications = 0
        self.unheard_changes = 0

    @property
    def failed(self) -> int:
        return self._failed + self._link.dropped

    async def wait_processed(self, count: int) -> None:
        """Return once `count` creations were handled, whatever came of them (tests, bench)."""
        async with self._processed:
            await self._processed.wait_for(
                lambda: self.accepted + self.refused + self.failed >= count
            )

    @property
    def link(self) -> BrokerLink:
        """The broker this bridge works through."""
        return self._link

    @property
    def client_id(self) -> str:
        """The MQTT client identifier the hub uses on the broker."""
        return self._client.identifier

    def status(self) -> dict[str, Any]:
        """Counters and identity for `GET /api/hub/ingest` (this process's)."""
        link = self._link
        dead_letters = self._dead_letters
        status: dict[str, Any] = {
            "broker": link.description,
            "client_id": self.client_id,
            "accepted": self.accepted,
            "refused": self.refused,
            "failed": self.failed,
            "own_notifications": link.own_notifications,
            "notifications": self.notifications,
            "unheard_changes": self.unheard_changes,
            "dead_letters": None
            if dead_letters is None
            else {"kept": dead_letters.kept, "lost": dead_letters.lost, "cap": dead_letters.cap},
        }
        if not isinstance(link, ExternalLink):
            # amqtt acknowledges on receipt: nothing is kept for the hub while it is away
            return {**status, "session": {"kind": "embedded", "slot": None}}
        keeper = self._keeper
        return {
            **status,
            "session": {
                "kind": link.session.kind,
                "slot": link.session.slot,
                "expiry": link.session.expiry,
                "adopted_sessions": 0 if keeper is None else keeper.adopted,
            },
            "deployment": link.deployment,
            "share_group": link.share_group,
            "foreign_notifications": link.foreign_notifications,
            "other_deployments": sorted(
                link.other_deployments.values(), key=lambda other: str(other["deployment"])
            ),
            "waiting": link.waiting,
            "most_waiting": link.most_waiting,
            "queue_bound": link.queue_bound,
            "read_pauses": link.pauses,
        }

    @property
    def dead_letters(self) -> DeadLetterStore | None:
        """Where refused creations are kept (None: not kept)."""
        return self._dead_letters

    @property
    def slots(self) -> SlotKeeper | None:
        """The leased session slot of this process (None: no slot, see `link.session`)."""
        return self._keeper

    async def start(self) -> None:
        """Connect, then serve in the background; MqttUnavailable when the broker is not there."""
        if self._owns_ingest:
            await self._ingest.start()
            self._stack.push_async_callback(self._ingest.stop)
        self._stack.push_async_callback(self._link.close)
        if self._dead_letters is not None:
            self._dead_letters.start()
            self._stack.push_async_callback(self._dead_letters.stop)
        if self._keeper is not None:
            self._stack.push_async_callback(self._keeper.stop)  # frees the slot
        # taking creations before the connection is up: a persistent session's messages come
        # right after the CONNACK, and past `queue_bound` of them the hub stops reading its
        # socket (and would not read the SUBACK it waits for) until some are taken
        self._reader = asyncio.create_task(self._take_creations(), name="cityhelix-mqtt-ingest")
        try:
            self._events = await self._stack.enter_async_context(self._bus.subscribe())
            await self._connect()
        except aiomqtt.MqttError as error:
            await self._abandon_start()
            raise MqttUnavailable(
                f"cannot reach the MQTT broker at {self._link.description}: {error}. "
                "Check CITYHELIX_MQTT_URL (or unset it to run the embedded broker)."
            ) from None
        except BaseException:
            await self._abandon_start()
            raise
        self._connection = asyncio.create_task(
            self._stay_connected(), name="cityhelix-mqtt-connection"
        )
        for task in (self._reader, self._connection):
            task.add_done_callback(_report_crash)
        if self._keeper is not None and isinstance(self._link, ExternalLink):
            self._keeper.start(self._link)
        logger.info("SensorThings MQTT on %s as %s", self._link.description, self.client_id)

    async def _abandon_start(self) -> None:
        assert self._reader is not None
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)
        self._reader = None
        await asyncio.gather(*self._creations, return_exceptions=True)
        await self._stack.aclose()

    async def stop(self) -> None:
        """Write (and acknowledge) what was received, disconnect, stop the embedded broker."""
        if self._keeper is not None:
            # no session adopted from now on; the slot is freed after the disconnection
            await self._keeper.stop_adopting()
        if self._reader is not None:
            self._reader.cancel()
            # a task that crashed before was reported then (_report_crash); stop regardless
            await asyncio.gather(self._reader, return_exceptions=True)
        # what the embedded broker acknowledged already must be written; what an external
        # broker sent is acknowledged once written, before the connection goes
        for delivery in await self._link.waiting_deliveries():
            await self._slots.acquire()
            self._start(delivery)
        await asyncio.gather(*self._creations, return_exceptions=True)
        if self._connection is not None:
            self._connection.cancel()
            await asyncio.gather(self._connection, return_exceptions=True)
        self._reader = self._connection = None
        logger.info(
            "MQTT creations: %d accepted, %d refused, %d failed",
            self.accepted,
            self.refused,
            self.failed,
        )
        await self._stack.aclose()

    # ---------------------------------------------------------------- creations in

    async def _take_creations(self) -> None:
        """Start a write for each creation, at most `window` at a time, in arrival order."""
        while True:
            await self._slots.acquire()
            try:
                delivery = await self._link.next_delivery()
            except BaseException:
                self._slots.release()
                raise
            self._start(delivery)

    def _start(self, delivery: Delivery) -> None:
        creation = asyncio.create_task(self._settle(delivery))
        self._creations.add(creation)
        creation.add_done_callback(self._creations.discard)

    async def _settle(self, delivery: Delivery) -> None:
        try:
            await self._create(delivery.publication)
            delivery.settle()  # the broker may forget it: written, or refused for good
        finally:
            self._slots.release()

    async def _create(self, publication: Publication) -> None:
        """Write one creation exactly as an HTTP POST to the topic's path would."""
        topic, principal = publication.topic, publication.principal
        try:
            refused_rows = await self._write(publication)
        except HubError as error:
            self.refused += 1
            logger.warning(
                "refused MQTT creation on %s by %s (%d): %s",
                topic,
                principal.name,
                error.status,
                error.message,
            )
            self._keep(publication, error.status, error.message)
        except Exception as error:
            # one bad message must not stop the ingest of all others; it is counted and
            # logged with its traceback, never swallowed silently
            self._failed += 1
            logger.exception("MQTT creation on %s by %s failed", topic, principal.name)
            self._keep(publication, 500, f"the hub failed to write it: {type(error).__name__}")
        else:
            self.accepted += 1
            if refused_rows:
                self._keep(publication, 400, refused_rows)
        async with self._processed:
            self._processed.notify_all()

    def _keep(self, publication: Publication, status: int, reason: str) -> None:
        if self._dead_letters is not None:
            self._dead_letters.keep(
                DeadLetter(
                    datetime.now(UTC),
                    publication.topic,
                    publication.payload,
                    status,
                    reason,
                    publication.principal.name,
                )
            )

    async def _write(self, publication: Publication) -> str:
        """Write a creation; what was refused of a DataArray message's rows ("" if nothing)."""
        topic, principal = publication.topic, publication.principal
        data_array = topic == CREATE_OBSERVATIONS_TOPIC
        path = None if data_array else creation_path(topic)
        if len(publication.payload) > self._max_body_bytes:
            raise BadRequest(f"the body is larger than {self._max_body_bytes} bytes")
        body = parse_json_body(publication.payload)
        request_path = f"mqtt:{topic}"
        if path is None:
            # the DataArray extension: many readings in one message; the messages that wait
            # are written together
            answers = await self._data_arrays.write(
                service.DataArrayRequest(principal, body, request_path)
            )
            if refused := answers.count(None):
                logger.warning(
                    "refused %d of %d rows of an MQTT CreateObservations by %s",
                    refused,
                    len(answers),
                    principal.name,
                )
                return f"{refused} of its {len(answers)} rows were refused"
            return ""
        target = plain_observation(path, body)
        if target is None:
            async with self._direct_slots:
                await service.create(self._engine, principal, path, body, request_path, self._bus)
            return ""
        await self._ingest.submit(
            principal,
            target,
            body,
            request_path=request_path,
            wait=True,  # back-pressure: the broker holds what the hub cannot take yet
        )
        return ""

    # ---------------------------------------------------------------- notifications out

    async def _connect(self) -> None:
        if self._keeper is not None and self._keeper.lost.is_set():
            assert isinstance(self._link, ExternalLink)
            self._link.session = await self._keeper.take_slot()
        # a client per connection: the identity may have changed (a slot lost and retaken)
        self._client = self._link.new_client()
        self._publisher = Publisher(self._client)
        await self._client.__aenter__()
        try:
            await self._link.listen(self._client)
        except BaseException:
            await self._client.__aexit__(None, None, None)
            raise

    async def _stay_connected(self) -> None:
        """Serve while connected; when the broker goes away, reconnect and carry on."""
        while True:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self._link.receive(self._client))
                    group.create_task(self._announce())
                    if self._keeper is not None:
                        group.create_task(self._until_slot_lost(self._keeper))
            except* aiomqtt.MqttError as errors:
                logger.warning(
                    "lost %s (%s); reconnecting", self._link.description, errors.exceptions[0]
                )
            finally:
                await self._client.__aexit__(None, None, None)
            await self._reconnect()

    @staticmethod
    async def _until_slot_lost(slots: SlotKeeper) -> None:
        await slots.lost.wait()
        raise aiomqtt.MqttError(f"another process took MQTT slot {slots.slot}")

    async def _reconnect(self) -> None:
        delay = self._retry_delay
        while True:
            await asyncio.sleep(delay)
            try:
                await self._connect()
            except aiomqtt.MqttError as error:
                logger.warning("still cannot reach %s: %s", self._link.description, error)
                delay = min(delay * 2, MAX_RETRY_DELAY)
                continue
            logger.info("reconnected to %s", self._link.description)
            return

    async def _announce(self) -> None:
        """Publish committed changes in commit order; a chunk that fails to go out is retried.

        Changes go out a chunk at a time (what waited, up to `ANNOUNCE_CHUNK`): one snapshot
        query per entity type of the chunk, and its publishes in flight together: one query
        and one round trip per change kept the hub to about 20 changes a second (BENCHMARKS.md
        section 3). A longer batch of the bus is split: its rest waits in the subscription
        for the next chunk, in order.
        """
        events = self._events
        assert events is not None
        while True:
            if not self._pending:
                self._pending = list(await events.take(ANNOUNCE_CHUNK))
                while len(self._pending) < ANNOUNCE_CHUNK and not events.empty():
                    self._pending += events.take_nowait(ANNOUNCE_CHUNK - len(self._pending))
                self._note_lost_events()
            messages = await self._notifications(self._pending)
            self.notifications += len(messages)  # (again when a lost connection resends them)
            # in commit order; the next chunk waits for this one's acknowledgements
            await self._publisher.publish(messages, qos=self._notify_qos)
            self._pending = []

    async def _notifications(self, events: list[EntityEvent]) -> list[Notification]:
        """(topic, payload, properties) of every notification `events` call for, in order.

        None for a deletion, nor for an entity deleted since (its deletion is not announced).
        When the broker tells every subscription it holds (the embedded one), a topic no
        client subscribed to gets nothing, and a chunk that no one listens to is not even
        read back: publishing the demo province's 14,000 readings to nobody was half of its
        load time through amqtt, as FROST-Server also announces only what is subscribed.
        """
        filters = tuple(self._link.subscribed_filters())
        heard: tuple[str, ...] | None = filters if self._link.knows_subscriptions else None
        if heard == ():
            self.unheard_changes += sum(event.action != "delete" for event in events)
            return []
        wanted: dict[str, list[int]] = {}
        for event in events:
            if event.action != "delete":
                wanted.setdefault(event.entity_type, []).append(event.id)
        snapshots: dict[str, dict[int, service.Snapshot]] = {}
        for type_name, ids in wanted.items():
            try:
                snapshots[type_name] = await service.read_snapshots(
                    self._engine, BY_NAME[type_name], ids
                )
            except Exception:
                # the changes are committed whatever happens here; losing their
                # notifications is logged with the traceback and the rest go out as usual
                logger.exception("cannot announce %d changes of %s", len(ids), type_name)
        messages: list[Notification] = []
        for event in events:
            snapshot = snapshots.get(event.entity_type, {}).get(event.id)
            if event.action == "delete" or snapshot is None:
                continue
            try:
                found = self._messages_of(snapshot, filters, heard)
            except Exception:
                logger.exception(
                    "cannot announce %s %s(%d)", event.action, event.entity_type, event.id
                )
                continue
            if not found:
                self.unheard_changes += 1
            messages += found
        return messages

    def _messages_of(
        self, snapshot: service.Snapshot, filters: tuple[str, ...], heard: tuple[str, ...] | None
    ) -> list[Notification]:
        """The notifications of one entity: on every topic of it, or with `heard` (the
        broker's every subscription) only on those a subscription matches."""
        every = entity_topics(snapshot.entity_type, snapshot.id, snapshot.links)
        topics = (
            every
            if heard is None
            else [topic for topic in every if any(filter_matches(f, topic) for f in heard)]
        )
        messages: list[Notification] = []
        if topics:
            document = orjson.dumps(snapshot.document(self._base_url))
            messages += [(topic, document, None) for topic in topics]
        # a narrowed document may lack the `@iot.id` that tells a whole one from a creation
        mark = self._link.notification_properties
        for narrowed in select_topics(filters, every):
            payload = orjson.dumps(snapshot.document(self._base_url, narrowed.select))
            messages.append((narrowed.topic, payload, mark))
        return messages

    def _note_lost_events(self) -> None:
        assert self._events is not None
        if self._events.dropped > self._events_dropped:
            logger.warning(
                "MQTT notifications fell behind: %d changes were not announced",
                self._events.dropped - self._events_dropped,
            )
            self._events_dropped = self._events.dropped


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s stopped", task.get_name(), exc_info=task.exception())


async def start_mqtt(
    settings: Settings,
    engine: AsyncEngine,
    bus: EventBus,
    *,
    http_root: str = "http://127.0.0.1:8000",
    select_filters: tuple[str, ...] = (),
    share_group: str | None = None,
    ingest_principal: Principal = INGEST_PRINCIPAL,
    ingest: ObservationIngest | None = None,
) -> MqttBridge | None:
    """The running bridge for `settings`, or None when MQTT is off.

    `settings.mqtt_url` names an external broker; otherwise the embedded one is started on
    `settings.mqtt_port` (0: no MQTT). SelfLinks start at `settings.public_url`, else at
    `http_root`. `select_filters` declares `?$select=` subscriptions an external broker
    cannot report, e.g. `v1.1/+/Observations?$select=result,phenomenonTime`. Without the
    app's `ingest`, the bridge runs one of its own. `share_group` overrides the settings'.
    """
    # two batches' worth: one being written while the next one gathers
    window = min(65_535, 2 * settings.ingest_batch_size)
    link: BrokerLink
    slots: SlotKeeper | None = None
    if settings.mqtt_url:
        deployment = await deployment_id(engine)
        group = share_group if share_group is not None else settings.mqtt_share_group
        if group is None:
            group = f"{SHARE_GROUP}-{deployment[:8]}"
        session, slots = await _session(settings, engine, deployment)
        link = ExternalLink(
            settings.mqtt_url,
            ingest_principal,
            session=session,
            share_group=group,
            select_filters=select_filters,
            window=window,
            deployment=deployment,
            public_url=settings.public_url.rstrip("/"),
        )
    elif settings.mqtt_port == 0:
        return None
    else:
        link = EmbeddedLink(await start_embedded_broker(settings, engine), select_filters)
    base_url = (settings.public_url.rstrip("/") or http_root.rstrip("/")) + "/v1.1"
    owns_ingest = ingest is None
    if ingest is None:
        ingest = ObservationIngest(
            engine,
            bus,
            batch_size=settings.ingest_batch_size,
            batch_ms=settings.ingest_batch_ms,
            queue_size=settings.ingest_queue_size,
        )
    bridge = MqttBridge(
        engine,
        bus,
        link,
        base_url,
        ingest,
        owns_ingest=owns_ingest,
        window=window,
        max_body_bytes=settings.max_body_bytes,
        batch_rows=settings.ingest_batch_size,
        notify_qos=settings.mqtt_notify_qos,
        dead_letters=DeadLetterStore(engine, settings.mqtt_dead_letters),
        slots=slots,
    )
    await bridge.start()
    return bridge


async def _session(
    settings: Settings, engine: AsyncEngine, deployment: str
) -> tuple[Session, SlotKeeper | None]:
    """The hub's session on an external broker: a leased slot's, unless configured otherwise."""
    if settings.mqtt_clean_session:
        identifier = f"cityhelix-hub-{secrets.token_hex(6)}"
        logger.warning(
            "CITYHELIX_MQTT_CLEAN_SESSION is set: MQTT client %s has a clean session; readings "
            "the broker takes while this process is away or restarting are lost",
            identifier,
        )
        return Session(identifier, persistent=False), None
    if settings.mqtt_client_id:
        logger.info(
            "MQTT client id %s from CITYHELIX_MQTT_CLIENT_ID (persistent session, no slot)",
            settings.mqtt_client_id,
        )
        return Session(settings.mqtt_client_id, True, settings.mqtt_session_expiry), None
    keeper = SlotKeeper(
        SlotLeases(engine, settings.mqtt_slot_lease), deployment, settings.mqtt_session_expiry
    )
    return await keeper.take_slot(), keeper
