"""The help center's knowledge base: articles in, an index built, questions answered by tier.

The public surface, what `actions` and `handoff` use, is exported here. The names load on first
use (PEP 562), so `from knowledge_base import Article` does not pay for PyTorch and FAISS.
Measuring lives apart, in `knowledge_base.eval`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KBSettings": "knowledge_base.settings",
    "SettingsError": "knowledge_base.environment",
    "Environment": "knowledge_base.environment",
    "PROJECT_ROOT": "knowledge_base.environment",
    "Article": "knowledge_base.articles",
    "ArticleError": "knowledge_base.articles",
    "load_articles": "knowledge_base.articles",
    "parse_article": "knowledge_base.articles",
    "build_index": "knowledge_base.builder",
    "BuildReport": "knowledge_base.builder",
    "Searcher": "knowledge_base.search",
    "SearchResult": "knowledge_base.search",
    "Hit": "knowledge_base.search",
    "Tier": "knowledge_base.search",
    "Embedder": "knowledge_base.embedding",
    "cluster_questions": "knowledge_base.gaps",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'knowledge_base' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
