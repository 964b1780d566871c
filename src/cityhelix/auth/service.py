"""Users and tokens: create, list, revoke, authenticate; and the audit trail of writes."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.tables import audit_log, users
from cityhelix.auth.tokens import hash_token, new_token
from cityhelix.settings import Settings


class UserError(ValueError):
    """A user cannot be created or revoked as asked (duplicate name, unknown user)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    department: str | None = None


async def create_user(
    engine: AsyncEngine, name: str, role: Role, department: str | None = None
) -> str:
    """Create a user and return its token; only the token's hash is kept.

    A user of role `department` names its department's code; no other role has one.
    """
    if not name.strip():
        raise UserError("a user name may not be empty")
    if role is Role.DEPARTMENT and not (department and department.strip()):
        raise UserError("a user of role 'department' needs a department code (--department CODE)")
    if role is not Role.DEPARTMENT and department:
        raise UserError(f"only a user of role 'department' has a department, not {role.value!r}")
    token = new_token()
    try:
        async with engine.begin() as connection:
            values = {
                "name": name,
                "role": role.value,
                "token_hash": hash_token(token),
                "created_at": datetime.now(UTC),
            }
            if department:
                # only named when given, so older schemas (before 0010) still take users
                values["department"] = department.strip()
            await connection.execute(insert(users).values(values))
    except IntegrityError:
        raise UserError(f"a user named {name!r} exists already") from None
    return token


async def list_users(engine: AsyncEngine) -> Sequence[User]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(users).order_by(users.c.name))
        return [
            User(r.id, r.name, Role(r.role), r.created_at, r.revoked_at, r.department) for r in rows
        ]


async def revoke_user(engine: AsyncEngine, name: str) -> None:
    """Revoke a user's token at once; the user stays listed, for the audit trail."""
    async with engine.begin() as connection:
        result = await connection.execute(
            update(users)
            .where(users.c.name == name, users.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )
        if result.rowcount == 0:
            raise UserError(f"no active user named {name!r}")


async def authenticate(
    engine: AsyncEngine, settings: Settings, token: str, name: str | None = None
) -> Principal | None:
    """The principal holding `token` (and named `name`, when given), or None."""
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal(name or "admin", Role.ADMIN)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(users.c.id, users.c.name, users.c.role, users.c.department).where(
                    users.c.token_hash == hash_token(token), users.c.revoked_at.is_(None)
                )
            )
        ).first()
    if row is None or (name is not None and name != row.name):
        return None
    return Principal(row.name, Role(row.role), row.id, row.department)


def audit_rows(
    principal: Principal, method: str, path: str, entries: Sequence[tuple[str, int]]
) -> list[dict[str, Any]]:
    """The audit rows of one write request: one per entity written, or one saying none."""
    now = datetime.now(UTC)
    base = {"at": now, "user_name": principal.name, "method": method, "path": path}
    if not entries:
        return [{**base, "entity_type": None, "entity_id": None}]
    return [
        {**base, "entity_type": entity_type, "entity_id": entity_id}
        for entity_type, entity_id in entries
    ]


async def record_writes(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Audit many write requests at once, inside their transaction (`audit_rows` each)."""
    if rows:
        await connection.execute(insert(audit_log), list(rows))


async def record_write(
    connection: AsyncConnection,
    principal: Principal,
    method: str,
    path: str,
    entries: Sequence[tuple[str, int]],
) -> None:
    """Audit one write request inside its own transaction: who, when, what."""
    await record_writes(connection, audit_rows(principal, method, path, entries))
