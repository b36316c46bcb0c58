"""Every article in the folder, for the studio's list: summary and lint warnings per file.

A file is parsed again only when its stat changes (size, mtime), so listing 10,000 articles
costs a walk and a stat per file, not a YAML parse each (scripts/bench_studio.py measures it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from knowledge_base.articles import ArticleError, article_files, parse_article
from knowledge_base.lint import article_findings, internal_links


@dataclass(frozen=True)
class Entry:
    id: str
    path: str
    title: str
    category: str
    updated: str
    tags: tuple[str, ...]
    questions: tuple[str, ...]
    needs_person: bool
    #: lint warnings that need no other article (file name, questions, tags)
    warnings: tuple[str, ...]
    #: article ids the body links to (checked against the folder at list time)
    links: tuple[str, ...]
    #: the parser's problem when the file is broken (then the other fields are the file's name)
    error: str = ""

    def has_warnings(self, ids: Collection[str]) -> bool:
        return bool(self.error or self.warnings or any(target not in ids for target in self.links))

    def matches(self, words: list[str]) -> bool:
        """Every word (lowercase) in the id, title, category or tags."""
        haystack = " ".join([self.id, self.title, self.category, *self.tags]).lower()
        return all(word in haystack for word in words)

    def to_json(self, ids: Collection[str]) -> dict[str, Any]:
        warnings = list(self.warnings)
        warnings += [f"links to /help/{target}, which does not exist" for target in self.links if target not in ids]
        if self.error:
            warnings.insert(0, self.error)
        return {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "updated": self.updated,
            "tags": list(self.tags),
            "questions": len(self.questions),
            "needs_person": self.needs_person,
            "warnings": warnings,
            "broken": bool(self.error),
        }


def _entry(path: str) -> Entry:
    try:
        article = parse_article(Path(path))
    except ArticleError as exc:
        stem = Path(path).stem
        return Entry(stem, path, stem, "", "", (), (), False, (), (), exc.problem)
    warnings = tuple(f.message for f in article_findings(article, ()) if f.severity == "warning")
    return Entry(
        article.id,
        path,
        article.title,
        article.category,
        article.updated,
        article.tags,
        article.questions,
        article.needs_person,
        warnings,
        tuple(internal_links(article.body)),
    )


class ArticleCatalog:
    """The articles under a folder, re-parsed per file only when its stat changed. The folder is
    walked (a stat per file, ~100 ms at 10k articles) at most every `max_age` seconds; the studio
    calls `forget()` after each of its own writes, so its list is never behind its publishes."""

    def __init__(self, max_age: float = 2.0) -> None:
        self._cache: dict[str, tuple[tuple[int, int], Entry]] = {}
        self._lock = threading.Lock()
        self._max_age = max_age
        self._listed: tuple[float, Path, list[Entry], frozenset[str]] | None = None

    def forget(self) -> None:
        self._listed = None

    def listing(self, articles_dir: Path) -> tuple[list[Entry], frozenset[str]]:
        """Every article sorted by id, and the set of their ids (blocking: call it in a thread)."""
        with self._lock:
            listed = self._listed
            if listed is not None and listed[1] == articles_dir and time.monotonic() - listed[0] < self._max_age:
                return listed[2], listed[3]
            entries = self._walk(articles_dir)
            ids = frozenset(e.id for e in entries)
            self._listed = (time.monotonic(), articles_dir, entries, ids)
            return entries, ids

    def entries(self, articles_dir: Path) -> list[Entry]:
        return self.listing(articles_dir)[0]

    def _walk(self, articles_dir: Path) -> list[Entry]:
        seen: dict[str, tuple[tuple[int, int], Entry]] = {}
        for path in article_files(articles_dir, as_str=True):
            try:
                stat = os.stat(path)
            except FileNotFoundError:  # deleted while walking
                continue
            key = (stat.st_size, stat.st_mtime_ns)
            cached = self._cache.get(path)
            seen[path] = cached if cached is not None and cached[0] == key else (key, _entry(path))
        self._cache = seen
        return sorted((entry for _key, entry in seen.values()), key=lambda e: e.id)


CATALOG = web.AppKey("article_catalog", ArticleCatalog)
