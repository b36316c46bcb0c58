"""The metrics dashboard for signed-in agents: GET /dashboard, server-rendered HTML and SVG.

No JavaScript: the charts are inline SVG drawn here, the date filter is a plain GET form, and every
string that reaches the page (customer questions above all) goes through html.escape. Charting
choice : server-rendered SVG rather than a vendored npm library, so the page needs no
build step, works under the strict CSP and is readable with scripts off.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from handoff import auth
from handoff.metrics import figures as metrics
from handoff.metrics.api import period_of, period_report, wants_gaps

routes = web.RouteTableDef()

WIDTH, HEIGHT = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 44, 10, 14, 40
COLORS = {
    "bot": "#0b5e4f",
    "person": "#d97706",
    "bar": "#1d4ed8",
    "csat": "#0b5e4f",
    "met": "#0b5e4f",
    "breached": "#b42318",
}


def e(value: Any) -> str:
    return escape(str(value), quote=True)


# --- formatting ---------------------------------------------------------------------------------


def fmt_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f} %"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def fmt_number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 5 × a power of ten that is at least `value` (the y-axis top)."""
    if value <= 0:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def _axis_label(value: float) -> str:
    return f"{value:g}"


# --- SVG charts ---------------------------------------------------------------------------------


def _svg_open(testid: str, title: str, description: str, width: int = WIDTH) -> list[str]:
    slug = e(testid)
    return [
        (
            f'<svg class="chart" data-testid="{slug}" viewBox="0 0 {width} {HEIGHT}" role="img" '
            f'aria-labelledby="{slug}-title {slug}-desc" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{slug}-title">{e(title)}</title><desc id="{slug}-desc">{e(description)}</desc>',
    ]


def _y_axis(top_value: float, width: int) -> list[str]:
    """Grid lines at 0, the middle (when it is a whole number: these are counts) and the top."""
    parts = []
    plot_height = HEIGHT - TOP - BOTTOM
    for fraction in (0, 0.5, 1):
        if fraction == 0.5 and top_value % 2:
            continue
        y = TOP + plot_height * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{e(_axis_label(top_value * fraction))}</text>"
        )
    return parts


