"""The async engine for the configured database, with each backend set up as we need it.

SQLite gets WAL (readers never wait for the writer), foreign keys on (cascades are the
database's job) and a busy timeout; PostgreSQL gets a sized pool.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import await_only

from cityhelix.db.sqlite_functions import register_sqlite_functions
from cityhelix.settings import Settings

#: how long a SQLite connection waits for another's write lock before "database is locked"
SQLITE_BUSY_MS = 30_000


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
        engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
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


#: `connection.info` keys: the statement timeout set on a PostgreSQL session (ms), and
#: the deadline box a SQLite connection's progress handler reads
_TIMEOUT_SET = "cityhelix.statement_timeout_ms"
_DEADLINE = "cityhelix.read_deadline"
#: SQLite virtual-machine steps between two looks at the clock
_SQLITE_STEPS = 10_000


@asynccontextmanager
async def read_connection(
    engine: AsyncEngine, *, seconds: float | None = None
) -> AsyncIterator[AsyncConnection]:
    """A connection for reads that write nothing, without a transaction around them.

    On PostgreSQL each statement of a READ COMMITTED transaction takes its own snapshot
    anyway, so `BEGIN` and `ROLLBACK` only add two round trips to every GET (14 % of the
    server's busy time for one Observation, BENCHMARKS.md); asyncpg then starts none.
    SQLite's driver opens no transaction for a SELECT in the first place.

    With `seconds`, the reads are stopped past that time (`is_time_limit` tells the error):
    PostgreSQL's `statement_timeout` (set once per pooled session, so it costs no round
    trip per read; it then bounds that session's later statements too), SQLite's progress
    handler (installed at connect, given a deadline here: no call into the driver's thread).
    """
    async with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            if seconds is not None:
                milliseconds = max(1, round(seconds * 1000))
                if connection.info.get(_TIMEOUT_SET) != milliseconds:
                    await connection.execute(
                        select(func.set_config("statement_timeout", str(milliseconds), False))
                    )
                    connection.info[_TIMEOUT_SET] = milliseconds
            yield connection
            return
        deadline: list[float] | None = connection.info.get(_DEADLINE)
        if seconds is None or deadline is None:
            yield connection
            return
        deadline[0] = time.monotonic() + seconds
        try:
            yield connection
        finally:
            deadline[0] = math.inf


@asynccontextmanager
async def statement_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection on which each statement commits by itself: a write of one statement
    (a consumer group's stored position) is one round trip on PostgreSQL, not three
    (`BEGIN`, it, `COMMIT`); on SQLite the block's statements commit at its end."""
    async with read_connection(engine) as connection:
        yield connection
        await connection.commit()  # nothing to do on PostgreSQL: no transaction began


def is_time_limit(error: DBAPIError) -> bool:
    """True when `error` is a read stopped by `read_connection`'s time limit."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate == "57014":  # query_canceled: the statement timeout
        return True
    return "interrupted" in str(original).lower()


def _configure_sqlite(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()
    register_sqlite_functions(dbapi_connection)
    # the read time limit: the handler runs in the driver's thread and only reads the box
    deadline = [math.inf]
    record.info[_DEADLINE] = deadline

    def past_deadline() -> int:
        return 1 if time.monotonic() > deadline[0] else 0

    await_only(
        dbapi_connection.driver_connection.set_progress_handler(past_deadline, _SQLITE_STEPS)
    )
