"""Open311 client API keys: created (shown once, stored as SHA-256), listed, revoked, checked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cityhelix.auth.tokens import hash_token, new_token
from cityhelix.ops.desk.tables import open311_keys


class KeyRefused(ValueError):
    """A key cannot be created or revoked as asked (duplicate name, unknown name)."""


@dataclass(frozen=True)
class Open311Key:
    name: str
    created_at: datetime
    revoked_at: datetime | None


async def create_key(engine: AsyncEngine, name: str) -> str:
    """A new key for client application `name`; only its hash is kept."""
    if not name.strip() or len(name) > 200:
        raise KeyRefused("a key's name is 1 to 200 characters")
    key = new_token()
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(open311_keys).values(
                    name=name, key_hash=hash_token(key), created_at=datetime.now(UTC)
                )
            )
    except IntegrityError:
        raise KeyRefused(f"a key named {name!r} exists already") from None
    return key


async def list_keys(engine: AsyncEngine) -> list[Open311Key]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(open311_keys).order_by(open311_keys.c.name))
        return [Open311Key(r.name, r.created_at, r.revoked_at) for r in rows]


async def revoke_key(engine: AsyncEngine, name: str) -> None:
    async with engine.begin() as connection:
        result = await connection.execute(
            update(open311_keys)
            .where(open311_keys.c.name == name, open311_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if result.rowcount == 0:
            raise KeyRefused(f"no active key named {name!r}")


async def key_holder(engine: AsyncEngine, key: str) -> str | None:
    """The name of the application holding the active key `key`, or None."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(open311_keys.c.name).where(
                    open311_keys.c.key_hash == hash_token(key), open311_keys.c.revoked_at.is_(None)
                )
            )
        ).first()
    return None if row is None else str(row.name)