def column_chart(
    testid: str,
    title: str,
    labels: list[str],
    series: list[tuple[str, str, list[float]]],
    empty: str,
    label_every: int = 1,
    value_text: bool = True,
    width: int = WIDTH,
) -> str:
    """Vertical bars, stacked when there are several series: (name, colour, values per label)."""
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    description = "; ".join(
        f"{label}: " + ", ".join(f"{name} {values[i]:g}" for name, _, values in series)
        for i, label in enumerate(labels)
    )
    parts = _svg_open(testid, title, description or empty, width)
    if not labels or not any(totals):
        parts.append(f'<text class="empty" x="{width / 2}" y="{HEIGHT / 2}" text-anchor="middle">{e(empty)}</text>')
        parts.append("</svg>")
        return "".join(parts)
    top_value = nice_ceiling(max(totals))
    parts += _y_axis(top_value, width)
    plot_width, plot_height = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(labels)
    bar = max(1.0, slot * 0.7)
    for i, label in enumerate(labels):
        x = LEFT + slot * i + (slot - bar) / 2
        base: float = TOP + plot_height
        for name, colour, values in series:
            height = plot_height * values[i] / top_value
            if height > 0:
                base -= height
                parts.append(
                    f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                    f'fill="{colour}"><title>{e(label)}: {e(name)} {values[i]:g}</title></rect>'
                )
        if value_text and totals[i] and slot >= 18:
            parts.append(
                f'<text class="value" x="{x + bar / 2:.1f}" y="{base - 4:.1f}" text-anchor="middle">'
                f"{totals[i]:g}</text>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text class="axis" x="{x + bar / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
                f"{e(label)}</text>"
            )
    if len(series) > 1:
        x = LEFT
        for name, colour, _ in series:
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
                f'<text class="axis" x="{x + 14}" y="{HEIGHT - 5}">{e(name)}</text>'
            )
            x += 14 + 8 * len(name) + 16
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(testid: str, title: str, items: list[tuple[str, float, str]], empty: str) -> str:
    """Horizontal bars: (label, value, text shown after the bar)."""
    height = max(60, TOP + 26 * len(items) + 10)
    description = "; ".join(f"{label}: {text}" for label, _, text in items)
    parts = [
        (
            f'<svg class="chart" data-testid="{e(testid)}" viewBox="0 0 {WIDTH} {height}" role="img" '
            f'aria-labelledby="{e(testid)}-title {e(testid)}-desc" xmlns="http://www.w3.org/2000/svg">'
        ),
        f'<title id="{e(testid)}-title">{e(title)}</title><desc id="{e(testid)}-desc">{e(description or empty)}</desc>',
    ]
    if not items:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">{e(empty)}</text></svg>'
        )
        return "".join(parts)
    label_width, text_width = 170, 110
    plot = WIDTH - label_width - text_width
    top_value = max(value for _, value, _ in items) or 1
    for i, (label, value, text) in enumerate(items):
        y = TOP + 26 * i
        width = plot * value / top_value
        parts.append(f'<text class="axis" x="{label_width - 8}" y="{y + 14}" text-anchor="end">{e(label)}</text>')
        parts.append(
            f'<rect class="bar" x="{label_width}" y="{y}" width="{max(width, 1):.1f}" height="18" '
            f'fill="{COLORS["person"]}"><title>{e(label)}: {e(text)}</title></rect>'
        )
        parts.append(f'<text class="value" x="{label_width + width + 6:.1f}" y="{y + 14}">{e(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- the page -----------------------------------------------------------------------------------


def _tile(label: str, value: str, detail: str = "", testid: str = "") -> str:
    test = f' data-testid="{e(testid)}"' if testid else ""
    return (
        f'<div class="tile"{test}><p class="tile__label">{e(label)}</p><p class="tile__value">{e(value)}</p>'
        f'<p class="tile__detail">{e(detail)}</p></div>'
    )


def _tiles(r: dict[str, Any]) -> str:
    claim, response, resolution = r["time_to_claim"], r["first_response"], r["resolution"]
    fcr = r["first_contact_resolution"]
    tiles = [
        _tile(
            "Conversations",
            str(r["conversations"]["total"]),
            f"{r['conversations']['opened']} chat windows opened",
            "kpi-conversations",
        ),
        _tile(
            "Containment",
            fmt_rate(r["containment"]["rate"]),
            f"{r['containment']['contained']} answered by the bot alone",
            "kpi-containment",
        ),
        _tile(
            "Handoff rate",
            fmt_rate(r["handoffs"]["rate"]),
            f"{r['handoffs']['conversations']} conversations handed to a person",
            "kpi-handoff-rate",
        ),
        _tile(
            "Time to claim",
            f"p50 {fmt_duration(claim['p50_seconds'])}",
            f"p90 {fmt_duration(claim['p90_seconds'])} · {claim['count']} claims",
            "kpi-time-to-claim",
        ),
        _tile(
            "First agent response",
            f"p50 {fmt_duration(response['p50_seconds'])}",
            f"p90 {fmt_duration(response['p90_seconds'])} after the claim · {response['count']}",
            "kpi-first-response",
        ),
        _tile(
            "Resolution time",
            f"p50 {fmt_duration(resolution['p50_seconds'])}",
            f"p90 {fmt_duration(resolution['p90_seconds'])} from the queue · {resolution['count']}",
            "kpi-resolution",
        ),
        _tile("CSAT", f"{fmt_number(r['csat']['average'])} / 5", f"{r['csat']['count']} ratings", "kpi-csat"),
        _tile(
            "CES",
            f"{fmt_number(r['ces']['average'])} / 5" if r["ces"]["count"] else "not collected",
            f"{r['ces']['count']} answers · 5 = very easy",
            "kpi-ces",
        ),
        _tile(
            "First-contact resolution",
            fmt_rate(fcr["rate"]),
            f"{fcr['first_contact']} of {fcr['first_contact'] + fcr['returned']} settled · {fcr['pending']} pending "
            f"({fcr['window_hours']:g} h window)",
            "kpi-fcr",
        ),
        _tile(
            "First-response SLA",
            fmt_rate(r["sla"]["rate"]),
            f"{r['sla']['met']} met · {r['sla']['breached']} breached · {r['sla']['running']} still running",
            "kpi-sla",
        ),
    ]
    return '<section class="tiles" aria-label="Key figures">' + "".join(tiles) + "</section>"


def _sla_section(r: dict[str, Any]) -> str:
    """SLA attainment per day (a chart of met and breached) and per team (a table)."""
    sla = r["sla"]
    targets = ", ".join(
        f"{priority} {fmt_duration(seconds) if seconds else 'none'}"
        for priority, seconds in sla["targets_seconds"].items()
    )
    chart = column_chart(
        "chart-sla",
        "First replies within the target, per day",
        [row["date"][5:] for row in sla["daily"]],
        [
            ("met", COLORS["met"], [float(row["met"]) for row in sla["daily"]]),
            ("breached", COLORS["breached"], [float(row["breached"]) for row in sla["daily"]]),
        ],
        "No handoffs with a target in this period.",
        label_every=max(1, math.ceil(len(sla["daily"]) / 16)),
        width=1200,
    )
    rows = "".join(
        f'<tr><th scope="row">{e(t["team"])}</th><td class="num">{t["met"]}</td><td class="num">{t["breached"]}</td>'
        f'<td class="num">{t["running"]}</td><td class="num">{e(fmt_rate(t["rate"]))}</td></tr>'
        for t in sla["by_team"]
    )
    table = (
        '<table data-testid="table-sla-teams"><caption>SLA attainment per team</caption>'
        '<thead><tr><th scope="col">Team</th><th scope="col">Met</th><th scope="col">Breached</th>'
        f'<th scope="col">Running</th><th scope="col">Attainment</th></tr></thead><tbody>{rows}</tbody></table>'
        if rows
        else '<p class="muted">No handoffs with a target in this period.</p>'
    )
    return (
        f'<section class="card" id="sla"><h2>First-response SLA</h2><p class="muted">Targets: {e(targets)}. '
        "Attainment is met over met and breached; a handoff still within its target is running.</p>"
        f"<figure>{chart}</figure>{table}</section>"
    )


def _charts(r: dict[str, Any]) -> str:
    daily = r["daily"]
    labels = [row["date"][5:] for row in daily]
    conversations = column_chart(
        "chart-conversations",
        "Conversations per day",
        labels,
        [
            ("stayed with the bot", COLORS["bot"], [row["conversations"] - row["handed_off"] for row in daily]),
            ("handed to a person", COLORS["person"], [row["handed_off"] for row in daily]),
        ],
        "No conversations in this period.",
        label_every=max(1, math.ceil(len(labels) / 16)),
        width=1200,
    )
    reasons = bar_chart(
        "chart-handoff-reasons",
        "Handoffs by reason",
        [
            (x["reason"], x["conversations"], f"{x['conversations']} · {fmt_rate(x['rate'])}")
            for x in r["handoffs"]["by_reason"]
        ],
        "No handoffs in this period.",
    )
    distribution = r["csat"]["distribution"]
    csat = column_chart(
        "chart-csat",
        "CSAT distribution (1 to 5)",
        [f"{n} ★" for n in distribution],
        [("ratings", COLORS["csat"], [float(v) for v in distribution.values()])],
        "No ratings in this period.",
    )
    histogram = r["time_to_claim"]["histogram"]
    claim = column_chart(
        "chart-time-to-claim",
        "Time to claim",
        [b["label"] for b in histogram],
        [("handoffs", COLORS["bar"], [float(b["count"]) for b in histogram])],
        "No claims in this period.",
    )
    return (
        '<section class="charts">'
        f'<figure class="card card--wide"><figcaption>Conversations per day</figcaption>{conversations}</figure>'
        f'<figure class="card"><figcaption>Handoffs by reason (conversations · share of all)</figcaption>{reasons}</figure>'
        f'<figure class="card"><figcaption>CSAT distribution</figcaption>{csat}</figure>'
        f'<figure class="card"><figcaption>Time to claim (queue → agent)</figcaption>{claim}</figure>'
        "</section>"
    )


def _articles_table(r: dict[str, Any]) -> str:
    if not r["articles"]:
        return '<p class="muted">No "Did that help?" answers in this period.</p>'
    rows = "".join(
        f'<tr><td><a href="/help/{e(quote(a["article_id"], safe=""))}">{e(a["article_id"])}</a></td>'
        f'<td class="num">{a["helpful"]}</td><td class="num">{a["not_helpful"]}</td>'
        f'<td class="num">{e(fmt_rate(a["helpful_rate"]))}</td></tr>'
        for a in r["articles"]
    )
    return (
        '<table data-testid="table-articles"><caption>Article helpfulness, most "not helpful" first</caption>'
        '<thead><tr><th scope="col">Article</th><th scope="col">Helpful</th><th scope="col">Not helpful</th>'
        f'<th scope="col">Helpful share</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _gaps_section(r: dict[str, Any], query: dict[str, str]) -> str:
    count = r["unanswered_questions"]
    head = f'<p>{count} question{"" if count == 1 else "s"} found no answer or got a "not helpful".</p>'
    if "gaps" not in r:
        link = "/dashboard?" + urlencode({**query, "gaps": "1"}) + "#gaps"
        return head + (
            f'<p><a class="button" data-testid="gaps-link" href="{e(link)}">Group them by meaning</a> '
            '<span class="muted">(loads the language model: a few seconds the first time)</span></p>'
            if count
            else ""
        )
    if not r["gaps"]:
        return head
    rows = "".join(
        f'<tr><td class="num">{g["size"]}</td><td>{e(g["example"])}</td>'
        f'<td><ul class="questions">{"".join(f"<li>{e(q)}</li>" for q in g["questions"])}</ul></td></tr>'
        for g in r["gaps"]
    )
    return head + (
        '<table data-testid="table-gaps"><caption>Content gaps: what to write next, most asked first</caption>'
        '<thead><tr><th scope="col">Asked</th><th scope="col">Typical question</th>'
        f'<th scope="col">Questions</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def _form(raw_from: str, raw_to: str, error: str = "") -> str:
    message = f'<p class="form-error" role="alert" data-testid="dashboard-error">{e(error)}</p>' if error else ""
    return (
        '<form class="filter" method="get" action="/dashboard" data-testid="dashboard-filter">'
        f'<label>From <input type="date" name="from" value="{e(raw_from)}" data-testid="dashboard-from"></label>'
        f'<label>To <input type="date" name="to" value="{e(raw_to)}" data-testid="dashboard-to"></label>'
        '<button type="submit" data-testid="dashboard-apply">Show</button>'
        '<span class="muted">UTC days, both included; conversations counted on the day they started.</span>'
        f"{message}</form>"
    )


def page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>{e(title)} · Kestrel Support</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header class="topbar"><h1>Kestrel Support <span class="sub">Metrics</span></h1>
<nav><a href="/inbox">Inbox</a></nav></header>
<main>{body}</main></body></html>"""


def render(report: dict[str, Any], agent_name: str) -> str:
    period = report["period"]
    query = {"from": period["from"], "to": period["to"]}
    downloads = (
        f'<p class="downloads">Signed in as {e(agent_name)} · '
        f'<a data-testid="dashboard-csv" href="/api/metrics.csv?{e(urlencode(query))}">Download CSV (a row per day)</a> · '
        f'<a href="/api/metrics?{e(urlencode(query))}">JSON</a></p>'
    )
    body = (
        _form(period["from"], period["to"])
        + downloads
        + _tiles(report)
        + _charts(report)
        + _sla_section(report)
        + f'<section class="card"><h2>Article helpfulness</h2>{_articles_table(report)}</section>'
        + f'<section class="card" id="gaps"><h2>Content gaps</h2>{_gaps_section(report, query)}</section>'
    )
    return page(f"Metrics {period['from']} to {period['to']}", body)


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.StreamResponse:
    agent = await auth.current_agent(request)
    if agent is None:
        raise web.HTTPFound("/inbox")
    if not agent.may("admin"):
        body = (
            '<section class="card"><p>The metrics dashboard is for admins. Ask an admin to give you the role '
            '(<code>supportbot-agent add --role admin</code>), or go back to the <a href="/inbox">inbox</a>.</p></section>'
        )
        return web.Response(text=page("Metrics", body), content_type="text/html", status=403)
    try:
        period = period_of(request)
    except metrics.BadPeriod as exc:
        body = _form(request.query.get("from", ""), request.query.get("to", ""), str(exc))
        return web.Response(text=page("Metrics", body), content_type="text/html", status=400)
    report = await period_report(request, period, gaps=wants_gaps(request))
    response = web.Response(text=render(report, agent.name), content_type="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response
