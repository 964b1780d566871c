"""The two ways the hub meets its MQTT broker: the embedded amqtt broker, or an external one.

Each says how the hub's client connects, where creations come from and who sent them, how the
hub's own notifications are told apart, and which `?$select=` subscriptions exist.
"""

from __future__ import annotations

import secrets
import ssl
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityhelix.auth.principal import Principal
from cityhelix.events.broker import EmbeddedBroker, Publication, PublicationQueue
from cityhelix.hub.mqtt.topics import CREATION_FILTER

#: the shared-subscription group of all hub processes: the broker gives each creation to one
SHARE_GROUP = "cityhelix"
#: MQTT 5 user property on every notification the hub publishes
NOTIFICATION_MARK = ("cityhelix", "notification")


class BrokerLink(Protocol):
    """What the bridge needs from a broker, whichever it is."""

    @property
    def description(self) -> str:
        """Where the broker is, for logs and errors (never with credentials)."""
        ...

    @property
    def publications(self) -> PublicationQueue:
        """Creations waiting to be written, with their publishers."""
        ...

    @property
    def notification_properties(self) -> Properties | None:
        """The MQTT 5 properties of a notification (None on MQTT 3.1.1)."""
        ...

    def new_client(self) -> aiomqtt.Client:
        """The hub's client; connected and reconnected by the bridge."""
        ...

    async def listen(self, client: aiomqtt.Client) -> None:
        """Ask for creations, after each (re)connection."""
        ...

    async def receive(self, client: aiomqtt.Client) -> None:
        """While connected, move creations arriving on `client` to `publications`."""
        ...

    def subscribed_filters(self) -> Iterable[str]:
        """The topic filters clients hold, as far as this broker lets us know."""
        ...

    async def close(self) -> None: ...


class EmbeddedLink:
    """The embedded broker: creations come in-process with their publisher's principal.

    The broker knows who published, so nothing needs telling apart: it never hands the hub's
    own client's messages over. amqtt speaks MQTT 3.1.1 only (no shared subscriptions, no
    properties), and needs neither here.
    """

    notification_properties: Properties | None = None

    def __init__(self, broker: EmbeddedBroker, select_filters: Iterable[str] = ()) -> None:
        self.broker = broker
        self.description = f"the embedded broker on {broker.host}:{broker.port}"
        self.publications = broker.publications
        self._select_filters = tuple(select_filters)

    def new_client(self) -> aiomqtt.Client:
        credentials = self.broker.internal_credentials
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=credentials.username,
            password=credentials.password,
            identifier=f"cityhelix-hub-{secrets.token_hex(6)}",
            protocol=aiomqtt.ProtocolVersion.V311,
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
    """An MQTT 5 broker run elsewhere (Mosquitto, EMQX...): one shared subscription per group.

    The broker does not tell who published, so every creation runs as `principal`; publish
    rights belong in the broker's ACLs. The hub marks its notifications with a user property
    and skips marked messages, since they arrive on the very topics creations use.
    """

    def __init__(
        self,
        url: str,
        principal: Principal,
        *,
        share_group: str = SHARE_GROUP,
        select_filters: Iterable[str] = (),
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
        self._identifier = f"cityhelix-hub-{secrets.token_hex(6)}"
        self.description = f"{parts.scheme}://{self._host}:{self._port}"
        self.publications = PublicationQueue()
        # paho's Properties carries no annotations
        self.notification_properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self.notification_properties.UserProperty = [NOTIFICATION_MARK]

    def new_client(self) -> aiomqtt.Client:
        return aiomqtt.Client(
            self._host,
            self._port,
            username=self._username,
            password=self._password,
            identifier=self._identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=ssl.create_default_context() if self._tls else None,
        )

    async def listen(self, client: aiomqtt.Client) -> None:
        topic_filter = f"$share/{self._share_group}/{CREATION_FILTER}"
        granted = await client.subscribe(topic_filter, qos=1)
        if any(code >= 0x80 if isinstance(code, int) else code.is_failure for code in granted):
            raise aiomqtt.MqttError(
                f"{self.description} refused the subscription {topic_filter!r}: its ACL must "
                "let the hub's user read v1.1/#"
            )

    async def receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if _is_notification(message):
                continue
            self.publications.offer(
                Publication(message.topic.value, bytes(message.payload), self._principal)
            )

    def subscribed_filters(self) -> Iterable[str]:
        """Only the declared ones: an external broker does not say what clients hold."""
        return self._select_filters

    async def close(self) -> None:
        """The broker is not ours to stop."""


def _is_notification(message: aiomqtt.Message) -> bool:
    marks = getattr(message.properties, "UserProperty", None) or []
    return tuple(NOTIFICATION_MARK) in (tuple(mark) for mark in marks)
