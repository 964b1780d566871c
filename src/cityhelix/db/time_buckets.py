"""The UTC start of a time's minute, hour or day, computed by the database on either backend.

Rollups aggregate in SQL (one INSERT ... SELECT ... GROUP BY per level), so the bucket of a
stored time must be an expression: `date_trunc(..., 'UTC')` on PostgreSQL, a cut of the
fixed-width UTC text on SQLite, both in the form the column stores.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

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
    inherit_cache = False
    name = "utc_bucket_start"

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
