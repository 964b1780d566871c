"""The hub's MQTT state in the database: this deployment's identity, process slots, dead letters.

The identity names the shared-subscription group and the client ids, so that two deployments
on one broker never share a session or a group; slots give each `cityhelix serve` process a
stable MQTT session a replacement takes over; dead letters keep the creations the hub refused.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, SmallInteger, String, Table, Text

from cityhelix.db.metadata import metadata
from cityhelix.db.types import UtcDateTime
from cityhelix.hub.tables import Id

#: one row, written by the migration that made it: a random id, never changed afterwards
deployment = Table(
    "hub_deployment",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)

#: a slot is an MQTT session (client id `<group>-<slot>`) leased by one process at a time;
#: a lease not renewed by `lease_expires_at` frees the slot for a new process or an adopter
mqtt_slots = Table(
    "hub_mqtt_slots",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),
    # a random token of the process holding it (new in every process)
    Column("holder", String(64), nullable=False),
    Column("lease_expires_at", UtcDateTime, nullable=False),
)

#: creations the hub refused or could not write, newest kept (a row cap; oldest dropped)
mqtt_dead_letters = Table(
    "hub_mqtt_dead_letters",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("topic", Text, nullable=False),
    # the body as text (invalid UTF-8 replaced), cut to a bounded size
    Column("payload", Text, nullable=False),
    Column("payload_bytes", Integer, nullable=False),
    # the HTTP status the same request would get (400, 403, 404...), 500 for an error
    Column("status", SmallInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("publisher", String(200), nullable=False),
)
