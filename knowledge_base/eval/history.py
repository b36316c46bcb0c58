"""`make eval-kb` over time: each run's headline figures appended to a JSONL file, and a chart.

Content teams change articles and question banks week by week; whether search got better or
worse is a line going up or down, so every evaluation appends one row to
var/eval/kb-eval-history.jsonl and redraws var/eval/kb-eval-history.svg (a standalone SVG: open
it in a browser). No HTML is involved and every label is escaped.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from pathlib import Path
from typing import Any

#: (key in a history row, legend, colour); values are shares 0..1, drawn as percentages.
SERIES = (
    ("recall@1", "Recall@1 (held-out)", "#2563eb"),
    ("recall@3", "Recall@3 (held-out)", "#16a34a"),
    ("oos_answered", "out-of-scope answered", "#dc2626"),
)
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 300, 48, 16, 24, 64


def history_row(results: dict[str, Any], when: dt.datetime | None = None) -> dict[str, Any]:
    """The figures of one `knowledge_base.eval.evaluate` result worth following over time."""
    held = results["held_out"]
    index = results["index"]
    return {
        "at": (when or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"),
        "recall@1": held["recall@1"],
        "recall@3": held["recall@3"],
        "recall@5": held["recall@5"],
        "mrr@10": held["mrr@10"],
        "oos_answered": results["tiers"]["configured"]["oos_all"]["answer"],
        "articles": index["articles"],
        "questions": index["questions"],
        "thresholds": results["thresholds"]["configured"],
    }


def append(path: Path, row: dict[str, Any]) -> list[dict[str, Any]]:
    """Append `row`; return every row so far (unreadable lines are skipped, not fatal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def render_svg(rows: list[dict[str, Any]], last: int = 30) -> str:
    """A line chart of the last `last` runs, 0–100 %, one line per SERIES entry."""
    rows = rows[-last:]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            'font-family="system-ui, sans-serif" font-size="11">'
        ),
        "<title>Knowledge-base evaluation over time (make eval-kb)</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
    ]
    for percent in (0, 25, 50, 75, 100):
        y = TOP + plot_h * (1 - percent / 100)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#6b7280">{percent} %</text>'
        )

    def x_of(i: int) -> float:
        return LEFT + (plot_w * i / (len(rows) - 1) if len(rows) > 1 else plot_w / 2)

    for i, row in enumerate(rows):
        if len(rows) <= 6 or i % -(-len(rows) // 6) == 0:  # at most 6-7 labels: they are 16 characters wide
            parts.append(
                f'<text x="{x_of(i):.1f}" y="{TOP + plot_h + 16}" text-anchor="middle" fill="#6b7280">'
                f"{escape(str(row.get('at', ''))[:16].replace('T', ' '))}</text>"
            )
    for key, name, colour in SERIES:
        points = [(x_of(i), TOP + plot_h * (1 - float(r[key]))) for i, r in enumerate(rows) if key in r]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (x, y), r in zip(points, [r for r in rows if key in r], strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>'
                f"{escape(str(r.get('at', '')))}: {escape(name)} {100 * float(r[key]):.1f} %</title></circle>"
            )
    x = LEFT
    for _, name, colour in SERIES:
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 22}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 13}" fill="#111827">{escape(name)}</text>'
        )
        x += 14 + 6 * len(name) + 24
    parts.append("</svg>")
    return "".join(parts)


def record(results: dict[str, Any], history_file: Path) -> Path:
    """Append this run and redraw the chart next to the history file; returns the chart's path."""
    rows = append(history_file, history_row(results))
    chart = history_file.with_suffix(".svg")
    chart.write_text(render_svg(rows) + "\n", encoding="utf-8")
    return chart
