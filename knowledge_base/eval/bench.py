"""Benchmark the knowledge base: build throughput, re-indexing, search latency, memory.

    make bench-kb                      # = .venv/bin/python -m knowledge_base.eval.bench
    python -m knowledge_base.eval.bench --quick     # smoke run, small sizes (seconds)

Prints a table and writes var/eval/kb-bench.json. What it measures:

1. build throughput: `build_index --force` on a generated corpus, in passages (and questions)
   embedded per second, beside the raw model encode throughput (`SentenceTransformer.encode` on
   the same texts, one call) measured in the same run; their ratio.
2. re-index one changed article in a generated 1k- and 10k-article corpus: the first build uses
   synthetic vectors (embedding 40k passages takes too long here), then one article's section
   changes and `build_index` runs with the real model. Also the no-change rebuild (what every
   `make index` pays) and how long `load_articles` alone takes.
3. search latency p50/p95 at 1k, 10k and 100k passages: index versions written with synthetic
   clustered unit vectors and generated passage text (embedding 100k passages takes too long
   here), loaded by the real `LoadedIndex`; `search_vector` (FAISS + vote + lexical + hits: the
   search part) and `search` (plus the real query embedding). At 100k also an IVF index
   (knowledge_base.ann_index): FAISS-only latency and recall@10 against exact search per nprobe,
   and `search_vector` with the IVF indexes swapped in.
4. resident memory (VmRSS) after each step and the peak.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from knowledge_base.settings import PROJECT_ROOT, KBSettings

DEFAULT_OUTPUT = PROJECT_ROOT / "var" / "eval" / "kb-bench.json"

FULL = {
    "build_articles": 80,
    "build_rounds": 2,
    "reindex_articles": [1000, 10000],
    "search_passages": [1000, 10000, 100000],
    "search_queries": 250,
    "embed_queries": 40,
    "recall_queries": 300,
    "nprobes": [8, 16, 32, 64],
    "kind_sizes": [5000, 10000, 20000, 50000, 100000],
}
QUICK = {
    "build_articles": 4,
    "build_rounds": 1,
    "reindex_articles": [30, 100],
    "search_passages": [1000, 3000],
    "search_queries": 40,
    "embed_queries": 3,
    "recall_queries": 40,
    "nprobes": [8, 32],
    "kind_sizes": [2000, 5000],
}

SYLLABLES = (
    "ka",
    "to",
    "ri",
    "mu",
    "sel",
    "bar",
    "en",
    "lo",
    "vi",
    "dan",
    "po",
    "ter",
    "sa",
    "min",
    "gu",
    "re",
    "fi",
    "nor",
    "al",
    "ex",
)


def _vocabulary(size: int = 5000, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4))))
    return sorted(words, key=lambda w: (len(w), w))


#: Generated text draws words with Zipf frequencies (word of rank r ∝ 1/r), like real text, so
#: that the lexical model sees realistic document frequencies.
VOCABULARY = _vocabulary()
ZIPF_CUMULATIVE = list(np.cumsum([1.0 / (rank + 1) for rank in range(len(VOCABULARY))]))


# --- helpers ---------------------------------------------------------------------------------


def rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles(samples: list[float]) -> dict[str, float]:
    arr = np.asarray(samples, dtype=float)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p95": round(float(np.percentile(arr, 95)), 3),
        "n": len(arr),
    }


@contextlib.contextmanager
def stopwatch(into: dict[str, float], key: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - started, 3)


def sentence(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(VOCABULARY, cum_weights=ZIPF_CUMULATIVE, k=rng.randint(low, high)))


def write_corpus(folder: Path, n_articles: int, seed: int = 7) -> list[Path]:
    """Generated articles: front matter with two questions, an intro and three sections."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_articles):
        article_id = f"bench-{i:05d}"
        sections = "\n\n".join(
            f"## {sentence(rng, 2, 4).capitalize()} {j}\n{sentence(rng, 40, 70)}.\n\n{sentence(rng, 20, 40)}."
            for j in range(3)
        )
        text = (
            f"---\nid: {article_id}\ntitle: {sentence(rng, 3, 6).capitalize()}\ncategory: bench\n"
            f"updated: 2026-10-01\ntags: [bench]\nquestions:\n  - {sentence(rng, 5, 10)}?\n"
            f"  - {sentence(rng, 5, 10)}?\n---\n{sentence(rng, 20, 40)}.\n\n{sections}\n"
        )
        path = folder / f"{article_id}.md"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


