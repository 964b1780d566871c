"""The two ways the hub meets its MQTT broker: the embedded amqtt broker, or an external one.

Each says how the hub's client connects, where creations come from and who sent them, when a
creation is acknowledged, how the hub's own notifications are told apart, and which
`?$select=` subscriptions exist.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from cityhelix.auth.principal import Principal
from cityhelix.events.broker import EmbeddedBroker, Publication, PublicationQueue
from cityhelix.hub.mqtt.topics import CREATION_FILTER

#: the shared-subscription group of all hub processes: the broker gives each creation to one
SHARE_GROUP = "cityhelix"
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


class ExternalLink:
    """An MQTT 5 broker run elsewhere (Mosquitto, EMQX...): one shared subscription per group
    (or, with no group, one hub alone on the broker).

    The broker does not tell who published, so every creation runs as `principal`; publish
    rights belong in the broker's ACLs. The hub's own notifications arrive on the very topics
    creations use; it tells them apart (`_is_notification`) and skips them.

    A creation is acknowledged (PUBACK) only once it is written and committed, so the broker
    keeps what the hub has not written. At most `window` creations are unacknowledged at a
    time (the MQTT 5 Receive Maximum). With a fixed `client_id` the broker keeps the hub's
    session for `session_expiry` seconds: creations sent to a hub that died are sent again
    when it comes back.
    """

    def __init__(
        self,
        url: str,
        principal: Principal,
        *,
        share_group: str = SHARE_GROUP,
        select_filters: Iterable[str] = (),
        client_id: str = "",
        session_expiry: int = 0,
        window: int = DEFAULT_WINDOW,
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
        self._share_group = share_group
        self._select_filters = tuple(select_filters)
        self._persistent = bool(client_id)
        self._identifier = client_id or f"cityhelix-hub-{secrets.token_hex(6)}"
        self._session_expiry = session_expiry if self._persistent else 0
        self._window = max(1, min(window, 65_535))
        self.description = f"{parts.scheme}://{self._host}:{self._port}"
        # bounded by the window: the broker sends no more until the hub acknowledges
        self._deliveries: asyncio.Queue[Delivery] = asyncio.Queue()
        self._acknowledgements: _Acknowledgements  # the current connection's, by new_client
        self.own_notifications = 0
        # paho's Properties carries no annotations
        self.notification_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self.notification_properties.UserProperty = [NOTIFICATION_MARK]

    def new_client(self) -> aiomqtt.Client:
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.ReceiveMaximum = self._window
        if self._persistent:
            connect.SessionExpiryInterval = self._session_expiry
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=self._identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=not self._persistent,
            properties=connect,
            tls_context=ssl.create_default_context() if self._tls else None,
            max_inflight_messages=NOTIFICATIONS_IN_FLIGHT,
        )
        # aiomqtt 2.5 acknowledges on receipt and has no option against it; its paho client
        # (2.x) has one: manual acknowledgements, sent by `_Acknowledgements` after commit
        client._client.manual_ack_set(True)
        client._client.on_message = self._on_message
        self._acknowledgements = _Acknowledgements(client._client)
        return client

    async def listen(self, client: aiomqtt.Client) -> None:
        """One shared subscription to every creation topic; without a group, a plain one.

        A hub alone (no group) asks the broker for No Local, which MQTT 5 forbids on shared
        subscriptions: its own notifications then never come back to it, half the packets.
        """
        if self._share_group:
            topic_filter = f"$share/{self._share_group}/{CREATION_FILTER}"
            options = SubscribeOptions(qos=1)
        else:
            topic_filter = CREATION_FILTER
            options = SubscribeOptions(qos=1, noLocal=True)
        granted = await client.subscribe(topic_filter, options=options)
        if any(code >= 0x80 if isinstance(code, int) else code.is_failure for code in granted):
            raise aiomqtt.MqttError(
                f"{self.description} refused the subscription {topic_filter!r}: its ACL must "
                "let the hub's user read v1.1/#"
            )

    async def receive(self, client: aiomqtt.Client) -> None:
        """Return (MqttError) when the connection ends; creations come by `_on_message`."""
        try:
            async for _message in client.messages:
                pass  # nothing comes this way: `_on_message` takes over from aiomqtt
        finally:
            # a PUBACK belongs to its connection: creations of this one that finish later
            # are not acknowledged (the broker sends them again, or drops them with the
            # session)
            self._acknowledgements.close()
            self._acknowledgements = _Acknowledgements(client._client)

    def _on_message(self, _client: object, _userdata: object, message: mqtt.MQTTMessage) -> None:
        """Take a creation straight from paho, in arrival order.

        Not through aiomqtt's message queue: most of what arrives is the hub's own
        notifications, each of which would cost an aiomqtt Message and a queue round. Set
        before connecting: a persistent session's messages come right after the CONNACK.
        """
        settle = self._acknowledgements.expect(message.mid, message.qos)
        if _is_notification(message):
            self.own_notifications += 1
            settle()
            return
        publication = Publication(message.topic, bytes(message.payload), self._principal)
        self._deliveries.put_nowait(Delivery(publication, settle))

    async def next_delivery(self) -> Delivery:
        return await self._deliveries.get()

    async def waiting_deliveries(self) -> list[Delivery]:
        return [self._deliveries.get_nowait() for _ in range(self._deliveries.qsize())]

    @property
    def dropped(self) -> int:
        """None: the broker keeps what the hub has not acknowledged."""
        return 0

    def subscribed_filters(self) -> Iterable[str]:
        """Only the declared ones: an external broker does not say what clients hold."""
        return self._select_filters

    async def close(self) -> None:
        """The broker is not ours to stop."""


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
