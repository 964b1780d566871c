"""Insert many rows at once and get their ids back: one function per dialect.

The fastest way differs by backend: PostgreSQL loads by COPY (ids reserved from the
table's sequence first, because COPY answers nothing), SQLite takes one multi-row INSERT
... RETURNING. Callers (the hub's bulk Observation writes) call `insert_rows` and never
ask which database they are on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

#: (connection, table, rows, keys) -> ids; every row holds every one of `keys`
BulkInsert = Callable[
    [AsyncConnection, Table, list[dict[str, Any]], list[str]], Awaitable[list[int]]
]


#: the rows one statement takes at most, by dialect: each row's values are converted on the
#: event loop, about 20 µs a row by SQLAlchemy's bind processing (100,000 rows held the loop
#: for seconds), under 2 µs by asyncpg's COPY encoder, where each statement more costs a
#: sequence read and a COPY's set-up (a 10,000-row DataArray in four COPYs cost the server
#: ~8 ms more CPU than in one, BENCHMARKS.md §2)
_ROWS_PER_STATEMENT = {"postgresql": 10_000}
_ROWS_PER_INSERT = 2_500


async def insert_rows(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> list[int]:
    """Insert `rows` (each holding every one of `keys`; other columns NULL) into `table` in
    the caller's transaction; their new ids, in the order of `rows`. Many rows go in
    slices, a statement each, so that no one statement holds the event loop for long."""
    dialect = connection.dialect.name
    insert_for = _BY_DIALECT.get(dialect, _insert_returning)
    size = _ROWS_PER_STATEMENT.get(dialect, _ROWS_PER_INSERT)
    ids: list[int] = []
    for first in range(0, len(rows), size):
        ids += await insert_for(connection, table, rows[first : first + size], keys)
    return ids


async def _insert_returning(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> list[int]:
    """One INSERT ... RETURNING (SQLite, and any backend without a faster way)."""
    inserted = await connection.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
    )
    return [entity_id for (entity_id,) in inserted.all()]


async def _copy_into(
    connection: AsyncConnection, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> list[int]:
    """PostgreSQL: ids from the table's sequence (`<table>_id_seq`), then one COPY.

    COPY is what lets a 10,000-row DataArray cost about what the raw load costs. JSON
    columns travel as their text, which COPY's binary format takes for json/jsonb.
    """
    # the ids as one array: one row for the driver to decode (in C), not one per id
    ids: list[int] = await connection.scalar(
        select(func.array_agg(func.nextval(f"{table.name}_id_seq"))).select_from(
            func.generate_series(1, len(rows))
        )
    )
    names = ["id", *keys]
    for entity_id, row in zip(ids, rows, strict=True):
        row["id"] = entity_id
    records = list(map(itemgetter(*names), rows))
    json_names = [name for name in names if isinstance(table.c[name].type, JSON)]
    if any(list(map(itemgetter(name), rows)).count(None) < len(rows) for name in json_names):
        json_positions = {names.index(name) for name in json_names}
        records = [
            tuple(
                orjson.dumps(value).decode()
                if position in json_positions and value is not None
                else value
                for position, value in enumerate(record)
            )
            for record in records
        ]
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=names)
    return ids


_BY_DIALECT: dict[str, BulkInsert] = {
    "postgresql": _copy_into,
    "sqlite": _insert_returning,
}
