"""Sliding-window limits (messages per conversation, requests per address, sign-in attempts).

Keys come from the outside world (addresses, conversation ids, emails), so the buckets of keys
that have gone quiet are dropped every `PRUNE_EVERY` calls: memory stays bounded by the keys
active within one window.
"""

from __future__ import annotations

import math
import time
from collections import deque

PRUNE_EVERY = 1000


class RateLimiter:
    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._calls = 0

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one hit for `key` unless it is already at the limit (then False)."""
        now = time.monotonic() if now is None else now
        if self.full(key, now):
            return False
        self.hit(key, now)
        return True

    def full(self, key: str, now: float | None = None) -> bool:
        """True when `key` has used its limit in the current window (nothing is counted)."""
        now = time.monotonic() if now is None else now
        self._maybe_prune(now)
        hits = self._hits.get(key)
        if hits is None:
            return False
        while hits and now - hits[0] > self.window:
            hits.popleft()
        return len(hits) >= self.limit

    def hit(self, key: str, now: float | None = None) -> None:
        self._hits.setdefault(key, deque()).append(time.monotonic() if now is None else now)

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Whole seconds until `key` may try again (0 when it may now)."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if not hits or len(hits) < self.limit:
            return 0
        return max(1, math.ceil(hits[0] + self.window - now))

    def __len__(self) -> int:
        """How many keys have a bucket (for tests of the pruning)."""
        return len(self._hits)

    def _maybe_prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % PRUNE_EVERY:
            return
        quiet = [key for key, hits in self._hits.items() if not hits or now - hits[-1] > self.window]
        for key in quiet:
            del self._hits[key]
