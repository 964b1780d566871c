"""The two ways the hub meets its MQTT broker: the embedded amqtt broker, or an external one.

Each says how the hub's client connects, where creations come from and who sent them, when a
creation is acknowledged, how the hub's own notifications are told apart, and which
`?$select=` subscriptions exist.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityhelix.auth.principal import Principal
from cityhelix.events.broker import EmbeddedBroker, Publication, PublicationQueue
from cityhelix.hub.mqtt.topics import CREATION_FILTER

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

logger = logging.getLogger(__name__)

#: the shared-subscription group of all hub processes: the broker gives each creation to one
#: (start_mqtt names it after the deployment: `cityhelix-<deployment id>`)
SHARE_GROUP = "cityhelix"
#: where each deployment says who it is (retained), so that another one on the broker shows
DEPLOYMENTS_TOPIC = "cityhelix/deployments"
#: how long a deployment's retained presence outlives its last announcement (every half)
PRESENCE_EXPIRY_SECONDS = 600
#: an adopted session counts as drained once nothing arrived for this long
DRAIN_IDLE_SECONDS = 2.0
#: how a whole document's selfLink begins, after its `@iot.id`
_SELF_LINK = b'"@iot.selfLink":"'
#: MQTT 5 user property on the hub's `?$select=` notifications
NOTIFICATION_MARK = ("cityhelix", "notification")
#: how every whole entity document the hub announces begins (orjson writes no spaces)
_DOCUMENT_START = b'{"@iot.id":'
#: QoS 1 requests the broker may have sent the hub and not yet had acknowledged
DEFAULT_WINDOW = 2000
#: paho's own limit on unacknowledged publishes: none, as it scans all of them per PUBACK;
#: `publisher.Publisher` keeps the broker's Receive Maximum instead
NOTIFICATIONS_IN_FLIGHT = 0


@dataclass(frozen=True)
class Delivery:
    """A creation from the broker, and `settle`: tell the broker the hub is done with it."""

    publication: Publication
    settle: Callable[[], None]


def _nothing() -> None:
    """Nothing to tell the broker."""


class BrokerLink(Protocol):
    """What the bridge needs from a broker, whichever it is."""

    @property
    def description(self) -> str:
        """Where the broker is, for logs and errors (never with credentials)."""
        ...

    async def next_delivery(self) -> Delivery:
        """The next creation to write, in arrival order."""
        ...

    async def waiting_deliveries(self) -> list[Delivery]:
        """The creations received and not taken yet (to write them before stopping)."""
        ...

    @property
    def dropped(self) -> int:
        """Creations lost before the hub could take them (a full queue, a client gone)."""
        ...

    @property
    def own_notifications(self) -> int:
        """The hub's own notifications the broker sent back to it (and it skipped)."""
        ...

    @property
    def notification_properties(self) -> Properties | None:
        """The MQTT 5 properties of a `?$select=` notification (None on MQTT 3.1.1)."""
        ...

    def new_client(self) -> aiomqtt.Client:
        """The hub's client; connected and reconnected by the bridge."""
        ...

    async def listen(self, client: aiomqtt.Client) -> None:
        """Ask for creations, after each (re)connection."""
        ...

    async def receive(self, client: aiomqtt.Client) -> None:
        """While connected, move creations arriving on `client` to the deliveries."""
        ...

    def subscribed_filters(self) -> Iterable[str]:
        """The topic filters clients hold, as far as this broker lets us know."""
        ...

    @property
    def knows_subscriptions(self) -> bool:
        """Whether `subscribed_filters` are all that clients hold (then a topic matching
        none of them needs no notification)."""
        ...

    async def close(self) -> None: ...


