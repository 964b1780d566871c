"""The async engine for the configured database, with each backend set up as we need it.

SQLite gets WAL (readers never wait for the writer), foreign keys on (cascades are the
database's job) and a busy timeout; PostgreSQL gets a sized pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from cityhelix.db.sqlite_functions import register_sqlite_functions
from cityhelix.settings import Settings


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(settings: Settings) -> AsyncEngine:
    """An engine for `settings.database_url`, creating the SQLite file's folder if needed."""
    url = settings.database_url
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_pool_size,
        # no pre-ping: on asyncpg it costs three round trips per checkout (measured in
        # BENCHMARKS.md); recycling connections covers a server that restarted
        pool_recycle=1800,
    )


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads that write nothing, without a transaction around them.

    On PostgreSQL each statement of a READ COMMITTED transaction takes its own snapshot
    anyway, so `BEGIN` and `ROLLBACK` only add two round trips to every GET (14 % of the
    server's busy time for one Observation, BENCHMARKS.md); asyncpg then starts none.
    SQLite's driver opens no transaction for a SELECT in the first place.
    """
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    register_sqlite_functions(dbapi_connection)
