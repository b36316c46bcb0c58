"""The one knowledge-base Searcher of this action server process, created on first use."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

from actions.settings import ActionSettings
from knowledge_base.search import Hit, Searcher, SearchResult

T = TypeVar("T")


class KnowledgeBaseUnavailable(RuntimeError):
    """The index is not built or failed to load; the customer is handed off (kb_unavailable)."""


_lock = threading.Lock()
_searcher: Searcher | None = None
_settings: ActionSettings | None = None


def settings() -> ActionSettings:
    global _settings
    if _settings is None:
        _settings = ActionSettings.from_env()
    return _settings


def configure(searcher: Searcher | None, action_settings: ActionSettings | None = None) -> None:
    """Install a searcher (the server's warm-up, or a test's own)."""
    global _searcher, _settings
    with _lock:
        _searcher = searcher
        if action_settings is not None:
            _settings = action_settings


def get_searcher() -> Searcher:
    global _searcher
    with _lock:
        if _searcher is None:
            searcher = Searcher(settings().kb)
            searcher.reload_if_changed()
            searcher.start_watching()
            _searcher = searcher
        return _searcher


async def _off_loop(call: Callable[[Searcher], T]) -> T:
    """Run `call` with the process's searcher on a worker thread; any failure becomes
    KnowledgeBaseUnavailable."""
    try:
        searcher = await asyncio.to_thread(get_searcher)
        return await asyncio.to_thread(call, searcher)
    except Exception as exc:  # the model, the index files, FAISS: all mean "no KB now"
        raise KnowledgeBaseUnavailable(str(exc)) from exc


async def search(query: str, k: int = 3) -> SearchResult:
    """`Searcher.search` off the event loop."""
    return await _off_loop(lambda searcher: searcher.search(query, k))


async def passage_for(article_id: str, text: str) -> Hit | None:
    """`Searcher.passage_for` off the event loop."""
    return await _off_loop(lambda searcher: searcher.passage_for(article_id, text))


async def search_in_context(previous: str, text: str, k: int = 3, rescue_tier: bool = True) -> SearchResult:
    """`Searcher.search_in_context` off the event loop."""
    return await _off_loop(lambda searcher: searcher.search_in_context(previous, text, k, rescue_tier))
