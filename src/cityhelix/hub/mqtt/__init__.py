"""SensorThings API 1.1 over MQTT: publish to create, subscribe to receive committed changes.

A protocol adapter over `hub.service`, as `hub.http` is for HTTP (see docs/ingest.md).

Clients publish creations to the very topics the hub announces on, so the hub must never
take its own announcements for creations. The embedded broker knows who published: it hands
the hub only other clients' requests, with their principal, and relays only the hub's own
client (known by a per-process secret, not by name). Through an external broker the hub
skips what starts as an entity document does (`{"@iot.id":`: a creation never does, as a
body with an `@iot.id` only links to an existing entity), and the `?$select=` announcements
it marks with an MQTT 5 user property (narrowed documents may lack `@iot.id`). Marking every
announcement cost a properties parse per packet in paho, most of the hub's time.
"""

from cityhelix.hub.mqtt.bridge import MqttBridge, MqttUnavailable, start_mqtt

__all__ = ["MqttBridge", "MqttUnavailable", "start_mqtt"]