class EmbeddedLink:
    """The embedded broker: creations come in-process with their publisher's principal.

    The broker knows who published, so nothing needs telling apart: it never hands the hub's
    own client's messages over. amqtt speaks MQTT 3.1.1 only (no shared subscriptions, no
    properties), and needs neither here. It acknowledges a publication (PUBACK) as soon as it
    has it, before the hub wrote it: amqtt 0.12 has no hook that could delay that.
    """

    notification_properties: Properties | None = None
    own_notifications = 0
    #: amqtt lists every subscription, persistent sessions' while their clients are away too
    knows_subscriptions = True

    def __init__(self, broker: EmbeddedBroker, select_filters: Iterable[str] = ()) -> None:
        self.broker = broker
        self.description = f"the embedded broker on {broker.host}:{broker.port}"
        self.publications: PublicationQueue = broker.publications
        self._select_filters = tuple(select_filters)

    async def next_delivery(self) -> Delivery:
        return Delivery(await self.publications.get(), _nothing)

    async def waiting_deliveries(self) -> list[Delivery]:
        # each get() returns at once while the queue is not empty
        return [await self.next_delivery() for _ in range(len(self.publications))]

    @property
    def dropped(self) -> int:
        return self.publications.dropped

    def new_client(self) -> aiomqtt.Client:
        credentials = self.broker.internal_credentials
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=credentials.username,
            password=credentials.password,
            identifier=f"cityhelix-hub-{secrets.token_hex(6)}",
            protocol=aiomqtt.ProtocolVersion.V311,
            max_inflight_messages=NOTIFICATIONS_IN_FLIGHT,
        )

    async def listen(self, client: aiomqtt.Client) -> None:
        """Nothing to subscribe to: the broker hands creations over in-process."""

    async def receive(self, client: aiomqtt.Client) -> None:
        """Nothing arrives over the network; return (MqttError) only when the connection ends.

        Without this, a lost connection would show only at the next publish, after its timeout.
        """
        async for _message in client.messages:
            pass

    def subscribed_filters(self) -> Iterable[str]:
        return (*self.broker.subscribed_filters(), *self._select_filters)

    async def close(self) -> None:
        await self.broker.stop()


@dataclass(frozen=True)
class Session:
    """How the hub's client meets an external broker: its id, and whether its session lasts.

    A persistent session (Clean Start false, `expiry` seconds) is kept by the broker while
    the hub is away, with what it had not acknowledged and what arrived meanwhile; `slot` is
    the database slot the id came from (None for a configured id or a clean session).
    """

    client_id: str
    persistent: bool
    expiry: int = 0
    slot: int | None = None

    @property
    def kind(self) -> str:
        return "persistent" if self.persistent else "clean"


