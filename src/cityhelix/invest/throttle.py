"""A sliding-window limit per client address, for the public enquiry form.

Process-local on purpose: behind N processes a client gets at most N times the limit,
which still stops a flood; a shared limit belongs to the proxy in front (operations.md).
The table of addresses is bounded, oldest dropped first.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class SlidingWindow:
    """At most `limit` events per `seconds` per key."""

    def __init__(self, limit: int, seconds: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.seconds = seconds
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, key: str, now: float | None = None) -> int:
        """0 and the event counted when allowed; else the seconds until it would be."""
        moment = time.monotonic() if now is None else now
        events = self._events.pop(key, None) or deque()
        while events and events[0] <= moment - self.seconds:
            events.popleft()
        self._events[key] = events
        if len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        if len(events) >= self.limit:
            return max(1, int(events[0] + self.seconds - moment + 1))
        events.append(moment)
        return 0
