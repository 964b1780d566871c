"""Bring a database to the newest schema: the ground's Alembic history and each pillar's.

The ground (users, audit, events) keeps its revisions in `db/migrations/versions`; each
pillar keeps its own history in its package and the composition (`cityhelix.pillars`) hands
their locations and table modules in as a `Schema`, so that `db` imports no pillar.
Alembic's env runs its own event loop, so async callers (`serve`'s start-up) run it in a
worker thread through `upgrade_async`.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
#: the ground's own version location (Alembic branch "ground")
GROUND_VERSIONS = MIGRATIONS / "versions"


@dataclass(frozen=True)
class Schema:
    """What the composition adds to the ground's schema: pillars' histories and tables."""

    #: each pillar's Alembic version location (one branch per pillar, labelled by its name)
    locations: tuple[Path, ...] = ()
    #: modules whose import registers tables on `db.metadata.metadata` (for autogenerate)
    table_modules: tuple[str, ...] = ()


def alembic_config(database_url: str, schema: Schema) -> Config:
    """An Alembic config for `database_url` and `schema` that needs no alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # the OS path separator, so that a folder with a space in its name stays one location
    config.set_main_option("path_separator", "os")
    locations = (GROUND_VERSIONS, *schema.locations)
    config.set_main_option(
        "version_locations", os.pathsep.join(str(p).replace("%", "%%") for p in locations)
    )
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["table_modules"] = schema.table_modules
    return config


def upgrade(database_url: str, schema: Schema, revision: str = "heads") -> None:
    """Migrate the database at `database_url` up to `revision` (every branch's head)."""
    command.upgrade(alembic_config(database_url, schema), revision)


async def upgrade_async(database_url: str, schema: Schema, revision: str = "heads") -> None:
    """`upgrade` from inside a running event loop."""
    await asyncio.to_thread(upgrade, database_url, schema, revision)
