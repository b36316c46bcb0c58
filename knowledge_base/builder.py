"""Build a new index version incrementally from the articles folder.

Only passages and questions whose text changed are embedded again; vectors of deleted or
changed passages are removed by id. The result is written as a new version and swapped in
atomically (see index_store). A broken article stops the build before anything is written,
so the previous version keeps serving.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_base import ann_index, index_store, vector_index
from knowledge_base.articles import Article, load_articles
from knowledge_base.chunking import Passage, chunk_article, content_hash, stable_id
from knowledge_base.embedding import Embedder
from knowledge_base.settings import KBSettings
from knowledge_base.source_cache import SourceCache

Reporter = Callable[[str], None]
#: In the index folder: parsed articles by file identity (source_cache), so unchanged files are not parsed again.
SOURCE_CACHE_FILE = "article-cache.pickle"


@dataclass(frozen=True)
class Question:
    question_id: int
    article_id: str
    text: str
    source: str  # "article" (front matter) or "bank" (a question bank file)


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


def article_url(settings: KBSettings, article_id: str, anchor: str = "") -> str:
    return f"{settings.article_base_url}/{article_id}" + (f"#{anchor}" if anchor else "")


def load_question_bank(path: Path | None, known_articles: set[str]) -> list[Question]:
    """Extra example questions from a JSONL file of {"article": id, "text": question}."""
    if path is None:
        return []
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            article_id, text = str(row["article"]), str(row["text"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: expected {{\"article\": ..., \"text\": ...}} ({exc})") from None
        if article_id in known_articles and text:
            questions.append(Question(stable_id("question", article_id, text), article_id, text, "bank"))
    return questions


def collect(articles: list[Article], settings: KBSettings,
            chunk: Callable[[Article], list[Passage]] = chunk_article) -> tuple[list[Passage], list[Question]]:
    passages = [p for article in articles for p in chunk(article)]
    questions = [
        Question(stable_id("question", a.id, q), a.id, q, "article") for a in articles for q in a.questions
    ]
    seen = {q.question_id for q in questions}
    for q in load_question_bank(settings.extra_questions, {a.id for a in articles}):
        if q.question_id not in seen:
            seen.add(q.question_id)
            questions.append(q)
    return passages, questions


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _previous_state(settings: KBSettings, dimension: int) -> tuple[Any, Any, dict[int, str], dict[str, Any] | None]:
    version = index_store.current_version(settings.index_dir)
    if version is None:
        return vector_index.new_id_index(dimension), vector_index.new_id_index(dimension), {}, None
    manifest = version.read_manifest()
    if manifest.get("model") != str(settings.model_path) or manifest.get("dimension") != dimension:
        # Another model: every vector must be embedded again.
        return vector_index.new_id_index(dimension), vector_index.new_id_index(dimension), {}, None
    hashes = {int(p["passage_id"]): p["content_hash"] for p in manifest["passages"]}
    hashes.update({int(q["question_id"]): "q" for q in manifest["questions"]})
    return version.read_faiss("passages"), version.read_faiss("questions"), hashes, manifest


def build_index(
    settings: KBSettings,
    embedder: Embedder | None = None,
    report: Reporter | None = None,
    force: bool = False,
) -> BuildReport:
    """Validate the articles, embed what changed, write and publish a new version."""
    say = report or (lambda _msg: None)
    started = time.perf_counter()
    sources = SourceCache(settings.index_dir / SOURCE_CACHE_FILE)
    articles = load_articles(settings.articles_dir, sources.parse)  # raises ArticleError before any write
    passages, questions = collect(articles, settings, sources.passages)
    say(f"loaded {len(articles)} articles → {len(passages)} passages, {len(questions)} questions")
    with build_lock(settings.index_dir):
        embedder = embedder or Embedder(settings.model_path)
        passage_index, question_index, old_hashes, old_manifest = _previous_state(settings, embedder.dimension)
        if force:
            passage_index = vector_index.new_id_index(embedder.dimension)
            question_index = vector_index.new_id_index(embedder.dimension)
            old_hashes, old_manifest = {}, None

        new_passages = {p.passage_id: p for p in passages}
        new_questions = {q.question_id: q for q in questions}
        old_passage_ids = vector_index.stored_ids(passage_index)
        old_question_ids = vector_index.stored_ids(question_index)
        changed_passages = [p for p in passages if old_hashes.get(p.passage_id) != p.content_hash or p.passage_id not in old_passage_ids]
        removed_passages = [i for i in old_passage_ids if i not in new_passages or old_hashes.get(i) != new_passages[i].content_hash]
        added_questions = [q for q in questions if q.question_id not in old_question_ids]
        removed_questions = [i for i in old_question_ids if i not in new_questions]

        articles_meta = _articles_meta(articles, settings)
        fingerprint = content_hash(json.dumps([articles_meta, [p.content_hash for p in passages], sorted(new_questions)], sort_keys=True))
        current = index_store.current_version(settings.index_dir)
        sources.save()
        if (
            current is not None and old_manifest is not None and not force
            and old_manifest.get("fingerprint") == fingerprint
        ):
            return BuildReport(current.name, len(articles), len(passages), len(questions), 0, 0,
                               len(passages) + len(questions), time.perf_counter() - started, True)

        texts = [p.embedding_text() for p in changed_passages] + [q.text for q in added_questions]
        say(f"embedding {len(texts)} changed texts (reusing {len(passages) + len(questions) - len(texts)})")
        vectors = embedder.encode(texts, progress=_progress_printer(say, len(texts)))
        split = len(changed_passages)
        vector_index.replace_vectors(passage_index, removed_passages, [p.passage_id for p in changed_passages], vectors[:split])
        vector_index.replace_vectors(question_index, removed_questions, [q.question_id for q in added_questions], vectors[split:])
        # Exact below KB_IVF_MIN_PASSAGES vectors, IVF from there on (README, "Index type").
        passage_index = ann_index.fit_kind(passage_index, settings.ivf_min_passages)
        question_index = ann_index.fit_kind(question_index, settings.ivf_min_passages)

        staged = index_store.new_version_dir(settings.index_dir)
        index_store.write_faiss(staged, "passages", passage_index)
        index_store.write_faiss(staged, "questions", question_index)
        index_store.write_manifest(staged, {
            "version": staged.name,
            "built_at": time.time(),
            "model": str(settings.model_path),
            "dimension": embedder.dimension,
            "index_kinds": {"passages": ann_index.describe(passage_index), "questions": ann_index.describe(question_index)},
            "fingerprint": fingerprint,
            "articles": articles_meta,
            "passages": [p.to_json() for p in passages],
            "questions": [q.__dict__ for q in questions],
        })
        published = index_store.publish(settings.index_dir, staged)
    return BuildReport(
        published.name, len(articles), len(passages), len(questions), len(texts),
        len(removed_passages) + len(removed_questions), len(passages) + len(questions) - len(texts),
        time.perf_counter() - started, False,
    )


def _articles_meta(articles: list[Article], settings: KBSettings) -> dict[str, dict[str, Any]]:
    return {
        a.id: {
            "title": a.title,
            "category": a.category,
            "updated": a.updated,
            "tags": list(a.tags),
            "needs_person": a.needs_person,
            "url": article_url(settings, a.id),
            "path": str(a.path),
        }
        for a in articles
    }


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