class SyntheticEmbedder:
    """Random unit vectors of the model's dimension: only for first builds whose cost we skip."""

    def __init__(self, dimension: int, seed: int = 3) -> None:
        self.dimension = dimension
        self._rng = np.random.default_rng(seed)

    def encode(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        vectors = self._rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)

    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


def clustered_vectors(
    rng: np.random.Generator, n: int, dimension: int, n_topics: int, n_groups: int, group_of: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors in two-level clusters (topics → articles → items), like help-center passages:
    returns (vectors, group centres, group of each vector)."""
    topics = rng.standard_normal((n_topics, dimension)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    centres = topics[rng.integers(0, n_topics, n_groups)] + 0.06 * rng.standard_normal((n_groups, dimension)).astype(
        np.float32
    )
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    group_of = rng.integers(0, n_groups, n) if group_of is None else group_of
    vectors = centres[group_of] + 0.045 * rng.standard_normal((n, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors, dtype=np.float32), centres, group_of


def jitter(rng: np.random.Generator, centres: np.ndarray, scale: float = 0.045) -> np.ndarray:
    vectors = centres + scale * rng.standard_normal(centres.shape).astype(np.float32)
    return np.ascontiguousarray(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), dtype=np.float32)


def say(message: str) -> None:
    print(message, flush=True)


# --- 1. build throughput ---------------------------------------------------------------------


def bench_build(embedder: Any, settings: KBSettings, work: Path, n_articles: int, rounds: int) -> dict[str, Any]:
    from knowledge_base.articles import load_articles
    from knowledge_base.builder import build_index
    from knowledge_base.corpus import collect

    corpus = work / "build-articles"
    write_corpus(corpus, n_articles, seed=11)
    s = dataclasses.replace(settings, articles_dir=corpus, index_dir=work / "build-index", extra_questions=None)
    passages, questions = collect(load_articles(corpus), s)
    texts = [p.embedding_text() for p in passages] + [q.text for q in questions]
    model = embedder._model
    model.encode(texts[:64], batch_size=64, normalize_embeddings=True, show_progress_bar=False)  # warm-up
    raw_times, build_times = [], []
    for _ in range(rounds):  # interleaved, best of each: other work on the machine comes and goes
        started = time.perf_counter()
        model.encode(
            texts,
            batch_size=embedder.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        raw_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        report = build_index(s, embedder, force=True)
        build_times.append(time.perf_counter() - started)
    raw_s, build_s = min(raw_times), min(build_times)
    raw_rate, build_rate = len(texts) / raw_s, report.embedded / build_s
    return {
        "articles": n_articles,
        "passages": len(passages),
        "questions": len(questions),
        "texts": len(texts),
        "rounds": rounds,
        "raw_encode_s_each": [round(t, 2) for t in raw_times],
        "build_s_each": [round(t, 2) for t in build_times],
        "raw_encode_s": round(raw_s, 2),
        "raw_texts_per_s": round(raw_rate, 1),
        "build_s": round(build_s, 2),
        "build_texts_per_s": round(build_rate, 1),
        "build_passages_per_s": round(len(passages) / build_s, 1),
        "ratio": round(build_rate / raw_rate, 3),
    }


# --- 2. re-index one changed article ---------------------------------------------------------


def bench_reindex(embedder: Any, settings: KBSettings, work: Path, n_articles: int) -> dict[str, Any]:
    from knowledge_base.articles import load_articles
    from knowledge_base.builder import build_index

    corpus = work / f"reindex-{n_articles}"
    paths = write_corpus(corpus, n_articles, seed=n_articles)
    s = dataclasses.replace(
        settings, articles_dir=corpus, index_dir=work / f"reindex-{n_articles}-index", extra_questions=None
    )
    out: dict[str, Any] = {"articles": n_articles}
    with stopwatch(out, "first_build_synthetic_vectors_s"):
        first = build_index(s, SyntheticEmbedder(embedder.dimension))  # type: ignore[arg-type]  # Embedder's interface
    out["passages"], out["questions"] = first.passages, first.questions
    with stopwatch(out, "load_articles_s"):
        load_articles(corpus)
    with stopwatch(out, "no_change_rebuild_s"):
        build_index(s, embedder)
    target = paths[len(paths) // 2]
    target.write_text(target.read_text(encoding="utf-8").replace("## ", "## Changed ", 1), encoding="utf-8")
    with stopwatch(out, "one_changed_article_s"):
        report = build_index(s, embedder)
    out["embedded"], out["removed"] = report.embedded, report.removed
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.rmtree(s.index_dir, ignore_errors=True)
    return out


# --- 3. search latency -----------------------------------------------------------------------


def write_synthetic_version(
    settings: KBSettings, n_passages: int, rng: np.random.Generator, text_rng: random.Random, dimension: int
) -> dict[str, Any]:
    """An index version with n_passages passages (4 per article) and one question per 4 passages."""
    from knowledge_base import ann_index, index_store
    from knowledge_base.chunking import stable_id

    n_articles = max(1, n_passages // 4)
    n_questions = max(1, n_passages // 4)
    passage_article = np.arange(n_passages) // 4 % n_articles
    passage_vectors, centres, _ = clustered_vectors(
        rng, n_passages, dimension, max(4, n_articles // 25), n_articles, passage_article
    )
    question_article = rng.integers(0, n_articles, n_questions)
    question_vectors = jitter(rng, centres[question_article])
    passages, questions, articles = [], [], {}
    for a in range(n_articles):
        article_id = f"synthetic-{a:06d}"
        articles[article_id] = {
            "title": f"Article {a}",
            "category": "bench",
            "updated": "2026-10-01",
            "tags": [],
            "needs_person": False,
            "url": f"/help/{article_id}",
            "path": "",
        }
    for i in range(n_passages):
        article_id = f"synthetic-{passage_article[i]:06d}"
        passages.append(
            {
                "passage_id": stable_id("passage", article_id, str(i)),
                "article_id": article_id,
                "title": f"Article {passage_article[i]}",
                "section": f"Section {i % 4}",
                "anchor": f"section-{i % 4}",
                "category": "bench",
                "updated": "2026-10-01",
                "text": sentence(text_rng, 30, 60),
                "content_hash": str(i),
            }
        )
    for j in range(n_questions):
        article_id = f"synthetic-{question_article[j]:06d}"
        text = sentence(text_rng, 5, 10) + f" {j}?"
        questions.append(
            {
                "question_id": stable_id("question", article_id, text),
                "article_id": article_id,
                "text": text,
                "source": "bench",
            }
        )
    passage_index = ann_index.new_exact_index(
        passage_vectors, np.array([p["passage_id"] for p in passages], dtype=np.int64)
    )
    question_index = ann_index.new_exact_index(
        question_vectors, np.array([q["question_id"] for q in questions], dtype=np.int64)
    )
    staged = index_store.new_version_dir(settings.index_dir)
    index_store.write_faiss(staged, "passages", passage_index)
    index_store.write_faiss(staged, "questions", question_index)
    index_store.write_manifest(
        staged,
        {
            "version": staged.name,
            "built_at": time.time(),
            "model": str(settings.model_path),
            "dimension": dimension,
            "fingerprint": "",
            "articles": articles,
            "passages": passages,
            "questions": questions,
        },
    )
    index_store.publish(settings.index_dir, staged)
    return {"centres": centres, "passage_vectors": passage_vectors, "articles": n_articles, "questions": n_questions}


def search_one(index: Any, query_vectors: np.ndarray, i: int) -> Any:
    return index.search(query_vectors[i : i + 1], 30)


def timed_searches(fn: Callable[[int], Any], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        fn(i)
        samples.append(1000 * (time.perf_counter() - started))
    return samples


def bench_search(
    embedder: Any, settings: KBSettings, work: Path, n_passages: int, cfg: dict[str, Any], rng: np.random.Generator
) -> dict[str, Any]:
    import faiss

    from knowledge_base.search import Searcher

    faiss.omp_set_num_threads(1)
    text_rng = random.Random(n_passages)
    s = dataclasses.replace(settings, index_dir=work / f"search-{n_passages}")
    out: dict[str, Any] = {"passages": n_passages}
    with stopwatch(out, "write_version_s"):
        synthetic = write_synthetic_version(s, n_passages, rng, text_rng, embedder.dimension)
    out["articles"], out["questions"] = synthetic["articles"], synthetic["questions"]
    searcher = Searcher(s, embedder)
    out["rss_mb_before_load"] = round(rss_mb(), 1)
    with stopwatch(out, "load_index_s"):
        searcher.reload_if_changed()
    loaded = searcher.loaded
    assert loaded is not None, "the synthetic version did not load"
    out["rss_mb_after_load"] = round(rss_mb(), 1)
    n = cfg["search_queries"]
    query_vectors = jitter(rng, synthetic["centres"][rng.integers(0, len(synthetic["centres"]), n)], 0.06)
    query_texts = [sentence(text_rng, 5, 12) + "?" for _ in range(n)]
    for i in range(min(20, n)):  # warm-up
        searcher.search_vector(loaded, query_texts[i], query_vectors[i], 3)
    out["search_vector_ms"] = percentiles(
        timed_searches(lambda i: searcher.search_vector(loaded, query_texts[i], query_vectors[i], 3), n)
    )
    faiss_exact = timed_searches(lambda i: loaded.passage_index.search(query_vectors[i : i + 1], 30), n)
    out["faiss_exact_passages_ms"] = percentiles(faiss_exact)
    m = cfg["embed_queries"]
    out["search_with_embedding_ms"] = percentiles(timed_searches(lambda i: searcher.search(query_texts[i], 3), m))
    if n_passages >= settings.ivf_min_passages or n_passages == max(cfg["search_passages"]):
        out["ivf"] = bench_ivf(loaded, searcher, query_vectors, query_texts, cfg)
    shutil.rmtree(s.index_dir, ignore_errors=True)
    return out


def bench_ivf(
    loaded: Any, searcher: Any, query_vectors: np.ndarray, query_texts: list[str], cfg: dict[str, Any]
) -> dict[str, Any]:
    from knowledge_base import ann_index

    exact = loaded.passage_index
    ids, vectors = ann_index.all_vectors(exact)
    out: dict[str, Any] = {}
    with stopwatch(out, "train_and_add_s"):
        ivf = ann_index.new_ivf_index(vectors, ids)
    out["nlist"], out["default_nprobe"] = ivf.nlist, ivf.nprobe
    r = min(cfg["recall_queries"], len(query_vectors))
    k = 10
    _, truth = exact.search(query_vectors[:r], k)
    sweep = []
    for nprobe in sorted(set(cfg["nprobes"] + [ann_index.nprobe_for(ivf.nlist)])):
        ivf.nprobe = nprobe
        _, got = ivf.search(query_vectors[:r], k)
        recall = float(np.mean([len(set(t) & set(g)) / k for t, g in zip(truth, got, strict=True)]))
        latency = percentiles(timed_searches(lambda i: ivf.search(query_vectors[i : i + 1], 30), len(query_vectors)))
        sweep.append({"nprobe": nprobe, "recall@10": round(recall, 4), "faiss_ms": latency})
    out["sweep"] = sweep
    ann_index.prepare_for_search(ivf)
    question_ivf = None
    if loaded.question_index.ntotal >= searcher.settings.ivf_min_passages:  # as a build would
        q_ids, q_vectors = ann_index.all_vectors(loaded.question_index)
        question_ivf = ann_index.new_ivf_index(q_vectors, q_ids)
    original = (loaded.passage_index, loaded.question_index)
    loaded.passage_index = ivf
    if question_ivf is not None:
        loaded.question_index = question_ivf
    try:
        n = len(query_vectors)
        out["search_vector_ms"] = percentiles(
            timed_searches(lambda i: searcher.search_vector(loaded, query_texts[i], query_vectors[i], 3), n)
        )
        out["questions_ivf"] = question_ivf is not None
    finally:
        loaded.passage_index, loaded.question_index = original
    return out


def bench_index_kinds(rng: np.random.Generator, sizes: list[int], dimension: int, queries: int) -> list[dict[str, Any]]:
    """Exact vs IVF (as ann_index builds it) at each size: FAISS top-30 latency, recall@10, build
    cost. Where IVF starts to pay is where KB_IVF_MIN_PASSAGES should sit."""
    import faiss

    from knowledge_base import ann_index

    faiss.omp_set_num_threads(1)
    rows = []
    for n in sizes:
        vectors, centres, _ = clustered_vectors(rng, n, dimension, max(4, n // 100), max(1, n // 4))
        ids = np.arange(n, dtype=np.int64)
        query_vectors = jitter(rng, centres[rng.integers(0, len(centres), queries)], 0.06)
        exact = ann_index.new_exact_index(vectors, ids)
        row: dict[str, Any] = {"vectors": n}
        with stopwatch(row, "ivf_train_and_add_s"):
            ivf = ann_index.new_ivf_index(vectors, ids)
        row["nlist"], row["nprobe"] = ivf.nlist, ivf.nprobe
        for name, index in (("exact", exact), ("ivf", ivf)):
            index.search(query_vectors[:10], 30)  # warm-up
            row[f"{name}_ms"] = percentiles(
                timed_searches(functools.partial(search_one, index, query_vectors), queries)
            )
        _, truth = exact.search(query_vectors, 10)
        _, got = ivf.search(query_vectors, 10)
        row["ivf_recall@10"] = round(
            float(np.mean([len(set(t) & set(g)) / 10 for t, g in zip(truth, got, strict=True)])), 4
        )
        rows.append(row)
    return rows


# --- the run ---------------------------------------------------------------------------------


def run(cfg: dict[str, Any], quick: bool) -> dict[str, Any]:
    from knowledge_base.embedding import Embedder

    started = time.perf_counter()
    results: dict[str, Any] = {
        "quick": quick,
        "config": cfg,
        "memory_mb": {"start": round(rss_mb(), 1)},
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    settings = KBSettings.from_env()
    embedder = Embedder(settings.model_path)
    results["memory_mb"]["model_loaded"] = round(rss_mb(), 1)
    rng = np.random.default_rng(42)
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        work = Path(tmp)
        say(f"[bench] build throughput ({cfg['build_articles']} generated articles)…")
        results["build"] = bench_build(embedder, settings, work, cfg["build_articles"], cfg["build_rounds"])
        results["memory_mb"]["after_build"] = round(rss_mb(), 1)
        results["reindex"] = []
        for n in cfg["reindex_articles"]:
            say(f"[bench] re-index one changed article in {n} articles…")
            results["reindex"].append(bench_reindex(embedder, settings, work, n))
        results["memory_mb"]["after_reindex"] = round(rss_mb(), 1)
        results["search"] = []
        for n in cfg["search_passages"]:
            say(f"[bench] search latency at {n} passages…")
            results["search"].append(bench_search(embedder, settings, work, n, cfg, rng))
    say(f"[bench] exact vs IVF at {', '.join(map(str, cfg['kind_sizes']))} vectors…")
    results["index_kinds"] = bench_index_kinds(rng, cfg["kind_sizes"], embedder.dimension, cfg["search_queries"])
    results["memory_mb"]["end"] = round(rss_mb(), 1)
    results["memory_mb"]["peak"] = round(peak_rss_mb(), 1)
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return results


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(header)]
    print(f"\n{title}")
    print(
        "  "
        + "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    )
    print("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        print(
            "  "
            + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )


def print_report(r: dict[str, Any]) -> None:
    b = r["build"]
    table(
        f"Build throughput (same texts, same run; best of {b['rounds']} interleaved rounds)",
        ["what", "texts", "seconds", "texts/s", "passages/s"],
        [
            [
                "raw model encode (SentenceTransformer.encode, one call)",
                b["texts"],
                b["raw_encode_s"],
                b["raw_texts_per_s"],
                "",
            ],
            [
                f"build_index --force ({b['articles']} articles: {b['passages']} passages + {b['questions']} questions)",
                b["texts"],
                b["build_s"],
                b["build_texts_per_s"],
                b["build_passages_per_s"],
            ],
            ["ratio build / raw", "", "", f"{b['ratio']:.2f}x", ""],
        ],
    )
    table(
        "Re-index after changing one article (first build with synthetic vectors; then the real model)",
        [
            "articles",
            "passages",
            "load_articles s",
            "no-change rebuild s",
            "one changed article s",
            "embedded",
            "removed",
        ],
        [
            [
                x["articles"],
                x["passages"],
                x["load_articles_s"],
                x["no_change_rebuild_s"],
                x["one_changed_article_s"],
                x["embedded"],
                x["removed"],
            ]
            for x in r["reindex"]
        ],
    )
    rows = []
    for x in r["search"]:
        rows.append(
            [
                f"{x['passages']} passages, exact",
                x["articles"],
                x["questions"],
                x["load_index_s"],
                f"{x['faiss_exact_passages_ms']['p50']} / {x['faiss_exact_passages_ms']['p95']}",
                f"{x['search_vector_ms']['p50']} / {x['search_vector_ms']['p95']}",
                f"{x['search_with_embedding_ms']['p50']} / {x['search_with_embedding_ms']['p95']}",
                f"{x['rss_mb_before_load']} → {x['rss_mb_after_load']}",
            ]
        )
        if "ivf" in x:
            ivf = x["ivf"]
            default = next(s for s in ivf["sweep"] if s["nprobe"] == ivf["default_nprobe"])
            rows.append(
                [
                    f"{x['passages']} passages, IVF nlist={ivf['nlist']} nprobe={ivf['default_nprobe']}",
                    "",
                    "",
                    "",
                    f"{default['faiss_ms']['p50']} / {default['faiss_ms']['p95']}",
                    f"{ivf['search_vector_ms']['p50']} / {ivf['search_vector_ms']['p95']}",
                    "",
                    "",
                ]
            )
    table(
        "Search latency in ms, p50 / p95 (synthetic clustered vectors and generated text; one thread)",
        [
            "index",
            "articles",
            "questions",
            "load s",
            "FAISS passages top-30",
            "search part (search_vector)",
            "with query embedding (search)",
            "RSS MB before → after load",
        ],
        rows,
    )
    for x in r["search"]:
        if "ivf" in x:
            ivf = x["ivf"]
            table(
                f"IVF at {x['passages']} passages: recall@10 against exact search (train+add {ivf['train_and_add_s']} s)",
                ["nprobe", "recall@10", "FAISS ms p50 / p95"],
                [
                    [s["nprobe"], f"{s['recall@10']:.4f}", f"{s['faiss_ms']['p50']} / {s['faiss_ms']['p95']}"]
                    for s in ivf["sweep"]
                ],
            )
    table(
        "Exact vs IVF by size: FAISS top-30 ms p50 / p95 (one thread), IVF recall@10 against exact",
        ["vectors", "exact", "IVF", "nlist / nprobe", "IVF recall@10", "IVF train+add s"],
        [
            [
                k["vectors"],
                f"{k['exact_ms']['p50']} / {k['exact_ms']['p95']}",
                f"{k['ivf_ms']['p50']} / {k['ivf_ms']['p95']}",
                f"{k['nlist']} / {k['nprobe']}",
                f"{k['ivf_recall@10']:.4f}",
                k["ivf_train_and_add_s"],
            ]
            for k in r["index_kinds"]
        ],
    )
    mem = r["memory_mb"]
    print(
        f"\nResident memory (MB): start {mem['start']}, model loaded {mem['model_loaded']}, after build "
        f"{mem['after_build']}, after re-index {mem['after_reindex']}, end {mem['end']}, peak {mem['peak']}"
    )
    print(
        f"Total {r['seconds']} s{' (quick run: small sizes)' if r['quick'] else ''}; {r['cpus']} CPUs, load average "
        f"{r['load_average_start'][0]} at the start and {r['load_average_end'][0]} at the end (other work on the "
        "machine inflates the p95 figures)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge_base.eval.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few seconds")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="figures as JSON")
    args = parser.parse_args(argv)
    results = run(QUICK if args.quick else FULL, args.quick)
    print_report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"figures written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