class ExternalLink:
    """An MQTT 5 broker run elsewhere (Mosquitto, EMQX...): one shared subscription per group
    (or, with no group, one hub alone on the broker).

    The broker does not tell who published, so every creation runs as `principal`; publish
    rights belong in the broker's ACLs. The hub's own notifications arrive on the very topics
    creations use; it tells them apart (`_is_notification`) and skips them.

    A creation is acknowledged (PUBACK) only once it is written and committed, so the broker
    keeps what the hub has not written. The hub asks for at most `window` unacknowledged
    creations (the MQTT 5 Receive Maximum), which Mosquitto 2.0 does not keep to; so when
    `queue_bound` creations wait, the hub stops reading its socket until half of them are
    taken: TCP then holds the broker back, which keeps the rest in the hub's session.
    With a persistent `session` the broker keeps it for `session.expiry` seconds while the
    hub is away and sends what it holds when a process with that id comes back.
    """

    def __init__(
        self,
        url: str,
        principal: Principal,
        *,
        session: Session,
        share_group: str = SHARE_GROUP,
        select_filters: Iterable[str] = (),
        window: int = DEFAULT_WINDOW,
        queue_bound: int | None = None,
        deployment: str = "",
        public_url: str = "",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"CITYHELIX_MQTT_URL must look like mqtt://user:token@host:1883 "
                f"(or mqtts:// for TLS), got {parts.scheme}://{parts.hostname or ''}..."
            )
        self._tls = parts.scheme == "mqtts"
        self._host = parts.hostname
        self._port = parts.port or (8883 if self._tls else 1883)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._principal = principal
        self.share_group = share_group
        self._select_filters = tuple(select_filters)
        self.session = session
        self._window = max(1, min(window, 65_535))
        self.queue_bound = max(1, queue_bound or self._window)
        self.deployment = deployment
        self._public_url = public_url.encode()
        self.description = f"{parts.scheme}://{self._host}:{self._port}"
        # bounded by `queue_bound` (and what one socket read brings): reading stops past it
        self._deliveries: asyncio.Queue[Delivery] = asyncio.Queue()
        self._intake: _Intake  # the current connection's, made by new_client
        self._reads: set[_SocketReads] = set()
        self.paused = False
        #: times reading stopped because `queue_bound` creations waited
        self.pauses = 0
        self.most_waiting = 0
        self.own_notifications = 0
        #: notifications of another deployment (selfLinks not at our `public_url`)
        self.foreign_notifications = 0
        #: other deployments seen on this broker: id -> what they announced of themselves
        self.other_deployments: dict[str, dict[str, object]] = {}
        # paho's Properties carries no annotations
        self.notification_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self.notification_properties.UserProperty = [NOTIFICATION_MARK]

    @property
    def creation_filter(self) -> str:
        if self.share_group:
            return f"$share/{self.share_group}/{CREATION_FILTER}"
        return CREATION_FILTER

    @property
    def waiting(self) -> int:
        """Creations received and not taken by the bridge yet."""
        return self._deliveries.qsize()

    def new_client(self) -> aiomqtt.Client:
        client, self._intake = self._client_with_intake(
            self.session.client_id,
            persistent=self.session.persistent,
            expiry=self.session.expiry,
        )
        return client

    def _client_with_intake(
        self, identifier: str, *, persistent: bool, expiry: int
    ) -> tuple[aiomqtt.Client, _Intake]:
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.ReceiveMaximum = self._window
        if persistent:
            connect.SessionExpiryInterval = expiry
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=not persistent,
            properties=connect,
            tls_context=ssl.create_default_context() if self._tls else None,
            max_inflight_messages=NOTIFICATIONS_IN_FLIGHT,
        )
        # aiomqtt 2.5 acknowledges on receipt and has no option against it; its paho client
        # (2.x) has one: manual acknowledgements, sent by `_Acknowledgements` after commit
        client._client.manual_ack_set(True)
        reads = _SocketReads(client, self._reads.discard)
        self._reads.add(reads)
        if self.paused:
            reads.pause()
        intake = _Intake(_Acknowledgements(client._client), reads)
        client._client.on_message = partial(self._on_message, intake)
        return client, intake

    async def listen(self, client: aiomqtt.Client) -> None:
        """One shared subscription to every creation topic; without a group, a plain one.

        A hub alone (no group) asks the broker for No Local, which MQTT 5 forbids on shared
        subscriptions: its own notifications then never come back to it, half the packets.
        Then it says who it is on `cityhelix/deployments/<id>` and listens there for others.
        """
        options = SubscribeOptions(qos=1, noLocal=not self.share_group)
        granted = await client.subscribe(self.creation_filter, options=options)
        if _refused(granted):
            raise aiomqtt.MqttError(
                f"{self.description} refused the subscription {self.creation_filter!r}: its "
                "ACL must let the hub's user read v1.1/#"
            )
        await self._announce_deployment(client)

    async def _announce_deployment(self, client: aiomqtt.Client) -> None:
        if not self.deployment:
            return
        granted = await client.subscribe(f"{DEPLOYMENTS_TOPIC}/+", qos=0)
        if _refused(granted):
            logger.warning(
                "%s refused the subscription %s/+: another deployment on this broker would go "
                "unnoticed (grant the hub's user readwrite %s/#)",
                self.description,
                DEPLOYMENTS_TOPIC,
                DEPLOYMENTS_TOPIC,
            )
        await self._say_who_we_are(client)

    async def _say_who_we_are(self, client: aiomqtt.Client) -> None:
        presence = {
            "deployment": self.deployment,
            "share_group": self.share_group,
            "public_url": self._public_url.decode(),
        }
        # retained, but not for ever: a deployment that is gone stops being reported
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.MessageExpiryInterval = PRESENCE_EXPIRY_SECONDS
        # QoS 0: a refused QoS 1 publish makes Mosquitto 2.0.11 close the connection
        await client.publish(
            f"{DEPLOYMENTS_TOPIC}/{self.deployment}",
            orjson.dumps(presence),
            qos=0,
            retain=True,
            properties=properties,
        )

    async def _keep_saying_who_we_are(self, client: aiomqtt.Client) -> None:
        while self.deployment:
            await asyncio.sleep(PRESENCE_EXPIRY_SECONDS / 2)
            await self._say_who_we_are(client)

    async def receive(self, client: aiomqtt.Client) -> None:
        """Return (MqttError) when the connection ends; creations come by `_on_message`."""
        intake = self._intake
        presence = asyncio.create_task(self._keep_saying_who_we_are(client))
        try:
            async for _message in client.messages:
                pass  # nothing comes this way: `_on_message` takes over from aiomqtt
        finally:
            presence.cancel()
            # a publish on a connection that broke fails; the connection's error is the news
            await asyncio.gather(presence, return_exceptions=True)
            # a PUBACK belongs to its connection: creations of this one that finish later
            # are not acknowledged (the broker sends them again, or drops them with the
            # session)
            intake.acknowledgements.close()

    async def drain_session(self, identifier: str, idle: float = DRAIN_IDLE_SECONDS) -> None:
        """Take over the persistent session `identifier` of a process gone for good, write
        what it holds, and end it (the broker then forgets it and stops giving it a share).

        Its creations go the way of the hub's own (`next_delivery`). Once nothing arrived for
        `idle` seconds and all it brought is settled, it leaves the group (the broker adds
        nothing more to it), settles what was still queued, and ends the session.
        """
        client, intake = self._client_with_intake(
            identifier, persistent=True, expiry=self.session.expiry
        )
        async with client, asyncio.TaskGroup() as group:
            watch = group.create_task(_until_disconnected(client))
            await intake.idle(idle)
            await client.unsubscribe(self.creation_filter)
            await intake.idle(idle)
            watch.cancel()
        # a session given an expiry of 0 at its (re)connection ends when that connection does
        ending, _ = self._client_with_intake(identifier, persistent=True, expiry=0)
        async with ending:
            pass

    def _on_message(
        self, intake: _Intake, _client: object, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        """Take a creation straight from paho, in arrival order.

        Not through aiomqtt's message queue: most of what arrives is the hub's own
        notifications, each of which would cost an aiomqtt Message and a queue round. Set
        before connecting: a persistent session's messages come right after the CONNACK.
        """
        if _is_notification(message):
            # acknowledged at once (after the creations before it: PUBACKs keep their order)
            intake.acknowledgements.expect(message.mid, message.qos)()
            self.own_notifications += 1
            if self._public_url and not self._is_ours(bytes(message.payload)):
                self.foreign_notifications += 1
            return
        if message.topic.startswith(DEPLOYMENTS_TOPIC):
            intake.acknowledgements.expect(message.mid, message.qos)()
            self._note_deployment(message)
            return
        settle = intake.expect(message.mid, message.qos)
        publication = Publication(message.topic, bytes(message.payload), self._principal)
        self._deliveries.put_nowait(Delivery(publication, settle))
        waiting = self._deliveries.qsize()
        self.most_waiting = max(self.most_waiting, waiting)
        if waiting >= self.queue_bound and not self.paused:
            self.paused = True
            self.pauses += 1
            for reads in tuple(self._reads):
                reads.pause()

    def _is_ours(self, payload: bytes) -> bool:
        """Whether a whole document's selfLink starts at our public URL."""
        start = payload.find(_SELF_LINK, 0, 64)
        return start < 0 or payload.startswith(self._public_url, start + len(_SELF_LINK))

    def _note_deployment(self, message: mqtt.MQTTMessage) -> None:
        other = message.topic.removeprefix(f"{DEPLOYMENTS_TOPIC}/")
        if other == self.deployment or not message.payload:
            return
        try:
            presence = orjson.loads(message.payload)
        except orjson.JSONDecodeError:
            presence = {}
        if not isinstance(presence, dict):
            presence = {}
        group = presence.get("share_group")
        same_group = group == self.share_group and bool(self.share_group)
        if other not in self.other_deployments:
            log = logger.error if same_group else logger.warning
            log(
                "another CityHelix deployment (%s, group %r, %s) uses this broker %s",
                other,
                group,
                presence.get("public_url") or "no public URL",
                "AND THIS SHARE GROUP: it takes a share of our readings"
                if same_group
                else "in a group of its own: it takes none of our readings",
            )
        self.other_deployments[other] = {
            "deployment": other,
            "share_group": group,
            "public_url": presence.get("public_url"),
            "same_group": same_group,
        }

    async def next_delivery(self) -> Delivery:
        delivery = await self._deliveries.get()
        if self.paused and self._deliveries.qsize() <= self.queue_bound // 2:
            self.paused = False
            for reads in tuple(self._reads):
                reads.resume()
        return delivery

    async def waiting_deliveries(self) -> list[Delivery]:
        return [self._deliveries.get_nowait() for _ in range(self._deliveries.qsize())]

    @property
    def dropped(self) -> int:
        """None: the broker keeps what the hub has not acknowledged."""
        return 0

    def subscribed_filters(self) -> Iterable[str]:
        """Only the declared ones: an external broker does not say what clients hold."""
        return self._select_filters

    knows_subscriptions = False

    async def close(self) -> None:
        """The broker is not ours to stop."""


async def _until_disconnected(client: aiomqtt.Client) -> None:
    async for _message in client.messages:
        pass


def _refused(granted: Iterable[int | ReasonCode]) -> bool:
    """Whether a SUBACK refused a subscription."""
    return any(code >= 0x80 if isinstance(code, int) else code.is_failure for code in granted)


class _Intake:
    """One connection's creations: their acknowledgements, how many are not settled yet,
    when the last one came (notifications coming back do not count), and its socket's
    reading."""

    def __init__(self, acknowledgements: _Acknowledgements, reads: _SocketReads) -> None:
        self.acknowledgements = acknowledgements
        self.reads = reads
        self.unsettled = 0
        self.last_arrival = time.monotonic()

    def expect(self, mid: int, qos: int) -> Callable[[], None]:
        self.last_arrival = time.monotonic()
        settle = self.acknowledgements.expect(mid, qos)
        self.unsettled += 1
        done = False

        def settled() -> None:
            nonlocal done
            if not done:
                done = True
                self.unsettled -= 1
                settle()

        return settled

    async def idle(self, seconds: float) -> None:
        """Return once nothing arrived for `seconds` and everything that came is settled."""
        while True:
            quiet = time.monotonic() - self.last_arrival
            if self.unsettled == 0 and quiet >= seconds:
                return
            await asyncio.sleep(max(0.05, seconds - quiet) if self.unsettled == 0 else 0.1)


class _SocketReads:
    """Reads one client's socket on the event loop, and can stop and resume doing so.

    aiomqtt reads with a callback of its own on the socket; this one replaces it (once the
    socket is open) with the same reading, which `pause` takes off the loop: the kernel's
    buffer fills, TCP's window closes, and the broker keeps the rest. The client still writes
    (PUBACKs, pings) while paused.
    """

    def __init__(self, client: aiomqtt.Client, closed: Callable[[_SocketReads], None]) -> None:
        self._client = client
        self._paho = client._client
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = None
        self._closed = closed
        self._paused = False
        aiomqtt_open = self._paho.on_socket_open
        aiomqtt_close = self._paho.on_socket_close

        def on_open(paho: mqtt.Client, userdata: Any, sock: SocketLike) -> None:
            if aiomqtt_open is not None:
                aiomqtt_open(paho, userdata, sock)
            fileno = sock.fileno()
            # after aiomqtt's own add_reader (call_soon_threadsafe keeps the order)
            self._loop.call_soon_threadsafe(self._opened, fileno)

        def on_close(paho: mqtt.Client, userdata: Any, sock: SocketLike) -> None:
            self._fd = None
            if aiomqtt_close is not None:
                aiomqtt_close(paho, userdata, sock)
            self._closed(self)

        self._paho.on_socket_open = on_open
        self._paho.on_socket_close = on_close

    def _opened(self, fileno: int) -> None:
        sock = self._paho.socket()
        if sock is None or sock.fileno() != fileno:
            return  # closed meanwhile
        self._fd = fileno
        if self._paused:
            self._loop.remove_reader(fileno)
        else:
            self._loop.add_reader(fileno, self._read)

    def _read(self) -> None:
        # as aiomqtt's reader: an exception here means the connection broke
        try:
            while True:
                self._paho.loop_read()
                sock = self._paho.socket()
                pending = getattr(sock, "pending", None)
                if self._paused or pending is None or pending() <= 0:
                    break
        except Exception as error:
            disconnected = self._client._disconnected
            if not disconnected.done():
                disconnected.set_exception(error)

    def pause(self) -> None:
        if not self._paused:
            self._paused = True
            if self._fd is not None:
                self._loop.remove_reader(self._fd)

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            if self._fd is not None:
                self._loop.add_reader(self._fd, self._read)


class _Acknowledgements:
    """The PUBACKs of one connection: each once its creation is done, in the order of arrival.

    MQTT (3.1.1 and 5, section 4.6) wants a client's acknowledgements in the order the
    messages came, so one done early waits for those before it.
    """

    def __init__(self, paho: mqtt.Client) -> None:
        self._paho = paho
        self._done: OrderedDict[int, tuple[int, bool]] = OrderedDict()  # mid -> (qos, done)
        self._open = True

    def expect(self, mid: int, qos: int) -> Callable[[], None]:
        """Note an arrival; the call that settles it (QoS 0 needs no acknowledgement)."""
        if qos == 0:
            return _nothing
        self._done[mid] = (qos, False)
        return partial(self._settle, mid)

    def _settle(self, mid: int) -> None:
        if not self._open or mid not in self._done:
            return
        self._done[mid] = (self._done[mid][0], True)
        while self._done:
            first, (qos, done) = next(iter(self._done.items()))
            if not done:
                return
            del self._done[first]
            self._paho.ack(first, qos)

    def close(self) -> None:
        self._open = False
        self._done.clear()


def _is_notification(message: mqtt.MQTTMessage) -> bool:
    """Whether `message` is one of the hub's own notifications, coming back.

    A whole entity document starts with its `@iot.id`, which no creation has (a body with
    an `@iot.id` links to an existing entity; it creates nothing); narrowed `?$select=`
    documents carry the mark, as topics with a query are never creations.
    """
    if message.payload.startswith(_DOCUMENT_START):
        return True
    if "?" not in message.topic:
        return False
    marks = getattr(message.properties, "UserProperty", None) or []
    return tuple(NOTIFICATION_MARK) in (tuple(mark) for mark in marks)
