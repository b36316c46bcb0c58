"""Smoke tests of the knowledge-base evaluation (split, metrics, thresholds) and of `bench --quick`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from knowledge_base.eval.evaluate import (
    LabelledQuestion,
    bank_lines,
    bucket,
    choose_thresholds,
    mean_reciprocal_rank,
    recall_at_k,
    split_feed_heldout,
    split_oos,
    split_validation,
    threshold_sweep,
)
from knowledge_base.text_ranking import NaiveBayesRanking

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ROWS = [LabelledQuestion(f"question number {i}", f"t{i % 3}") for i in range(200)]


def test_bucket_is_sha1_of_the_text_mod_10() -> None:
    text = "How do I top up?"
    assert bucket(text) == int(hashlib.sha1(text.encode()).hexdigest(), 16) % 10 == 3
    assert bucket(text, "validation:") == 4
    assert bucket(text) == bucket(text)  # no per-process salt (unlike hash())


def test_split_is_deterministic_disjoint_complete_with_stable_counts() -> None:
    feed, held_out = split_feed_heldout(ROWS)
    assert (len(feed), len(held_out)) == (129, 71)
    assert {r.text for r in feed}.isdisjoint({r.text for r in held_out})
    assert sorted(feed + held_out, key=lambda r: r.text) == sorted(ROWS, key=lambda r: r.text)
    assert split_feed_heldout(list(reversed(ROWS)))[0] == list(reversed(feed))  # by text, not by position
    assert all(bucket(r.text) < 7 for r in feed) and all(bucket(r.text) >= 7 for r in held_out)
    rest, validation = split_validation(feed)
    assert (len(rest), len(validation)) == (110, 19)
    assert {r.text for r in rest}.isdisjoint({r.text for r in validation})
    assert split_oos(["a", "b", "c", "d", "e", "f"]) == (["d", "e"], ["a", "b", "c", "f"])


def test_bank_lines_map_topics_and_skip_missing_articles() -> None:
    rows = [LabelledQuestion("q1", "card_arrival"), LabelledQuestion("q2", "age_limit"), LabelledQuestion("q3", "nope")]
    topics = {"card_arrival": "card-not-arrived", "age_limit": "age-requirement"}
    assert bank_lines(rows, topics, {"card-not-arrived"}) == [{"article": "card-not-arrived", "text": "q1"}]


def test_recall_at_k_and_mrr_exact_values() -> None:
    ranked = [["a", "b", "c"], ["b", "a", "c"], ["c", "b", "a"], ["x", "y", "z"]]
    gold = ["a", "a", "a", "a"]
    assert recall_at_k(ranked, gold, 1) == 0.25
    assert recall_at_k(ranked, gold, 2) == 0.5
    assert recall_at_k(ranked, gold, 3) == 0.75
    assert mean_reciprocal_rank(ranked, gold) == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    assert mean_reciprocal_rank(ranked, gold, depth=2) == pytest.approx((1 + 1 / 2) / 4)
    assert recall_at_k([], [], 1) == 0.0 and mean_reciprocal_rank([], []) == 0.0


def test_threshold_sweep_and_choice() -> None:
    sweep = threshold_sweep(
        [0.9, 0.8, 0.6, 0.4], [True, True, False, True], [0.7, 0.5, 0.3, 0.2], grid=[0.3, 0.5, 0.6, 0.75]
    )
    assert [r["oos_above"] for r in sweep] == [0.75, 0.5, 0.25, 0.0]
    assert [r["in_scope_above"] for r in sweep] == [1.0, 0.75, 0.75, 0.5]
    assert sweep[2]["precision_above"] == pytest.approx(2 / 3)
    assert choose_thresholds(sweep, answer_budget=0.0, suggest_budget=0.5) == (0.75, 0.5)


def test_lexical_scores_agree_on_both_scoring_paths() -> None:
    docs = [
        ("a", "when will my card arrive"),
        ("a", "card delivery time"),
        ("b", "exchange rate fee"),
        ("b", "what rate do you use"),
        ("c", "my card was stolen"),
        ("c", "lost card"),
    ]
    model = NaiveBayesRanking(docs)
    every = model.scores("when does the card arrive")
    assert model.articles[int(np.argmax(every))] == "a"
    for subset in ([0], [2, 1], [0, 1, 2]):
        # one article (cheap by article rows) and all of them (cheap by feature rows) must agree
        assert model.scores("when does the card arrive", np.array(subset)) == pytest.approx(every[subset])


def test_bench_quick_runs_end_to_end(tmp_path: Path) -> None:
    output = tmp_path / "kb-bench.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "knowledge_base.eval.bench", "--quick", "--output", str(output)],
        check=False,
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for title in ("Build throughput", "Re-index after changing one article", "Search latency", "Resident memory"):
        assert title in done.stdout
    assert output.is_file() and '"quick": true' in output.read_text()
