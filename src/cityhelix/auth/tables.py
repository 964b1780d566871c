"""Tables of users (with hashed tokens and passwords), their browser sessions, and the audit
trail of every write."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from cityhelix.db.metadata import metadata
from cityhelix.db.types import UtcDateTime

_Id = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(32), nullable=False),
    # SHA-256 hex of the 32-byte random token: the token itself is never stored
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    # argon2id hash of the web console password; NULL: the user signs in with a token only
    Column("password_hash", String(200), nullable=True),
)

#: browser sessions of the web console: the cookie holds a random token, the row its SHA-256
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", _Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Index("ix_sessions_user_id", "user_id"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False),
    Column("user_name", String(200), nullable=False),
    Column("method", String(10), nullable=False),
    Column("path", Text, nullable=False),
    Column("entity_type", String(64), nullable=True),
    Column("entity_id", BigInteger, nullable=True),
    Index("ix_audit_log_at", "at"),
)
