"""Slows down password guessing: after a few wrong passwords for one user from one address,
each further attempt must wait, twice as long each time (up to 15 minutes).

Kept in memory per process: a guesser spread over processes gets a few more tries, but never
fast ones. Bounded: the oldest entries are forgotten past `MAX_ENTRIES`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

#: wrong passwords allowed before waiting starts
FREE_ATTEMPTS = 3
FIRST_WAIT_SECONDS = 2.0
LONGEST_WAIT_SECONDS = 900.0
MAX_ENTRIES = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Wrong-password counts per (user name, client address)."""

    def __init__(self) -> None:
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()

    def wait_seconds(self, name: str, address: str) -> float:
        """How long this pair must still wait before its next attempt (0: go ahead)."""
        failures = self._failures.get((name.casefold(), address))
        if failures is None or failures.count < FREE_ATTEMPTS:
            return 0.0
        wait: float = min(
            FIRST_WAIT_SECONDS * 2 ** (failures.count - FREE_ATTEMPTS), LONGEST_WAIT_SECONDS
        )
        return max(0.0, failures.last + wait - time.monotonic())

    def failed(self, name: str, address: str) -> None:
        key = (name.casefold(), address)
        failures = self._failures.pop(key, None) or _Failures(0, 0.0)
        failures.count += 1
        failures.last = time.monotonic()
        self._failures[key] = failures
        while len(self._failures) > MAX_ENTRIES:
            self._failures.popitem(last=False)

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name.casefold(), address), None)
