"""Every article in the folder, for the studio's list: summary and lint warnings per file.

A file is parsed again only when its stat changes (size, mtime), so listing 10,000 articles
costs a walk and a stat per file, not a YAML parse each (scripts/bench_studio.py measures it).
"""

from __future__ import annotations

import os
import threading
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

    def to_json(self, ids: set[str]) -> dict[str, Any]:
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
    """The articles under a folder, re-parsed per file only when its stat changed."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[tuple[int, int], Entry]] = {}
        self._lock = threading.Lock()

    def entries(self, articles_dir: Path) -> list[Entry]:
        """Every article, sorted by id (blocking: call it in a thread)."""
        with self._lock:
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
