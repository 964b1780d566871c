"""The hub's notifications out to the broker: many QoS 1 publishes, one wait for their PUBACKs.

aiomqtt's `publish` is one task, one event and one future per message, and paho's in-flight
bookkeeping scans every unacknowledged message on each PUBACK; at thousands of notifications
a second that was most of the hub's time (BENCHMARKS.md section 3). Here messages go to
paho's `publish` directly, paho's own in-flight limit is off (the client is made with
`max_inflight_messages=0`), and `Publisher` keeps the broker's Receive Maximum itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties

#: unacknowledged QoS 1 messages when the broker does not say how many it takes (MQTT 3.1.1)
DEFAULT_RECEIVE_MAXIMUM = 1000
#: how long the broker may take to acknowledge what was sent before the link counts as lost
ACK_TIMEOUT = 30.0


class Publisher:
    """Publishes through one aiomqtt client's paho client, in call order, within the window
    (the messages not acknowledged yet at QoS 1, not written yet at QoS 0).

    Install it once per client, before connecting: it takes over paho's `on_publish` (the
    messages it did not send go on to aiomqtt's handler) and reads the Receive Maximum from
    each CONNACK (aiomqtt's `on_connect` still runs).
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self._paho = client._client
        self._unacknowledged: set[int] = set()
        self._acknowledged = asyncio.Event()
        self._limit = DEFAULT_RECEIVE_MAXIMUM
        aiomqtt_on_publish = self._paho.on_publish
        aiomqtt_on_connect = self._paho.on_connect

        def on_publish(client: mqtt.Client, userdata: Any, mid: int, *rest: Any) -> None:
            if mid in self._unacknowledged:
                self._unacknowledged.discard(mid)
                self._acknowledged.set()
            elif aiomqtt_on_publish is not None:
                aiomqtt_on_publish(client, userdata, mid, *rest)

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, *rest: Any) -> None:
            # a new connection: what was unacknowledged on the old one is sent again by the
            # caller (the bridge retries the whole chunk)
            self._unacknowledged.clear()
            properties = rest[1] if len(rest) > 1 else None
            self._limit = getattr(properties, "ReceiveMaximum", None) or DEFAULT_RECEIVE_MAXIMUM
            if aiomqtt_on_connect is not None:
                aiomqtt_on_connect(client, userdata, flags, *rest)

        self._paho.on_publish = on_publish
        self._paho.on_connect = on_connect

    @property
    def receive_maximum(self) -> int:
        """How many QoS 1 messages the broker takes unacknowledged (its CONNACK says)."""
        return self._limit

    async def publish(
        self,
        messages: Iterable[tuple[str, bytes, Properties | None]],
        *,
        qos: int = 1,
    ) -> None:
        """Send `messages` in order; return once the broker acknowledged all of them (QoS 1)
        or they were written to the connection (QoS 0: memory stays bounded all the same).

        Raises aiomqtt.MqttError when the connection is gone or the broker stops answering.
        """
        for topic, payload, properties in messages:
            while len(self._unacknowledged) >= self._limit:
                await self._wait()
            info = self._paho.publish(topic, payload, qos, properties=properties)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                raise aiomqtt.MqttCodeError(info.rc, "could not publish a notification")
            # paho reports a QoS 0 message written at once before `publish` returns
            if not info.is_published():
                self._unacknowledged.add(info.mid)
        while self._unacknowledged:
            await self._wait()

    async def _wait(self) -> None:
        self._acknowledged.clear()
        try:
            # not `asyncio.wait_for`: on Python 3.11 it swallows a cancellation that comes
            # with the PUBACK it waits for, and the bridge's stop then waited forever
            async with asyncio.timeout(ACK_TIMEOUT):
                await self._acknowledged.wait()
        except TimeoutError:
            raise aiomqtt.MqttError(
                f"the broker acknowledged nothing for {ACK_TIMEOUT:.0f} s"
            ) from None
