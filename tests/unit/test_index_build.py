"""Incremental builds, deletion, atomic versions and hot reload, on a small real corpus."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from knowledge_base import index_store
from knowledge_base.articles import ArticleError
from knowledge_base.builder import build_index
from knowledge_base.search import Searcher, Tier
from knowledge_base.settings import KBSettings
from tests.conftest import write_article


def test_first_build_embeds_everything_then_nothing(kb_settings: KBSettings, embedder) -> None:
    first = build_index(kb_settings, embedder)
    assert first.articles == 4 and first.embedded == first.passages + first.questions and not first.unchanged
    again = build_index(kb_settings, embedder)
    assert again.unchanged and again.embedded == 0 and again.version == first.version


def test_changed_article_reembeds_only_its_changed_passage(kb_settings: KBSettings, embedder) -> None:
    build_index(kb_settings, embedder)
    path = kb_settings.articles_dir / "exchange-rates.md"
    path.write_text(path.read_text().replace("add 1 %", "add 1.5 %"))
    report = build_index(kb_settings, embedder)
    assert (report.embedded, report.removed) == (1, 1)
    searcher = Searcher(kb_settings, embedder)
    hit = searcher.search("weekend exchange markup").best
    assert hit is not None and "1.5 %" in hit.passage


def test_deleted_article_leaves_the_index(kb_settings: KBSettings, embedder) -> None:
    build_index(kb_settings, embedder)
    (kb_settings.articles_dir / "exchange-rates.md").unlink()
    report = build_index(kb_settings, embedder)
    assert report.embedded == 0 and report.removed == 2 + 2  # two passages, two questions
    manifest = index_store.require_current_version(kb_settings.index_dir).read_manifest()
    assert "exchange-rates" not in manifest["articles"]
    result = Searcher(kb_settings, embedder).search("What exchange rate do you use?", k=5)
    assert all(h.article_id != "exchange-rates" for h in result.hits)


def test_broken_article_stops_the_build_and_the_old_version_keeps_serving(kb_settings: KBSettings, embedder) -> None:
    first = build_index(kb_settings, embedder)
    (kb_settings.articles_dir / "broken.md").write_text("---\ntitle: [oops\n---\nbody")
    with pytest.raises(ArticleError, match=r"broken\.md"):
        build_index(kb_settings, embedder)
    assert index_store.require_current_version(kb_settings.index_dir).name == first.version


def test_tiers_on_clear_in_scope_and_out_of_scope_queries(kb_settings: KBSettings, embedder) -> None:
    build_index(kb_settings, embedder)
    searcher = Searcher(kb_settings, embedder)
    answered = searcher.search("when is my card going to arrive")
    assert answered.tier == Tier.ANSWER and answered.best.article_id == "card-delivery"
    assert answered.best.url.startswith("/help/card-delivery")
    assert searcher.search("what's a good recipe for lasagne").tier == Tier.NONE
    stolen = searcher.search("someone stole my card")
    assert stolen.best.article_id == "lost-or-stolen-card" and stolen.best.needs_person


def test_hot_reload_serves_the_new_version_without_failing_searches(kb_settings: KBSettings, embedder) -> None:
    build_index(kb_settings, embedder)
    searcher = Searcher(kb_settings, embedder)
    searcher.reload_if_changed()
    searcher.start_watching(interval=0.1)
    errors: list[BaseException] = []
    stop = threading.Event()

    def search_continuously() -> None:
        while not stop.is_set():
            try:
                assert searcher.search("card delivery", k=2).hits
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=search_continuously) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        old = searcher.version
        write_article(
            kb_settings.articles_dir,
            "virtual-cards",
            "Virtual cards",
            "Create a virtual card instantly in the app.\n\n## Disposable cards\nA new number after each payment.",
            ["Can I get a disposable card?"],
        )
        build_index(kb_settings, embedder)
        finished = time.monotonic()
        while searcher.version == old and time.monotonic() - finished < 10:
            time.sleep(0.05)
        assert searcher.version != old
        assert searcher.search("disposable virtual card number").best.article_id == "virtual-cards"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        searcher.stop_watching()
    assert errors == []


def test_index_switches_to_ivf_at_the_threshold_and_back(kb_settings: KBSettings, embedder) -> None:
    topics = [
        "parcel lockers",
        "garden tools",
        "violin lessons",
        "solar panels",
        "chess clubs",
        "tram tickets",
        "bread baking",
        "kayak rental",
        "museum passes",
        "dog grooming",
    ]
    for number, topic in enumerate(topics):
        write_article(
            kb_settings.articles_dir,
            f"extra-{number}",
            f"All about {topic}",
            f"What to know about {topic}.\n\n## Prices\nPrices for {topic} vary by season.",
            [f"Tell me about {topic}", f"How much do {topic} cost?"],
        )
    settings = dataclasses.replace(kb_settings, ivf_min_passages=20)  # 28 passages, 28 questions
    build_index(settings, embedder)
    kinds = index_store.require_current_version(settings.index_dir).read_manifest()["index_kinds"]
    assert kinds["passages"].startswith("ivf") and kinds["questions"].startswith("ivf")
    searcher = Searcher(settings, embedder)
    assert searcher.search("When will my card arrive?").best.article_id == "card-delivery"

    # Incremental on IVF: one changed passage is removed and added by id.
    path = settings.articles_dir / "exchange-rates.md"
    path.write_text(path.read_text().replace("add 1 %", "add 1.5 %"))
    report = build_index(settings, embedder)
    assert (report.embedded, report.removed) == (1, 1)
    searcher.reload_if_changed()
    assert "1.5 %" in searcher.search("weekend exchange markup").best.passage

    # Below half the threshold the index goes back to exact search.
    for number in range(len(topics)):
        (settings.articles_dir / f"extra-{number}.md").unlink()
    build_index(settings, embedder)
    kinds = index_store.require_current_version(settings.index_dir).read_manifest()["index_kinds"]
    assert kinds == {"passages": "exact", "questions": "exact"}
    searcher.reload_if_changed()
    assert searcher.search("I lost my card").best.article_id == "lost-or-stolen-card"


def test_unchanged_files_are_not_parsed_again_and_unchanged_vectors_are_not_rewritten(
    kb_settings: KBSettings, embedder
) -> None:
    from knowledge_base.builder import SOURCE_CACHE_FILE
    from knowledge_base.source_cache import SourceCache

    first = build_index(kb_settings, embedder)
    path = kb_settings.articles_dir / "exchange-rates.md"
    path.write_text(path.read_text().replace("add 1 %", "add 2 %"))
    cache = SourceCache(kb_settings.index_dir / SOURCE_CACHE_FILE)
    records = {r.article_id: r for r in cache.load(kb_settings.articles_dir)}
    assert (cache.reused, cache.parsed) == (3, 1)  # only the edited file is parsed again
    assert any("add 2 %" in p["text"] for p in records["exchange-rates"].passages)

    second = build_index(kb_settings, embedder)
    old = index_store.require_current_version(kb_settings.index_dir).path.parent / first.version
    new = index_store.require_current_version(kb_settings.index_dir).path
    # Only a passage changed: the questions' index file is the previous version's, linked.
    assert (new / "questions.faiss").stat().st_ino == (old / "questions.faiss").stat().st_ino
    assert (new / "passages.faiss").stat().st_ino != (old / "passages.faiss").stat().st_ino
    assert second.embedded == 1

    # A broken edit is still caught although the file was cached before.
    path.write_text("---\ntitle: [oops\n---\nbody")
    with pytest.raises(ArticleError, match=r"exchange-rates\.md"):
        build_index(kb_settings, embedder)


def test_duplicate_ids_and_a_corrupt_parse_cache_through_the_builder(kb_settings: KBSettings, embedder) -> None:
    from knowledge_base.builder import SOURCE_CACHE_FILE

    first = build_index(kb_settings, embedder)
    (kb_settings.index_dir / SOURCE_CACHE_FILE).write_bytes(b"\x00 not json")
    again = build_index(kb_settings, embedder)  # the cache is ignored: every file is parsed again
    assert again.unchanged and again.version == first.version

    copy = kb_settings.articles_dir / "zz-copy.md"
    copy.write_text((kb_settings.articles_dir / "card-delivery.md").read_text())
    with pytest.raises(ArticleError, match=r"duplicate id 'card-delivery'.*card-delivery\.md"):
        build_index(kb_settings, embedder)
    assert index_store.require_current_version(kb_settings.index_dir).name == first.version


def test_query_vectors_are_cached_read_only_and_equal_to_a_fresh_encoding(embedder) -> None:
    first = embedder.encode_query("How long does card delivery take?")
    again = embedder.encode_query("How long does card delivery take?")
    assert again is first and not first.flags.writeable
    fresh = embedder.encode(["How long does card delivery take?"])[0]
    assert np.allclose(first, fresh, atol=1e-6)


def test_a_follow_up_in_context_finds_the_article_of_the_question_before_it(kb_settings: KBSettings, embedder) -> None:
    build_index(kb_settings, embedder)
    searcher = Searcher(kb_settings, embedder)
    result = searcher.search_in_context("How long does card delivery take?", "and express?")
    assert result.best is not None and result.best.article_id == "card-delivery"
    assert searcher.passage_for("card-delivery", "and express?").section == "Express delivery"
