"""The hub's read access to the live knowledge-base index: the same `Searcher` the bot's action
server uses, loaded on first use (the embedding model takes seconds) and following each new
index version the way the action server does (it checks `CURRENT` before every search)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from aiohttp import web

from knowledge_base.search import Searcher, SearchResult
from knowledge_base.settings import KBSettings


class LiveSearch:
    def __init__(self, kb_settings: Callable[[], KBSettings]) -> None:
        self._kb_settings = kb_settings
        self._searcher: Searcher | None = None
        self._lock = threading.Lock()

    @property
    def settings(self) -> KBSettings:
        return self._kb_settings()

    def searcher(self) -> Searcher:
        """The searcher on the live version (blocking: loads the model the first time)."""
        with self._lock:
            if self._searcher is None:
                self._searcher = Searcher(self._kb_settings())
            self._searcher.reload_if_changed()
            return self._searcher

    def search_now(self, query: str, k: int) -> SearchResult:
        return self.searcher().search(query, k)

    async def search(self, query: str, k: int = 3) -> SearchResult:
        """Raises knowledge_base.index_store.IndexNotBuilt when there is no index yet."""
        return await asyncio.to_thread(self.search_now, query, k)


LIVE_SEARCH = web.AppKey("live_search", LiveSearch)
