"""Web console passwords: argon2id hashes (argon2-cffi's defaults, RFC 9106's second choice).

Unlike API tokens, passwords are chosen by people and guessable, so they get a slow,
memory-hard hash; verifying one costs tens of milliseconds, run in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

#: shortest password `set_password` accepts (NIST SP 800-63B section 5.1.1.2: at least 8)
MIN_LENGTH = 8
#: longest: argon2 takes any length, but a megabyte password is a denial of service
MAX_LENGTH = 256

_hasher = PasswordHasher()


@functools.cache
def _decoy() -> str:
    """Verified against when the user is unknown, so that a wrong name costs as long as a
    wrong password and timing does not reveal which names exist. Made at the first sign-in,
    not at import: a hash is memory-hard work every process (and CLI call) would pay."""
    return _hasher.hash("decoy password that nobody holds")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _decoy(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed (False for None, after the same work)."""
    if len(password) > MAX_LENGTH:
        return False
    return await asyncio.to_thread(_matches, password_hash, password)
