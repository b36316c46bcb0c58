"""Build a new index version incrementally from the articles folder.

Only passages and questions whose text changed are embedded again; vectors of deleted or
changed passages are removed by id. The result is written as a new version and swapped in
atomically (see index_store). A broken article stops the build before anything is written,
so the previous version keeps serving.
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_base import ann_index, index_store, tuning, vector_index
from knowledge_base.chunking import embedding_text
from knowledge_base.corpus import Question, article_url, with_question_bank
from knowledge_base.embedding import Embedder
from knowledge_base.index_store import gc_paused
from knowledge_base.settings import KBSettings
from knowledge_base.source_cache import SourceCache

Reporter = Callable[[str], None]
#: In the index folder: parsed articles by file identity (source_cache), so unchanged files are not parsed again.
SOURCE_CACHE_FILE = "article-cache.json"


@dataclass(frozen=True)
class BuildReport:
    version: str
    articles: int
    passages: int
    questions: int
    embedded: int
    removed: int
    reused: int
    seconds: float
    unchanged: bool

    def line(self) -> str:
        if self.unchanged:
            return f"index {self.version} is up to date ({self.articles} articles, {self.passages} passages)"
        return (
            f"index {self.version}: {self.articles} articles, {self.passages} passages, "
            f"{self.questions} questions; embedded {self.embedded}, removed {self.removed}, "
            f"reused {self.reused} in {self.seconds:.2f}s"
        )


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class _Previous:
    """What the live version holds, read from its manifest (the FAISS files are read only when
    their vectors change)."""

    version: index_store.IndexVersion | None = None
    #: model, fingerprint, ivf_min_passages, index_kinds of the live version
    facts: dict[str, Any] | None = None
    passage_hashes: dict[int, str] = field(default_factory=dict)
    question_ids: set[int] = field(default_factory=set)

    def index(self, name: str, dimension: int) -> Any:
        if self.version is None or self.facts is None:
            return vector_index.new_id_index(dimension)
        return self.version.read_faiss(name)


def _previous_state(settings: KBSettings, model: str) -> _Previous:
    """The live version's ids and hashes from its small build state (index_store.read_build_state;
    the full manifest, which also holds every passage's text, is read only for older versions)."""
    version = index_store.current_version(settings.index_dir)
    if version is None:
        return _Previous()
    state = index_store.read_build_state(version)
    if state is None:
        manifest = version.read_manifest()
        state = index_store.BuildState(
            {k: manifest.get(k) for k in ("model", "fingerprint", "ivf_min_passages", "index_kinds")},
            {int(p["passage_id"]): p["content_hash"] for p in manifest["passages"]},
            {int(q["question_id"]) for q in manifest["questions"]},
        )
    if state.facts.get("model") != model:
        return _Previous(version)  # another model: every vector must be embedded again
    return _Previous(version, state.facts, state.passage_hashes, state.question_ids)


def build_index(
    settings: KBSettings,
    embedder: Embedder | None = None,
    report: Reporter | None = None,
    force: bool = False,
) -> BuildReport:
    """Validate the articles, embed what changed, write and publish a new version.

    Only what changed costs anything: unchanged article files are not parsed again
    (source_cache), unchanged texts are not embedded again, and an index whose vectors did not
    change is hard-linked from the previous version instead of being read and written."""
    with gc_paused():
        return _build_index(settings, embedder, report, force)


