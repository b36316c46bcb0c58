"""`make eval-kb` history: rows appended, the chart redrawn with every run, labels escaped."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree

from knowledge_base.eval import history


def result(recall: float, oos: float) -> dict:
    return {
        "held_out": {"recall@1": recall, "recall@3": 0.98, "recall@5": 0.99, "mrr@10": 0.95},
        "index": {"articles": 79, "questions": 7441},
        "tiers": {"configured": {"oos_all": {"answer": oos}}},
        "thresholds": {"configured": {"answer": 0.73, "suggest": 0.46}},
    }


def test_each_run_is_appended_and_charted(tmp_path) -> None:
    file = tmp_path / "kb-eval-history.jsonl"
    file.parent.mkdir(exist_ok=True)
    file.write_text('{"broken line\n')  # an unreadable line is skipped, not fatal
    chart = history.record(result(0.928, 0.005), file)
    rows = history.append(file, history.history_row(result(0.93, 0.01), dt.datetime(2026, 11, 24, tzinfo=dt.UTC)))
    assert [r["recall@1"] for r in rows] == [0.928, 0.93]
    svg = history.render_svg(rows)
    root = ElementTree.fromstring(svg)  # well-formed XML
    assert root.tag.endswith("svg") and chart.suffix == ".svg" and chart.read_text().startswith("<svg")
    assert svg.count("<polyline") == 3 and "2026-11-24" in svg and "93.0 %" in svg


def test_labels_are_escaped(tmp_path) -> None:
    svg = history.render_svg(
        [{"at": "<script>alert(1)</script>", "recall@1": 0.5, "recall@3": 0.6, "oos_answered": 0.0}]
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
