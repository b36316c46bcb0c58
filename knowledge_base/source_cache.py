"""Parsed articles and their passages, remembered between builds by file identity.

Parsing front matter (YAML) and chunking is most of what a build of an unchanged help center
costs: about 1 ms per article, 10 s at 10k articles on a loaded two-core machine. Like git's
index, the cache keys each file by what `stat` says (size, mtime in ns, inode, ctime in ns): a
file whose stat is unchanged is not read again. Any edit, rename, `touch` or copy changes the
key, and the file is parsed again; a stale or unreadable cache file only costs a full parse.
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from knowledge_base.articles import Article, parse_article
from knowledge_base.chunking import Passage, chunk_article

log = logging.getLogger(__name__)

#: Bumped whenever Article, Passage or chunking change shape, so an old cache is ignored.
CACHE_FORMAT = 1

FileKey = tuple[int, int, int, int]


@dataclass
class _Entry:
    key: FileKey
    article: Article
    passages: list[Passage] | None = None
    #: the pickled form this entry was read from, reused when it is saved again unchanged
    state: tuple[Any, ...] | None = None

    def to_state(self) -> tuple[Any, ...]:
        """Plain tuples without the path (pickling 10k Path objects doubles the load time)."""
        if self.state is not None and (self.passages is None) == (self.state[2] is None):
            return self.state
        article = tuple(getattr(self.article, name) for name in ARTICLE_FIELDS)
        passages = None if self.passages is None else [tuple(vars(p).values()) for p in self.passages]
        return self.key, article, passages

    @classmethod
    def from_state(cls, path: Path, state: tuple[Any, ...]) -> _Entry:
        key, article, passages = state
        return cls(tuple(key), _restore(Article, {**dict(zip(ARTICLE_FIELDS, article, strict=True)), "path": path}),
                   None if passages is None else [_restore(Passage, dict(zip(PASSAGE_FIELDS, p, strict=True)))
                                                  for p in passages],
                   state)


def _restore(cls: type[Any], values: dict[str, Any]) -> Any:
    """A frozen dataclass instance from known-good values without running __init__ (frozen
    dataclasses set each field through object.__setattr__: 50k of them cost ~0.3 s)."""
    instance = cls.__new__(cls)
    instance.__dict__.update(values)
    return instance


#: Article fields in constructor order, without `path`; Passage fields in order.
ARTICLE_FIELDS = tuple(f.name for f in fields(Article) if f.name != "path")
PASSAGE_FIELDS = tuple(f.name for f in fields(Passage))


def file_key(path: Path) -> FileKey:
    st = path.stat()
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class SourceCache:
    """`parse(path)` and `passages(article)` that skip files unchanged since the last `save`."""

    def __init__(self, cache_file: Path | None) -> None:
        self._file = cache_file
        self._previous: dict[str, tuple[Any, ...]] = self._read(cache_file)  # path → _Entry state
        self._current: dict[str, _Entry] = {}
        self.reused = 0
        self.parsed = 0

    @staticmethod
    def _read(cache_file: Path | None) -> dict[str, tuple[Any, ...]]:
        if cache_file is None or not cache_file.is_file():
            return {}
        try:
            with cache_file.open("rb") as handle:
                format_, entries = pickle.load(handle)
            if format_ != CACHE_FORMAT or not isinstance(entries, dict):
                return {}
            return entries
        except Exception:  # noqa: BLE001 - any broken cache only means parsing everything again
            log.warning("ignoring unreadable article cache %s", cache_file)
            return {}

    def parse(self, path: Path) -> Article:
        """The article in `path`: from the cache when the file is unchanged, else parsed (and
        validated: a broken file raises ArticleError as `parse_article` does)."""
        key = file_key(path)
        state = self._previous.get(str(path))
        if state is not None and tuple(state[0]) == key:
            entry = _Entry.from_state(path, state)
            self.reused += 1
        else:
            entry = _Entry(key, parse_article(path))
            self.parsed += 1
        self._current[str(path)] = entry
        return entry.article

    def passages(self, article: Article) -> list[Passage]:
        entry = self._current.get(str(article.path))
        if entry is None or entry.article is not article:
            return chunk_article(article)
        if entry.passages is None:
            entry.passages = chunk_article(article)
        return entry.passages

    def save(self) -> None:
        """Keep what this run parsed (files gone since are dropped); written atomically."""
        if self._file is None:
            return
        if not self.parsed and len(self._current) == len(self._previous) and self._file.is_file():
            return  # nothing new to remember
        self._file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._file.with_name(f".{self._file.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            states = {path: entry.to_state() for path, entry in self._current.items()}
            pickle.dump((CACHE_FORMAT, states), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self._file)
