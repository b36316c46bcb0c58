"""Sliding-window limits (messages per conversation, requests per address, sign-in attempts).

Keys come from the outside world (addresses, conversation ids, emails), so the buckets of keys
that have gone quiet are dropped every `PRUNE_EVERY` calls: memory stays bounded by the keys
active within one window. With several hubs the same windows live in Redis (`RedisLimiter`), so a
client cannot multiply its limit by the number of hubs.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections import deque
from typing import Protocol

import redis.asyncio as aioredis

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


class Limiter(Protocol):
    """A sliding-window limit as the hub uses it: this process's (`LocalLimiter`) or shared by
    every hub (`RedisLimiter`)."""

    async def allow(self, key: str) -> bool: ...

    async def full(self, key: str) -> bool: ...

    async def hit(self, key: str) -> None: ...

    async def retry_after(self, key: str) -> int: ...


class LocalLimiter:
    """A `RateLimiter` in this process (one hub)."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.counts = RateLimiter(limit, window_seconds)

    async def allow(self, key: str) -> bool:
        return self.counts.allow(key)

    async def full(self, key: str) -> bool:
        return self.counts.full(key)

    async def hit(self, key: str) -> None:
        self.counts.hit(key)

    async def retry_after(self, key: str) -> int:
        return self.counts.retry_after(key)


# One round trip per check, atomic: prune the window, count, maybe record a hit. Redis's own clock
# (TIME, microseconds) is every hub's clock. The key expires with its newest hit.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, limit, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if mode == 'retry' then
  if n < limit then return 0 end
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000000))
end
if mode == 'full' then if n >= limit then return 1 else return 0 end end
if mode == 'allow' and n >= limit then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return 1
"""


class RedisLimiter:
    """The same sliding window in Redis, shared by every hub (`REDIS_URL`). Keys are hashed: an
    address or an email never sits in Redis as it is."""

    def __init__(self, client: aioredis.Redis, name: str, limit: int, window_seconds: float) -> None:
        self.name = name
        self.limit = limit
        self.window_us = int(window_seconds * 1_000_000)
        self._script = client.register_script(_SLIDING_WINDOW)

    async def _run(self, key: str, mode: str) -> int:
        hashed = hashlib.sha256(key.encode()).hexdigest()[:32]
        return int(
            await self._script(
                keys=[f"{self.name}:{hashed}"], args=[self.window_us, self.limit, mode, secrets.token_hex(8)]
            )
        )

    async def allow(self, key: str) -> bool:
        return bool(await self._run(key, "allow"))

    async def full(self, key: str) -> bool:
        return bool(await self._run(key, "full"))

    async def hit(self, key: str) -> None:
        await self._run(key, "hit")

    async def retry_after(self, key: str) -> int:
        return await self._run(key, "retry")


def limiter(client: aioredis.Redis | None, prefix: str, name: str, limit: int, window_seconds: float) -> Limiter:
    """In Redis when the hubs share one (`client`), else in this process."""
    if client is None:
        return LocalLimiter(limit, window_seconds)
    return RedisLimiter(client, f"{prefix}:rate:{name}", limit, window_seconds)
