"""The embedded MQTT broker (amqtt), so that one `cityhelix serve` speaks MQTT with no other server.

Clients log in with their CityHelix user name and API token; publications to request topics
(`v1.1/...`) are handed to the platform in-process, with the publisher's principal, not relayed.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import Principal
from cityhelix.auth.service import authenticate
from cityhelix.settings import Settings

logger = logging.getLogger(__name__)

#: publications under these topics are requests to the platform (SensorThings "create"),
#: not messages between clients: the broker hands them over instead of relaying them
REQUEST_TOPIC_PREFIXES = ("v1.1/",)
#: the user name of the platform's own client; it is told apart by its secret, not its name
INTERNAL_USERNAME = "cityhelix-internal"
#: requests waiting for the platform; past this the broker drops and counts them
QUEUE_SIZE = 100_000

_PRINCIPAL = "cityhelix.principal"
_INTERNAL = "cityhelix.internal"


def is_request_topic(topic: str) -> bool:
    return topic.startswith(REQUEST_TOPIC_PREFIXES)


class BrokerPortInUse(RuntimeError):
    """The embedded broker's port is taken, most often by another MQTT broker."""


@dataclass(frozen=True)
class MqttCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Publication:
    """A client's message to a request topic and who sent it."""

    topic: str
    payload: bytes
    principal: Principal


class PublicationQueue:
    """Requests on their way to the platform, in arrival order; bounded, losses counted."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Publication] = asyncio.Queue(size)
        self.dropped = 0

    def offer(self, publication: Publication) -> None:
        """Queue `publication`, or drop and count it when the platform is too far behind."""
        try:
            self._queue.put_nowait(publication)
        except asyncio.QueueFull:
            self.drop("MQTT requests arrive faster than they are written")

    def drop(self, reason: str) -> None:
        """Count a request that will never be written, and say why (not for every one)."""
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 1000 == 0:
            logger.warning("%s: %d MQTT requests dropped so far", reason, self.dropped)

    async def get(self) -> Publication:
        return await self._queue.get()

    def __len__(self) -> int:
        return self._queue.qsize()


@dataclass
class BrokerGate:
    """What the broker's plugins share with the platform: whom to let in, where requests go."""

    engine: AsyncEngine
    settings: Settings
    internal: MqttCredentials
    publications: PublicationQueue

    def is_internal(self, username: str, password: str) -> bool:
        return username == self.internal.username and hmac.compare_digest(
            password.encode(), self.internal.password.encode()
        )


# amqtt ships no type information, so its base classes are `Any` to mypy.
class TokenAuthentication(BaseAuthPlugin):  # type: ignore[misc]
    """Lets in the platform's own client and CityHelix users (name + API token), no one else."""

    @dataclass
    class Config:
        gate: BrokerGate | None = None

    async def authenticate(self, *, session: Any) -> bool:
        gate: BrokerGate = self.config.gate
        username: str | None = session.username
        password: str | None = session.password
        session.attributes.pop(_PRINCIPAL, None)
        session.attributes.pop(_INTERNAL, None)
        if not username or not password:
            logger.info("refused an anonymous MQTT connection (client %s)", session.client_id)
            return False
        if gate.is_internal(username, password):
            session.attributes[_INTERNAL] = True
            return True
        try:
            principal = await authenticate(gate.engine, gate.settings, password, username)
        except (SQLAlchemyError, OSError):
            logger.exception("could not check the MQTT credentials of %r", username)
            return False
        if principal is None:
            logger.info("refused MQTT connection of %r: unknown user or revoked token", username)
            return False
        session.attributes[_PRINCIPAL] = principal
        return True


class RequestRouting(BaseTopicPlugin):  # type: ignore[misc]
    """Hands publications to request topics to the platform; only its own client's are relayed."""

    @dataclass
    class Config:
        gate: BrokerGate | None = None

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Any = None
    ) -> bool:
        if action != Action.PUBLISH or topic is None or not is_request_topic(topic):
            return True
        # a client's request is consumed (see on_broker_message_received); subscribers get
        # what the platform announces after its commit, never a raw, unchecked request
        return session is not None and bool(session.attributes.get(_INTERNAL))

    async def on_broker_message_received(self, *, client_id: str, message: Any) -> None:
        if message is None or not is_request_topic(message.topic):
            return
        gate: BrokerGate = self.config.gate
        session = self.context.get_session(client_id)
        if session is not None and session.attributes.get(_INTERNAL):
            return
        principal = None if session is None else session.attributes.get(_PRINCIPAL)
        if principal is None:
            gate.publications.drop(f"client {client_id} left before its request was taken")
            return
        gate.publications.offer(Publication(message.topic, bytes(message.data), principal))


class EmbeddedBroker:
    """A running embedded broker: where clients connect, and the requests they sent."""

    def __init__(self, broker: Any, gate: BrokerGate, host: str, port: int) -> None:
        self._broker = broker
        self._gate = gate
        self.host = host
        self.port = port

    @property
    def internal_credentials(self) -> MqttCredentials:
        """The platform's own client's login; a new secret in every process."""
        return self._gate.internal

    @property
    def publications(self) -> PublicationQueue:
        return self._gate.publications

    def subscribed_filters(self) -> list[str]:
        """The topic filters that connected clients hold right now."""
        subscriptions: dict[str, list[Any]] = self._broker.subscriptions
        return [topic_filter for topic_filter, holders in subscriptions.items() if holders]

    async def stop(self) -> None:
        await self._broker.shutdown()


def _port_in_use(bind: str) -> str:
    return (
        f"the embedded MQTT broker cannot listen on {bind}: the port is in use (by another "
        "MQTT broker?). Choose one: CITYHELIX_MQTT_PORT=<a free port> for the embedded broker "
        "there, CITYHELIX_MQTT_URL=mqtt://<host>:<port> to use the broker already running "
        "(an external broker), or CITYHELIX_MQTT_PORT=0 to run without MQTT."
    )


def embedded_port_taken(settings: Settings) -> str | None:
    """Why the embedded broker could not start (its port is taken), or None; checked before
    `serve` starts, so that the advice is the whole message, not the end of a traceback."""
    if settings.mqtt_url or settings.mqtt_port == 0:
        return None
    host, port = settings.mqtt_host, settings.mqtt_port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # as asyncio's listeners do: a port in TIME_WAIT is not taken
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return _port_in_use(
                    f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
                )
    return None


def _connect_host(bind_host: str) -> str:
    """Where a client on this machine reaches a listener bound to `bind_host`."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind_host, bind_host)


async def start_embedded_broker(settings: Settings, engine: AsyncEngine) -> EmbeddedBroker:
    """Start the broker on `settings.mqtt_host:settings.mqtt_port` with CityHelix logins."""
    host, port = settings.mqtt_host, settings.mqtt_port
    gate = BrokerGate(
        engine,
        settings,
        MqttCredentials(INTERNAL_USERNAME, secrets.token_urlsafe(32)),
        PublicationQueue(),
    )
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": bind}},
            "plugins": {
                f"{__name__}.TokenAuthentication": {"gate": gate},
                f"{__name__}.RequestRouting": {"gate": gate},
            },
        }
    )
    try:
        await broker.start()
    except BrokerError as error:
        cause = error.__cause__
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            raise BrokerPortInUse(_port_in_use(bind)) from None
        raise
    logger.info("embedded MQTT broker listening on %s", bind)
    return EmbeddedBroker(broker, gate, _connect_host(host), port)