def _build_index(
    settings: KBSettings,
    embedder: Embedder | None,
    report: Reporter | None,
    force: bool,
) -> BuildReport:
    say = report or (lambda _msg: None)
    started = time.perf_counter()
    sources = SourceCache(settings.index_dir / SOURCE_CACHE_FILE)
    records = sources.load(settings.articles_dir)  # raises ArticleError before any write
    passages = [p for record in records for p in record.passages]  # Passage.to_json() dicts
    questions = [Question(qid, r.article_id, text, "article") for r in records for qid, text in r.questions]
    questions = with_question_bank(questions, settings, {r.article_id for r in records})
    say(
        f"loaded {len(records)} articles ({sources.parsed} parsed, {sources.reused} unchanged) → "
        f"{len(passages)} passages, {len(questions)} questions"
    )
    with build_lock(settings.index_dir):
        if tuning.should_tune_before_build(settings, len(questions)):
            say(
                f"tuning the embedding model on {len(questions)} example questions first (KB_TUNE=auto, "
                "once; `kb tune` makes a new one later)…"
            )
            say(tuning.tune_and_publish(settings, [(q.article_id, q.text) for q in questions], say).line())
        model_path = tuning.model_for_build(settings)
        if embedder is not None and str(getattr(embedder, "model_path", model_path)) != str(model_path):
            embedder = None  # the caller's embedder is of another model: this build embeds with model_path
        model = str(model_path)
        previous = _Previous() if force else _previous_state(settings, model)
        old_hashes, old_questions = previous.passage_hashes, previous.question_ids
        new_hashes = {p["passage_id"]: p["content_hash"] for p in passages}
        new_questions = {q.question_id: q for q in questions}
        changed_passages = [p for p in passages if old_hashes.get(p["passage_id"]) != p["content_hash"]]
        removed_passages = [i for i, h in old_hashes.items() if new_hashes.get(i) != h]
        added_questions = [q for q in questions if q.question_id not in old_questions]
        removed_questions = [i for i in old_questions if i not in new_questions]

        articles_meta = {r.article_id: {**r.meta, "url": article_url(settings, r.article_id)} for r in records}
        fingerprint = _fingerprint(articles_meta, new_hashes, new_questions, settings)
        sources.save()
        if (
            previous.version is not None
            and previous.facts is not None
            and previous.facts.get("fingerprint") == fingerprint
        ):
            return BuildReport(
                previous.version.name,
                len(records),
                len(passages),
                len(questions),
                0,
                0,
                len(passages) + len(questions),
                time.perf_counter() - started,
                True,
            )

        texts = [embedding_text(p["title"], p["section"], p["text"]) for p in changed_passages]
        texts += [q.text for q in added_questions]
        say(f"embedding {len(texts)} changed texts (reusing {len(passages) + len(questions) - len(texts)})")
        if embedder is None:
            embedder = Embedder(model_path)
        vectors = embedder.encode(texts, progress=_progress_printer(say, len(texts)))
        split = len(changed_passages)
        staged = index_store.new_version_dir(settings.index_dir)
        kinds = {}
        same_kind_rule = (
            previous.facts is not None and previous.facts.get("ivf_min_passages") == settings.ivf_min_passages
        )
        for name, removed, added_ids, added_vectors in (
            ("passages", removed_passages, [p["passage_id"] for p in changed_passages], vectors[:split]),
            ("questions", removed_questions, [q.question_id for q in added_questions], vectors[split:]),
        ):
            if same_kind_rule and not removed and not added_ids and previous.version and previous.facts:
                index_store.link_faiss(previous.version, staged, name)  # unchanged: no read, no write
                kinds[name] = previous.facts["index_kinds"][name]
                continue
            index = previous.index(name, embedder.dimension)
            vector_index.replace_vectors(index, removed, added_ids, added_vectors)
            # Exact below KB_IVF_MIN_PASSAGES vectors, IVF from there on (README, "Index type").
            index = ann_index.fit_kind(index, settings.ivf_min_passages)
            index_store.write_faiss(staged, name, index)
            kinds[name] = ann_index.describe(index)
        facts = {
            "model": model,
            "fingerprint": fingerprint,
            "ivf_min_passages": settings.ivf_min_passages,
            "index_kinds": kinds,
        }
        index_store.write_build_state(staged, index_store.BuildState(facts, new_hashes, set(new_questions)))
        index_store.write_manifest(
            staged,
            {
                "version": staged.name,
                "built_at": time.time(),
                "dimension": embedder.dimension,
                **facts,
                "articles": articles_meta,
                "passages": passages,
                "questions": [q.__dict__ for q in questions],
            },
        )
        published = index_store.publish(settings.index_dir, staged)
    return BuildReport(
        published.name,
        len(records),
        len(passages),
        len(questions),
        len(texts),
        len(removed_passages) + len(removed_questions),
        len(passages) + len(questions) - len(texts),
        time.perf_counter() - started,
        False,
    )


def _fingerprint(
    articles_meta: dict[str, Any], passage_hashes: dict[int, str], questions: dict[int, Question], settings: KBSettings
) -> str:
    """Changes when anything a version holds would change (articles' metadata, passages, questions,
    the index kind rule), so an unchanged help center publishes nothing."""
    digest = hashlib.sha256(index_store.dumps(articles_meta))
    digest.update("".join(passage_hashes.values()).encode())
    digest.update(np.array(sorted(questions), dtype=np.int64).tobytes())
    digest.update(str(settings.ivf_min_passages).encode())
    return digest.hexdigest()[:32]


def _progress_printer(say: Reporter, total: int) -> Callable[[int, int], None] | None:
    if total < 200:
        return None
    last = [0.0]

    def progress(done: int, all_: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 1.0 or done == all_:
            last[0] = now
            say(f"  embedded {done}/{all_} ({100 * done // all_}%)")

    return progress


def as_array(vectors: list[np.ndarray]) -> np.ndarray:
    return np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, 384), np.float32)
