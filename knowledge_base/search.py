"""Search the live index version: a dense vote of the nearest example questions and passages,
plus a lexical naive-Bayes score, fused by article.

Ranking (tuned on BANKING77, see knowledge_base/eval/evaluate.py for the figures of each variant):

    fused(a) = log(vote(a) + VOTE_FLOOR) + LEXICAL_WEIGHT * lexical(a)

- vote(a): the NEIGHBOURS nearest items of the query (example questions, and passages whose
  cosine gets PASSAGE_OFFSET added) each vote for their article with weight
  exp((cos − best cos) / VOTE_TEMPERATURE); vote(a) is the article's share. One close neighbour
  counts, but several fairly close ones of the same article can outvote it (kNN voting).
- lexical(a): log-likelihood of the query under the article's naive-Bayes word/character model
  (text_ranking.NaiveBayesRanking), 0 for the best article.

The confidence tier does not come from the fused score (its scale moves with the corpus) but from
the best cosine similarity between the query and the winning article's example questions or
passages (`Hit.score`): answer ≥ KB_ANSWER_THRESHOLD > suggest ≥ KB_SUGGEST_THRESHOLD > none.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from knowledge_base import ann_index, index_store, vector_index
from knowledge_base.corpus import article_url
from knowledge_base.embedding import Embedder
from knowledge_base.index_store import gc_paused
from knowledge_base.settings import KBSettings
from knowledge_base.text_ranking import NaiveBayesRanking

log = logging.getLogger(__name__)

#: Nearest questions and nearest passages fetched from each FAISS index.
CANDIDATES = 30
#: How many of those (pooled) vote.
NEIGHBOURS = 20
#: Softmax temperature of the vote, in cosine units.
VOTE_TEMPERATURE = 0.05
#: Added to a passage's cosine before it votes: a query is phrased like a question, so its cosine
#: to the passage that answers it runs lower than to a matching question.
PASSAGE_OFFSET = 0.05
#: log(vote share) of an article that got no vote is log(VOTE_FLOOR).
VOTE_FLOOR = 1e-4
#: Weight of the lexical log-likelihood against log(vote share).
LEXICAL_WEIGHT = 0.2
#: Weight of the previous question's vector next to the follow-up's own (`search_in_context`).
#: Measured on data/eval/followup_conversations.jsonl: 0.5 / 0.6 / 0.7 / 0.8 / 1.0 put the right
#: article first for 56 / 59 / 59 / 57 / 55 of 71 follow-ups; the plain concatenated text, 55.
CONTEXT_WEIGHT = 0.7


class Tier(str, Enum):
    ANSWER = "answer"
    SUGGEST = "suggest"
    NONE = "none"


#: tiers from worst to best
TIER_RANK = {Tier.NONE: 0, Tier.SUGGEST: 1, Tier.ANSWER: 2}


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
            "article_id": self.article_id,
            "title": self.title,
            "section": self.section,
            "passage": self.passage,
            "url": self.url,
            "score": round(self.score, 4),
            "needs_person": self.needs_person,
            "lead": self.lead,
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
        return {
            "query": self.query,
            "tier": self.tier.value,
            "version": self.version,
            "hits": [h.to_json() for h in self.hits],
            "timings_ms": self.timings_ms,
        }


class LoadedIndex:
    """One immutable index version in memory."""

    def __init__(
        self, version: index_store.IndexVersion, settings: KBSettings, embedder_for: Callable[[str], Embedder]
    ) -> None:
        manifest = version.read_manifest()
        self.version = version.name
        self.settings = settings
        #: embeds queries with the model this version's vectors were made with
        self.embedder = embedder_for(str(manifest.get("model") or settings.model_path))
        self.articles: dict[str, dict[str, Any]] = manifest["articles"]
        self.passages: dict[int, dict[str, Any]] = {int(p["passage_id"]): p for p in manifest["passages"]}
        self.questions: dict[int, dict[str, Any]] = {int(q["question_id"]): q for q in manifest["questions"]}
        self.passages_by_article: dict[str, list[int]] = {}
        for pid, p in self.passages.items():
            self.passages_by_article.setdefault(p["article_id"], []).append(pid)
        # Exact or IVF (ann_index, above KB_IVF_MIN_PASSAGES): both are searched the same way.
        self.passage_index = ann_index.prepare_for_search(version.read_faiss("passages"))
        self.question_index = ann_index.prepare_for_search(version.read_faiss("questions"))
        # The lexical model learns from example questions and section headings (passage bodies add
        # nothing measurable with a question bank, and their character n-grams would dominate its
        # size and load time on a large help center).
        docs = [(p["article_id"], f"{p['title']} {p['section']}") for p in self.passages.values()]
        docs += [(q["article_id"], q["text"]) for q in self.questions.values()]
        self.lexical = NaiveBayesRanking(docs)
        self.article_position = {a: i for i, a in enumerate(self.lexical.articles)}

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
        #: one Embedder per model path: a version built with a newly tuned model brings its own
        self._embedders: dict[str, Embedder] = {}
        self._fallback = embedder
        if embedder is not None:
            self._embedders[str(getattr(embedder, "model_path", settings.model_path))] = embedder
        self._loaded: LoadedIndex | None = None
        self._signature: tuple[int, int] | None = None
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def embedder(self) -> Embedder:
        """The embedder of the loaded version (or of KB_MODEL_PATH before any is loaded)."""
        if self._loaded is not None:
            return self._loaded.embedder
        return self._embedder_for(str(self.settings.model_path))

    def _embedder_for(self, model: str) -> Embedder:
        """The Embedder of `model` (loaded once). A manifest naming no model folder that exists here
        (an index built elsewhere, or by the bench) falls back to the one given to the constructor."""
        if model not in self._embedders:
            if not Path(model).exists() and self._fallback is not None:
                log.warning(
                    "kb index names model %s, which is not here; embedding queries with %s",
                    model,
                    getattr(self._fallback, "model_path", "the given embedder"),
                )
                return self._fallback
            self._embedders[model] = Embedder(Path(model), query_cache_size=self.settings.query_cache_size)
        return self._embedders[model]

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
            with gc_paused():  # loading makes ~10 objects per passage; no collections meanwhile
                loaded = LoadedIndex(version, self.settings, self._embedder_for)
            # The loaded index holds no reference cycles: keep its objects out of every later
            # collection, so a full collection does not walk them in the middle of a search.
            gc.freeze()
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

    def _require_loaded(self) -> LoadedIndex:
        loaded = self._loaded
        if loaded is None:
            self.reload_if_changed()
            loaded = self._loaded
        if loaded is None:
            raise index_store.IndexNotBuilt(f"no knowledge-base index in {self.settings.index_dir}; run `make index`")
        return loaded

    def search(self, query: str, k: int = 3) -> SearchResult:
        loaded = self._require_loaded()
        started = time.perf_counter()
        query_vector = loaded.embedder.encode_query(query)
        embedded = time.perf_counter()
        result = self.search_vector(loaded, query, query_vector, k)
        result.timings_ms["embed"] = round(1000 * (embedded - started), 3)
        return result

    def search_many(self, queries: Sequence[str], k: int = 3) -> list[SearchResult]:
        """`search` for many queries: one batched embedding call, then `search_vector` for each.
        Each result's timings_ms["embed"] is its share of the batch."""
        loaded = self._require_loaded()
        if not queries:
            return []
        started = time.perf_counter()
        vectors = loaded.embedder.encode(list(queries))
        embed_ms = round(1000 * (time.perf_counter() - started) / len(queries), 3)
        results = []
        for query, vector in zip(queries, vectors, strict=True):
            result = self.search_vector(loaded, query, vector, k)
            result.timings_ms["embed"] = embed_ms
            results.append(result)
        return results

    def search_vector(self, loaded: LoadedIndex, query: str, query_vector: np.ndarray, k: int) -> SearchResult:
        started = time.perf_counter()
        passage_hits = vector_index.search(loaded.passage_index, query_vector, CANDIDATES)
        question_hits = vector_index.search(loaded.question_index, query_vector, CANDIDATES)
        best_passage: dict[str, tuple[int, float]] = {}
        voters: list[tuple[float, str]] = []
        for pid, score in passage_hits:
            article = loaded.passages[pid]["article_id"]
            if article not in best_passage or score > best_passage[article][1]:
                best_passage[article] = (pid, score)
            voters.append((score + PASSAGE_OFFSET, article))
        best_question: dict[str, float] = {}
        for qid, score in question_hits:
            article = loaded.questions[qid]["article_id"]
            best_question[article] = max(score, best_question.get(article, -1.0))
            voters.append((score, article))
        voters.sort(key=lambda v: -v[0])
        votes: dict[str, float] = {}
        for score, article in voters[:NEIGHBOURS]:
            votes[article] = votes.get(article, 0.0) + math.exp((score - voters[0][0]) / VOTE_TEMPERATURE)
        dense_done = time.perf_counter()

        # Candidates: every article of a retrieved question or passage (the lexical model only
        # reorders them; scoring all articles would cost O(articles) per query).
        candidates = list(dict.fromkeys([*best_question, *best_passage]))
        positions = np.array([loaded.article_position[a] for a in candidates], dtype=np.int64)
        lexical = loaded.lexical.scores(query, positions)
        total = sum(votes.values())
        fused = {
            a: math.log(votes.get(a, 0.0) / total + VOTE_FLOOR) + LEXICAL_WEIGHT * float(lex)
            for a, lex in zip(candidates, lexical - (lexical.max() if len(lexical) else 0.0), strict=True)
        }
        order = [a for a in sorted(fused, key=lambda a: -fused[a]) if a in loaded.passages_by_article][:k]
        hits = [
            self._hit(
                loaded,
                a,
                max(best_passage.get(a, (0, -1.0))[1], best_question.get(a, -1.0)),
                best_passage.get(a),
                query_vector,
            )
            for a in order
        ]
        top_score = hits[0].score if hits else -1.0
        if top_score >= self.settings.answer_threshold:
            tier = Tier.ANSWER
        elif top_score >= self.settings.suggest_threshold:
            tier = Tier.SUGGEST
        else:
            tier = Tier.NONE
        timings = {
            "search": round(1000 * (dense_done - started), 3),
            "total_search": round(1000 * (time.perf_counter() - started), 3),
        }
        return SearchResult(query, tier, hits, loaded.version, timings)

    def search_in_context(self, previous: str, text: str, k: int = 3, rescue_tier: bool = True) -> SearchResult:
        """Search a follow-up (`text`) together with the question before it (`previous`).

        The article comes from the follow-up's vector plus CONTEXT_WEIGHT × the previous question's
        (the follow-up says what is new, the previous question what it is about), scored lexically
        on both texts. A mixed vector sits between two questions, so its cosines run low: with
        `rescue_tier`, when the two texts embedded as one sentence pick the same article, the
        better of the two tiers and scores counts (one more embedding; callers that only need the
        winning article pass False). The previous question's vector usually comes from the
        embedder's query cache: the same process searched it a turn earlier.
        """
        loaded = self._require_loaded()
        started = time.perf_counter()
        mixed = loaded.embedder.encode_query(text) + CONTEXT_WEIGHT * loaded.embedder.encode_query(previous)
        mixed = (mixed / np.linalg.norm(mixed)).astype(np.float32)
        embedded = time.perf_counter()
        result = self.search_vector(loaded, f"{text} {previous}", mixed, k)
        if rescue_tier and result.best is not None and result.tier != Tier.ANSWER:
            joint = f"{previous} {text}"
            as_one = self.search_vector(loaded, joint, loaded.embedder.encode_query(joint), 1)
            if (
                as_one.best is not None
                and as_one.best.article_id == result.best.article_id
                and TIER_RANK[as_one.tier] > TIER_RANK[result.tier]
            ):
                best = replace(result.best, score=max(result.best.score, as_one.best.score))
                result = replace(result, tier=as_one.tier, hits=[best, *result.hits[1:]])
        result.timings_ms["embed"] = round(1000 * (embedded - started), 3)
        return result

    def passage_for(self, article_id: str, text: str) -> Hit | None:
        """The passage of `article_id` closest to `text` (None if the article is not indexed).

        A follow-up is searched together with the question before it, which finds the article;
        the passage to quote is the one closest to the follow-up itself ("and express?" → the
        express-delivery section, not the standard one)."""
        loaded = self._require_loaded()
        if article_id not in loaded.passages_by_article:
            return None
        return self._hit(loaded, article_id, -1.0, None, loaded.embedder.encode_query(text))

    def _hit(
        self,
        loaded: LoadedIndex,
        article_id: str,
        score: float,
        passage: tuple[int, float] | None,
        query_vector: np.ndarray,
    ) -> Hit:
        if passage is None:  # matched by an example question or the lexical model only: its closest section
            ids = loaded.passages_by_article[article_id]
            sims = [float(loaded.passage_vector(i) @ query_vector) for i in ids]
            passage = (ids[int(np.argmax(sims))], max(sims))
            score = max(score, passage[1])
        p = loaded.passages[passage[0]]
        meta = loaded.articles[article_id]
        lead = loaded.passages[loaded.passages_by_article[article_id][0]]["text"]
        return Hit(
            article_id=article_id,
            title=meta["title"],
            section=p["section"],
            passage=p["text"],
            url=article_url(self.settings, article_id, p["anchor"]),
            score=score,
            needs_person=bool(meta.get("needs_person")),
            lead=lead,
        )
