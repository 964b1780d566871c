"""Users, tokens, web passwords and sessions: create, list, revoke, authenticate; and the
audit trail of writes."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cityhelix.auth.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, password_matches
from cityhelix.auth.principal import Principal, Role
from cityhelix.auth.tables import audit_log, sessions, users
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
    """The principal holding `token` (and named `name`, when given), or None.

    The admin token belongs to "admin" whatever name a Basic header gives with it: the
    audit records the token's owner, never a name the caller chose.
    """
    admin = settings.admin_token.get_secret_value() if settings.admin_token else None
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return Principal("admin", Role.ADMIN)
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


# ---------------------------------------------------------------- passwords and sessions

#: how long a browser session lasts after sign-in
SESSION_LIFETIME = timedelta(hours=12)


async def set_password(engine: AsyncEngine, name: str, password: str) -> None:
    """Give the active user `name` a web console password (argon2id); ends their sessions."""
    if len(password) < MIN_LENGTH:
        raise UserError(f"password: at least {MIN_LENGTH} characters, got {len(password)}")
    if len(password) > MAX_LENGTH:
        raise UserError(f"password: at most {MAX_LENGTH} characters, got {len(password)}")
    password_hash = await asyncio.to_thread(hash_password, password)
    async with engine.begin() as connection:
        user_id = await connection.scalar(
            update(users)
            .where(users.c.name == name, users.c.revoked_at.is_(None))
            .values(password_hash=password_hash)
            .returning(users.c.id)
        )
        if user_id is None:
            raise UserError(f"no active user named {name!r}")
        # a new password shuts out whoever knew the old one
        await connection.execute(delete(sessions).where(sessions.c.user_id == user_id))


async def check_password(engine: AsyncEngine, name: str, password: str) -> Principal | None:
    """The active user `name` when `password` is theirs, else None (same work either way)."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(
                    users.c.id,
                    users.c.name,
                    users.c.role,
                    users.c.department,
                    users.c.password_hash,
                ).where(users.c.name == name, users.c.revoked_at.is_(None))
            )
        ).first()
    if not await password_matches(row.password_hash if row else None, password) or row is None:
        return None
    # a department user signed in by password sees its department's incidents, as by token
    return Principal(row.name, Role(row.role), row.id, row.department)


async def start_session(engine: AsyncEngine, principal: Principal) -> str:
    """A new session for a signed-in user; returns the cookie's token (only its hash is kept)."""
    if principal.user_id is None:
        raise UserError("only users stored in the database can sign in")
    token = new_token()
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        # expired sessions are swept here, where sessions are made, not by a timer
        await connection.execute(delete(sessions).where(sessions.c.expires_at < now))
        await connection.execute(
            insert(sessions).values(
                token_hash=hash_token(token),
                user_id=principal.user_id,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token


async def session_principal(engine: AsyncEngine, token: str) -> Principal | None:
    """The user of an unexpired session of an active user, or None."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(users.c.id, users.c.name, users.c.role, users.c.department)
                .join(sessions, sessions.c.user_id == users.c.id)
                .where(
                    sessions.c.token_hash == hash_token(token),
                    sessions.c.expires_at > datetime.now(UTC),
                    users.c.revoked_at.is_(None),
                )
            )
        ).first()
    return None if row is None else Principal(row.name, Role(row.role), row.id, row.department)


async def end_session(engine: AsyncEngine, token: str) -> None:
    """Sign out: the session's row is deleted, so the cookie is worthless even if kept."""
    async with engine.begin() as connection:
        await connection.execute(delete(sessions).where(sessions.c.token_hash == hash_token(token)))
