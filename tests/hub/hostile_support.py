"""What the hostile-input tests share: a throw-away PostgreSQL database per test, and a
`cityhelix serve` process started under an address-space limit."""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
import orjson

from tests.conftest import POSTGRES_ADMIN_DSN
from tests.served import cli_env, free_port, stop_process, wait_until_up


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def postgres_database() -> Iterator[tuple[str, str]]:
    """(SQLAlchemy URL, asyncpg DSN) of a new database, dropped on exit."""
    name = f"cityhelix_hostile_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    host_part = POSTGRES_ADMIN_DSN.removeprefix("postgresql://").rsplit("/", 1)[0]
    try:
        yield f"postgresql+asyncpg://{host_part}/{name}", f"postgresql://{host_part}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _address_space_limit(limit_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return apply


@contextmanager
def served_limited(
    database_url: str, memory_bytes: int | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A `cityhelix serve` (under `memory_bytes` of address space) and its process."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cityhelix", "serve", "--port", str(port)],
        env=cli_env(database_url, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_address_space_limit(memory_bytes) if memory_bytes else None,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(process, url)
        yield url, process
    finally:
        stop_process(process)


def data_array_body(stream: int, rows: int) -> bytes:
    """A CreateObservations body of `rows` readings of `stream`, one a second from
    2026-01-01 (a large write: 50,000 rows are about 1.5 MB)."""
    readings = [
        [f"2026-01-{1 + i // 86400:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", i]
        for i in range(rows)
    ]
    return orjson.dumps(
        [
            {
                "Datastream": {"@iot.id": stream},
                "components": ["phenomenonTime", "result"],
                "dataArray": readings,
            }
        ]
    )
