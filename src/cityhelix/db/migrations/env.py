"""Alembic environment: runs the one migration history against SQLite or PostgreSQL.

The URL comes from the caller (`cityhelix.db.migrate`), never from alembic.ini, so that
`cityhelix migrate`, `serve` and the tests all migrate the database they were given.
On PostgreSQL an advisory lock makes concurrent `serve` start-ups migrate one at a time.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

import cityhelix.auth.tables
import cityhelix.hub.mqtt_tables
import cityhelix.hub.rollup_tables
import cityhelix.hub.tables  # noqa: F401 - registers the tables on the metadata
from cityhelix.db.engine import create_engine
from cityhelix.db.metadata import metadata
from cityhelix.settings import Settings

_LOCK_KEY = 7_303_001  # any constant shared by every CityHelix process


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
                await connection.commit()
            try:
                await connection.run_sync(_run)
                await connection.commit()
            finally:
                if connection.dialect.name == "postgresql":
                    await connection.execute(
                        text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY}
                    )
                    await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_async(context.config.get_main_option("sqlalchemy.url") or ""))
