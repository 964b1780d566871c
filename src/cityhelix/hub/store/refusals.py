"""Database errors that a query's input caused, told apart from the database's own faults.

A bound parser and compiler refuse almost every hostile query before it runs, but some
limits only the database knows: PostgreSQL's bigint and timestamp arithmetic overflows
(`id mul 9223372036854775807`, a time minus a hundred million days) and SQLite's parser
stack. These are the query's fault, so they answer 400 naming the option; anything else
stays an error of the server (and is not caught here).
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

#: PostgreSQL SQLSTATE classes caused by the values of a query: 22 data exception
#: (numeric or datetime out of range, division by zero...), 54 program limit exceeded
#: (statement too complex)
_POSTGRESQL_CLASSES = ("22", "54")
#: SQLite's messages for a statement past its compile-time limits
_SQLITE_MESSAGES = (
    "parser stack overflow",
    "expression tree is too large",
    "too many terms in",
    "too many columns",
    "integer overflow",
    # a function of ours given a value it cannot take (floor of a division by zero)
    "user-defined function raised exception",
)


def input_fault(error: DBAPIError) -> str | None:
    """What the database refused in the query's values, or None for a server fault."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in _POSTGRESQL_CLASSES:
        return _first_line(original)
    text = str(original).lower()
    if any(message in text for message in _SQLITE_MESSAGES):
        return _first_line(original)
    return None


def _first_line(original: object) -> str:
    text = str(original).strip().splitlines()
    line = text[0] if text else "refused"
    # asyncpg's wrapper prefixes the exception's class: keep the database's words only
    return line.split(": ", 1)[-1] if line.startswith("<class") else line
