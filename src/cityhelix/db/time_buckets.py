"""The UTC start of a time's minute, hour or day, computed by the database on either backend,
and the time spans a rollup rebuild covers, bound as rows.

Rollups aggregate in SQL (one INSERT ... SELECT ... GROUP BY per level), so the bucket of a
stored time must be an expression: `date_trunc(..., 'UTC')` on PostgreSQL, a cut of the
fixed-width UTC text on SQLite, both in the form the column stores.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    String,
    Subquery,
    bindparam,
    cast,
    column,
    func,
    select,
    type_coerce,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

from cityhelix.db.types import UtcDateTime

#: bucket width -> (PostgreSQL date_trunc field, characters of the SQLite text kept, the rest)
_UNITS: dict[str, tuple[str, int, str]] = {
    "1m": ("minute", 16, ":00.000000Z"),
    "1h": ("hour", 13, ":00:00.000000Z"),
    "1d": ("day", 10, "T00:00:00.000000Z"),
}


class utc_bucket_start(FunctionElement[Any]):
    """The start of the UTC `width` bucket ('1m', '1h' or '1d') holding a `UtcDateTime`."""

    type = UtcDateTime()
    name = "utc_bucket_start"
    # the width is part of the statement's cache key: without it (`inherit_cache = False`
    # alone) SQLAlchemy could not cache any statement holding a bucket, and compiled a
    # rollup rebuild anew for every write (5 of a 30-row write's 14.5 ms, BENCHMARKS.md §2)
    inherit_cache = False
    _traverse_internals = [
        *FunctionElement._traverse_internals,
        ("width", InternalTraversal.dp_string),
    ]

    def __init__(self, width: str, moment: ColumnElement[Any]) -> None:
        if width not in _UNITS:
            raise ValueError(width)
        self.width = width
        super().__init__(moment)


@compiles(utc_bucket_start)
def _sqlite_bucket_start(element: utc_bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    _, kept, rest = _UNITS[element.width]
    moment = compiler.process(element.clauses, **kw)
    return f"(substr({moment}, 1, {kept}) || '{rest}')"


@compiles(utc_bucket_start, "postgresql")
def _postgresql_bucket_start(element: utc_bucket_start, compiler: SQLCompiler, **kw: Any) -> str:
    field, _, _ = _UNITS[element.width]
    return f"date_trunc('{field}', {compiler.process(element.clauses, **kw)}, 'UTC')"


def span_rows(dialect: Dialect) -> Subquery:
    """The rows (stream_id, span_start, span_end) bound by `span_parameters`.

    A rebuild joins its tables to these rows, so its SQL is the same whatever the number of
    spans: built and compiled once, where an OR of ranges was built and compiled anew per
    batch. PostgreSQL unnests three arrays; SQLite reads a JSON array of the stored texts.
    """
    if dialect.name == "postgresql":
        moments = ARRAY(DateTime(timezone=True))
        rows = (
            func.unnest(
                cast(bindparam("span_streams"), ARRAY(BigInteger)),
                cast(bindparam("span_starts"), moments),
                cast(bindparam("span_ends"), moments),
            )
            .table_valued(
                column("stream_id", BigInteger),
                column("span_start", UtcDateTime()),
                column("span_end", UtcDateTime()),
            )
            .render_derived("span_rows")
        )
        return select(rows.c.stream_id, rows.c.span_start, rows.c.span_end).subquery("spans")
    each = func.json_each(bindparam("spans", type_=String())).table_valued("value")
    return select(
        type_coerce(func.json_extract(each.c.value, "$[0]"), BigInteger()).label("stream_id"),
        type_coerce(func.json_extract(each.c.value, "$[1]"), UtcDateTime()).label("span_start"),
        type_coerce(func.json_extract(each.c.value, "$[2]"), UtcDateTime()).label("span_end"),
    ).subquery("spans")


def span_parameters(
    dialect: Dialect, spans: Sequence[tuple[int, datetime, datetime]]
) -> dict[str, Any]:
    """The bound values of `span_rows` for `spans` of (stream id, start, end)."""
    if dialect.name == "postgresql":
        return {
            "span_streams": [stream_id for stream_id, _, _ in spans],
            "span_starts": [start for _, start, _ in spans],
            "span_ends": [end for _, _, end in spans],
        }
    stored = UtcDateTime().process_bind_param  # the text the column holds on SQLite
    rows = [(stream, stored(start, dialect), stored(end, dialect)) for stream, start, end in spans]
    return {"spans": orjson.dumps(rows).decode()}
