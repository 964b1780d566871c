"""API tokens: 32 random bytes shown once, stored as their SHA-256.

SHA-256 (not argon2) is right for tokens: they carry 256 bits of entropy, so a slow hash
adds no protection and would cost every request a deliberate delay.
"""

from __future__ import annotations

import hashlib
import secrets


def new_token() -> str:
    """A fresh random token (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
