"""Search the live index version: dense passages + example questions + BM25, fused by article.

Ranking fuses three article rankings with reciprocal-rank fusion; the confidence tier comes
from the best cosine similarity of the winning article (calibrated, unlike fused ranks):
answer ≥ KB_ANSWER_THRESHOLD > suggest ≥ KB_SUGGEST_THRESHOLD > none.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import faiss
import numpy as np

from knowledge_base import index_store, vector_index
from knowledge_base.builder import article_url
from knowledge_base.embedding import Embedder
from knowledge_base.settings import KBSettings
from knowledge_base.text_ranking import BM25Ranking

log = logging.getLogger(__name__)

CANDIDATES = 30
RRF_K = 20


class Tier(str, Enum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


@dataclass(frozen=True)
class Hit:
    article_id: str
    title: str
    section: str
    passage: str
    url: str
    score: float
    needs_person: bool = False
    #: the article's opening passage (for security articles: the immediate safety step)
    lead: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id, "title": self.title, "section": self.section,
            "passage": self.passage, "url": self.url, "score": round(self.score, 4),
            "needs_person": self.needs_person, "lead": self.lead,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    tier: Tier
    hits: list[Hit]
    version: str
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "tier": self.tier.value, "version": self.version,
                "hits": [h.to_json() for h in self.hits], "timings_ms": self.timings_ms}


class LoadedIndex:
    """One immutable index version in memory."""

    def __init__(self, version: index_store.IndexVersion, settings: KBSettings) -> None:
        manifest = version.read_manifest()
        self.version = version.name
        self.settings = settings
        self.articles: dict[str, dict[str, Any]] = manifest["articles"]
        self.passages: dict[int, dict[str, Any]] = {int(p["passage_id"]): p for p in manifest["passages"]}
        self.questions: dict[int, dict[str, Any]] = {int(q["question_id"]): q for q in manifest["questions"]}
        self.passages_by_article: dict[str, list[int]] = {}
        for pid, p in self.passages.items():
            self.passages_by_article.setdefault(p["article_id"], []).append(pid)
        self.passage_index = version.read_faiss("passages")
        self.question_index = version.read_faiss("questions")
        docs = [(p["article_id"], f'{p["title"]} {p["section"]} {p["text"]}') for p in self.passages.values()]
        docs += [(q["article_id"], q["text"]) for q in self.questions.values()]
        self.bm25 = BM25Ranking(docs)

    def passage_vector(self, passage_id: int) -> np.ndarray:
        return self.passage_index.reconstruct(passage_id)


class Searcher:
    """Answers `search(query, k)` from the live version; reloads when `CURRENT` changes.

    A reload builds the new LoadedIndex on the watcher thread and then swaps one reference,
    so a search in flight finishes on the version it started with.
    """

    def __init__(self, settings: KBSettings, embedder: Embedder | None = None) -> None:
        faiss.omp_set_num_threads(1)
        self.settings = settings
        self.embedder = embedder or Embedder(settings.model_path)
        self._loaded: LoadedIndex | None = None
        self._signature: tuple[int, int] | None = None
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def version(self) -> str | None:
        return self._loaded.version if self._loaded else None

    @property
    def loaded(self) -> LoadedIndex | None:
        return self._loaded

    def reload_if_changed(self) -> bool:
        """Load the version `CURRENT` names if it differs from the one in memory."""
        with self._reload_lock:
            signature = index_store.pointer_signature(self.settings.index_dir)
            if signature == self._signature and self._loaded is not None:
                return False
            version = index_store.current_version(self.settings.index_dir)
            if version is None or (self._loaded and version.name == self._loaded.version):
                self._signature = signature
                return False
            started = time.perf_counter()
            loaded = LoadedIndex(version, self.settings)
            self._loaded = loaded
            self._signature = signature
            log.info("kb index %s loaded in %.0f ms", version.name, 1000 * (time.perf_counter() - started))
            return True

    def start_watching(self, interval: float = 0.5) -> None:
        """Poll `CURRENT` on a daemon thread; a new version serves within `interval` + load time."""
        if self._watcher is not None:
            return

        def watch() -> None:
            while not self._stop.wait(interval):
                try:
                    self.reload_if_changed()
                except Exception:  # a half-written or broken version must not kill the watcher
                    log.exception("kb index reload failed; still serving %s", self.version)

        self._watcher = threading.Thread(target=watch, name="kb-index-watcher", daemon=True)
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()

    def search(self, query: str, k: int = 3) -> SearchResult:
        loaded = self._loaded
        if loaded is None:
            self.reload_if_changed()
            loaded = self._loaded
        if loaded is None:
            raise index_store.IndexNotBuilt(
                f"no knowledge-base index in {self.settings.index_dir}; run `make index`"
            )
        started = time.perf_counter()
        query_vector = self.embedder.encode_query(query)
        embedded = time.perf_counter()
        result = self.search_vector(loaded, query, query_vector, k)
        result.timings_ms["embed"] = round(1000 * (embedded - started), 3)
        return result

    def search_vector(self, loaded: LoadedIndex, query: str, query_vector: np.ndarray, k: int) -> SearchResult:
        started = time.perf_counter()
        passage_hits = vector_index.search(loaded.passage_index, query_vector, CANDIDATES)
        question_hits = vector_index.search(loaded.question_index, query_vector, CANDIDATES)
        best_passage: dict[str, tuple[int, float]] = {}
        for pid, score in passage_hits:
            article = loaded.passages[pid]["article_id"]
            if article not in best_passage or score > best_passage[article][1]:
                best_passage[article] = (pid, score)
        best_question: dict[str, float] = {}
        for qid, score in question_hits:
            article = loaded.questions[qid]["article_id"]
            best_question[article] = max(score, best_question.get(article, -1.0))
        bm25_ranked = loaded.bm25.rank(query, CANDIDATES)
        dense_done = time.perf_counter()

        fused: dict[str, float] = {}
        for ranking in (
            sorted(best_passage, key=lambda a: -best_passage[a][1]),
            sorted(best_question, key=lambda a: -best_question[a]),
            bm25_ranked,
        ):
            for rank, article in enumerate(ranking):
                fused[article] = fused.get(article, 0.0) + 1.0 / (RRF_K + rank + 1)
        confidence = {
            a: max(best_passage.get(a, (0, -1.0))[1], best_question.get(a, -1.0)) for a in fused
        }
        order = sorted(fused, key=lambda a: (-fused[a], -confidence[a]))[:k]
        hits = [self._hit(loaded, a, confidence[a], best_passage.get(a), query_vector) for a in order]
        top = confidence[order[0]] if order else -1.0
        if top >= self.settings.answer_threshold:
            tier = Tier.ANSWER
        elif top >= self.settings.suggest_threshold:
            tier = Tier.SUGGEST
        else:
            tier = Tier.NONE
        timings = {"search": round(1000 * (dense_done - started), 3),
                   "total_search": round(1000 * (time.perf_counter() - started), 3)}
        return SearchResult(query, tier, hits, loaded.version, timings)

    def _hit(self, loaded: LoadedIndex, article_id: str, score: float,
             passage: tuple[int, float] | None, query_vector: np.ndarray) -> Hit:
        if passage is None:  # matched by an example question or BM25 only: pick its closest section
            ids = loaded.passages_by_article[article_id]
            sims = [float(loaded.passage_vector(i) @ query_vector) for i in ids]
            passage = (ids[int(np.argmax(sims))], max(sims))
        p = loaded.passages[passage[0]]
        meta = loaded.articles[article_id]
        lead = loaded.passages[loaded.passages_by_article[article_id][0]]["text"]
        return Hit(
            article_id=article_id, title=meta["title"], section=p["section"], passage=p["text"],
            url=article_url(self.settings, article_id, p["anchor"]), score=score,
            needs_person=bool(meta.get("needs_person")), lead=lead,
        )
