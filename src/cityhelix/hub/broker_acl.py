"""Publish permissions for an external MQTT broker, as a Mosquitto ACL file from the database.

Through an external broker every creation reaches the hub as the service user `mqtt-ingest`:
the hub cannot tell who published, so the broker must keep each tenant to its own
Datastreams' topics (docs/ingest.md). This writes the rules the hub enforces over HTTP.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.principal import HUB_WRITERS, Role
from cityhelix.auth.tables import users
from cityhelix.hub.model import DATASTREAM, MULTI_DATASTREAM
from cityhelix.hub.tables import datastreams, multi_datastreams, things

#: the topics the hub's own broker user reads (creations) and writes (notifications)
HUB_TOPICS = "v1.1/#"
#: where hub processes say which deployment they belong to, and hear of others
#: (hub.mqtt.links.DEPLOYMENTS_TOPIC; a string here: this module does not import the adapter)
DEPLOYMENT_TOPICS = "cityhelix/deployments/#"


class AclError(ValueError):
    """A name that cannot be written into a Mosquitto ACL line."""


def _checked(name: str, what: str) -> str:
    # Mosquitto reads a user name to the end of its line and strips the spaces around it
    if not name or name != name.strip() or any(c in name for c in "\r\n\0"):
        raise AclError(f"{what} {name!r} cannot be named in a Mosquitto ACL file")
    return name


async def tenant_stream_topics(engine: AsyncEngine) -> dict[str, list[str]]:
    """Each active tenant's creation topics: those of the streams under its Things."""
    owner = things.c.owner_id
    per_type = (
        (DATASTREAM.set_name, datastreams),
        (MULTI_DATASTREAM.set_name, multi_datastreams),
    )
    topics: dict[str, list[str]] = {}
    async with engine.connect() as connection:
        tenants = await connection.execute(
            select(users.c.id, users.c.name)
            .where(users.c.role == Role.TENANT.value, users.c.revoked_at.is_(None))
            .order_by(users.c.name)
        )
        names = {row.id: row.name for row in tenants}
        for name in names.values():
            topics[name] = []
        for set_name, table in per_type:
            rows = await connection.execute(
                select(owner, table.c.id)
                .select_from(table.join(things, things.c.id == table.c.thing_id))
                .where(owner.in_(list(names)))
                .order_by(owner, table.c.id)
            )
            for owner_id, stream_id in rows:
                topics[names[owner_id]].append(f"v1.1/{set_name}({stream_id})/Observations")
    return topics


async def mosquitto_acl(engine: AsyncEngine, hub_user: str) -> str:
    """The text of a Mosquitto ACL file for the users and Datastreams in the database.

    `hub_user` (the broker user in CITYHELIX_MQTT_URL) reads and writes `v1.1/#` (and
    `cityhelix/deployments/#`, where deployments on one broker find each other); active
    admins and operators write every topic, as over HTTP; each active tenant writes only
    the Observations topics of its own Datastreams and MultiDatastreams; everyone logged in
    reads the notifications. A tenant's `v1.1/Observations` with a Datastream link in the
    body cannot be told apart by topic, so it is not allowed.
    """
    lines = [
        "# Written by `cityhelix users mosquitto-acl` from the CityHelix database: rerun it",
        "# after adding tenants or Datastreams, then reload Mosquitto (SIGHUP).",
        "",
        f"user {_checked(hub_user, 'the hub user')}",
        f"topic readwrite {HUB_TOPICS}",
        f"topic readwrite {DEPLOYMENT_TOPICS}",
    ]
    async with engine.connect() as connection:
        writers = await connection.execute(
            select(users.c.name)
            .where(
                users.c.role.in_([role.value for role in HUB_WRITERS]),
                users.c.revoked_at.is_(None),
            )
            .order_by(users.c.name)
        )
        for (name,) in writers:
            lines += ["", f"user {_checked(name, 'the user')}", f"topic write {HUB_TOPICS}"]
    for name, topics in (await tenant_stream_topics(engine)).items():
        lines += ["", f"user {_checked(name, 'the tenant')}"]
        lines += [f"topic write {topic}" for topic in topics]
    lines += ["", "# every user logged in may subscribe to the hub's notifications"]
    lines += [f"pattern read {HUB_TOPICS}", ""]
    return "\n".join(lines)
