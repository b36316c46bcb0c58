"""The one knowledge-base Searcher of this action server process, created on first use."""

from __future__ import annotations

import asyncio
import threading

from actions.settings import ActionSettings
from knowledge_base.search import Hit, Searcher, SearchResult


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


async def search(query: str, k: int = 3) -> SearchResult:
    """Search off the event loop; any failure becomes KnowledgeBaseUnavailable."""
    try:
        searcher = await asyncio.to_thread(get_searcher)
        return await asyncio.to_thread(searcher.search, query, k)
    except Exception as exc:  # the model, the index files, FAISS: all mean "no KB now"
        raise KnowledgeBaseUnavailable(str(exc)) from exc


async def passage_for(article_id: str, text: str) -> Hit | None:
    """`Searcher.passage_for` off the event loop; any failure becomes KnowledgeBaseUnavailable."""
    try:
        searcher = await asyncio.to_thread(get_searcher)
        return await asyncio.to_thread(searcher.passage_for, article_id, text)
    except Exception as exc:  # as in search(): any failure means "no KB now"
        raise KnowledgeBaseUnavailable(str(exc)) from exc


async def search_in_context(previous: str, text: str, k: int = 3, rescue_tier: bool = True) -> SearchResult:
    """`Searcher.search_in_context` off the event loop; any failure becomes KnowledgeBaseUnavailable."""
    try:
        searcher = await asyncio.to_thread(get_searcher)
        return await asyncio.to_thread(searcher.search_in_context, previous, text, k, rescue_tier)
    except Exception as exc:  # as in search(): any failure means "no KB now"
        raise KnowledgeBaseUnavailable(str(exc)) from exc
