"""Each article's helpfulness, page reads and the bot's answers with it in the last 30 days, for
the studio's list and the help center's "most read", recomputed at most every `TTL_SECONDS`.

Counting 50,000 answers costs ~100 ms on SQLite; the list is opened and filtered far more often
than the figures move, so a list may show figures up to `TTL_SECONDS` old (a page read or a
"Did that help?" shows up at the next recount).
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from handoff.store import Store

TTL_SECONDS = 30.0
DAYS = 30


class ActivityFigures:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self._ttl = ttl
        self._figures: dict[str, dict[str, int]] = {}
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, store: Store) -> dict[str, dict[str, int]]:
        """{article_id: {"yes", "no", "answers", "reads"}}, at most `ttl` seconds old."""
        async with self._lock:
            if time.monotonic() - self._at >= self._ttl:
                self._figures = await store.article_activity(time.time() - DAYS * 86400)
                self._at = time.monotonic()
            return self._figures

    def forget(self) -> None:
        """Recount at the next request (tests, and after a publish changes which articles exist)."""
        self._at = float("-inf")


ACTIVITY = web.AppKey("article_activity", ActivityFigures)
