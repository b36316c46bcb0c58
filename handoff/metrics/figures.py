"""Customer-experience metrics computed from the hub's store .

A period is a range of whole UTC days, `from` to `to`, both included. Every figure is about the
conversations that *started* in the period (their handoffs, ratings, article feedback and
questions, whenever those happened), and a daily row is the same computation for the
conversations that started that day, so the days add up to the period.

Definitions (README, "Metrics"):

- opened: conversations created (the widget was opened). conversations: those in which the
  customer wrote at least one message or that were handed off; every rate is over these.
- containment: conversations without any handoff whose last article feedback (if any) is not
  "not helpful". handoff rate: conversations with at least one handoff; by reason, the
  conversations with a handoff of that reason (one conversation may count under two reasons).
- time to claim = claimed_at - queued_at; first response = first_response_at - claimed_at;
  resolution = resolved_at - queued_at; p50 and p90 interpolate linearly between the closest ranks
  (numpy's default); in seconds.
- CSAT: average and distribution of the 1..5 ratings; CES the same for the optional
  "How easy was it to get help today?" answers (1 very difficult .. 5 very easy).
- first-contact resolution: a resolved handoff whose customer (the same conversation, or the same
  customer email) does not come back with a new handoff within the window
  (HUB_FCR_WINDOW_HOURS). A handoff still inside its window with no return is "pending" and left
  out of the rate until the window closes.
- article helpfulness: "Did that help?" yes/no per article.
- unanswered questions: knowledge-base questions with tier "none" or whose article was marked
  not helpful in the same conversation; clustered by meaning on request (content gaps).
- SLA attainment: handoffs whose first agent reply came within their priority's target
  (handoff/sla.py), over those met or breached; handoffs still within their target with no reply
  yet ("running") are left out; for the period, per day and per team (the team the handoff was
  routed to; "General queue" for none).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from handoff.sla import BREACHED, MET, RUNNING, SlaTargets, sla_status
from handoff.store import Store

DEFAULT_DAYS = 30
MAX_DAYS = 366
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: (label, upper bound in seconds) of the time-to-claim histogram; the last bucket is open-ended
CLAIM_BUCKETS: list[tuple[str, float]] = [
    ("under 1 min", 60),
    ("1-5 min", 300),
    ("5-15 min", 900),
    ("15-60 min", 3600),
    ("1-4 h", 14400),
    ("4 h or more", math.inf),
]
#: the columns of the CSV export and of each `daily` row in the JSON
DAILY_COLUMNS = [
    "date",
    "opened",
    "conversations",
    "contained",
    "containment_rate",
    "handed_off",
    "handoff_rate",
    "handoffs",
    "time_to_claim_p50_s",
    "time_to_claim_p90_s",
    "first_response_p50_s",
    "first_response_p90_s",
    "resolution_p50_s",
    "resolution_p90_s",
    "csat_count",
    "csat_average",
    "ces_count",
    "ces_average",
    "fcr_resolved",
    "fcr_first_contact",
    "fcr_returned",
    "fcr_pending",
    "fcr_rate",
    "helpful_feedback",
    "not_helpful_feedback",
    "unanswered_questions",
]


class BadPeriod(ValueError):
    """A `from`/`to` that is not a date, or a range that makes no sense; the message says why."""


@dataclass(frozen=True)
class Period:
    first: date
    last: date  # included

    @property
    def start(self) -> float:
        return midnight(self.first)

    @property
    def end(self) -> float:
        """The first instant after the period."""
        return midnight(self.last + timedelta(days=1))

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "days": len(self.days()),
            "timezone": "UTC",
        }


def midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def day_of(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, tz=UTC).date()


def today_utc() -> date:
    return datetime.now(tz=UTC).date()


def parse_day(value: str, name: str) -> date:
    value = value.strip()
    if not DAY.match(value):
        raise BadPeriod(f"'{name}' must be a date written YYYY-MM-DD (UTC), for example 2026-01-31.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadPeriod(f"'{name}' is not a real calendar date; use YYYY-MM-DD, for example 2026-01-31.") from None


def parse_period(raw_from: str | None, raw_to: str | None, today: date | None = None) -> Period:
    """`from`/`to` as given in a query string (either may be missing or empty): by default the last
    30 days up to today (UTC); a lone `from` runs to today, a lone `to` covers the 30 days before it."""
    today = today or today_utc()
    last = parse_day(raw_to, "to") if raw_to and raw_to.strip() else None
    first = parse_day(raw_from, "from") if raw_from and raw_from.strip() else None
    if last is None:
        last = max(today, first) if first else today
    if first is None:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise BadPeriod("'from' is after 'to'; swap them.")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadPeriod(f"The period is longer than {MAX_DAYS} days; choose a shorter one.")
    if last == date.max:
        raise BadPeriod("'to' is too far in the future; choose a date before 9999-12-31.")
    return Period(first, last)


# --- small statistics -------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0..1), interpolating linearly between the closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _durations(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50_seconds": _round(percentile(values, 0.5), 3),
        "p90_seconds": _round(percentile(values, 0.9), 3),
    }


def _scores(values: list[int]) -> dict[str, Any]:
    counts = Counter(values)
    return {
        "count": len(values),
        "average": _round(sum(values) / len(values), 3) if values else None,
        "distribution": {str(n): counts.get(n, 0) for n in range(1, 6)},
    }


def _claim_histogram(waits: list[float]) -> list[dict[str, Any]]:
    counts = [0] * len(CLAIM_BUCKETS)
    for wait in waits:
        counts[next(i for i, (_, upper) in enumerate(CLAIM_BUCKETS) if wait < upper)] += 1
    return [
        {"label": label, "upper_seconds": None if math.isinf(upper) else upper, "count": n}
        for (label, upper), n in zip(CLAIM_BUCKETS, counts, strict=False)
    ]


def _email(value: Any) -> str | None:
    text = str(value).strip().lower() if value else ""
    return text if text and text != "not given" else None


# --- the figures ------------------------------------------------------------------------------


@dataclass
class Rows:
    """What metrics_rows read from the store, for one period."""

    period: Period
    conversations: list[dict[str, Any]]
    handoffs: list[dict[str, Any]]  # the period's conversations' handoffs, then later ones (returns)
    ratings: list[dict[str, Any]]
    article_feedback: list[dict[str, Any]]
    unanswered: list[dict[str, Any]]

    def in_period(self, row: dict[str, Any], key: str = "conversation_created_at") -> bool:
        return self.period.start <= row[key] < self.period.end


async def load(store: Store, period: Period, now: float) -> Rows:
    raw = await store.metrics_rows(period.start, period.end, returns_until=now + 86400)
    return Rows(
        period, raw["conversations"], raw["handoffs"], raw["ratings"], raw["article_feedback"], raw["unanswered"]
    )


class Returns:
    """Every handoff loaded, by conversation and by customer email: who came back, and when."""

    def __init__(self, handoffs: list[dict[str, Any]]) -> None:
        self.by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for handoff in handoffs:
            self.by_conversation[handoff["conversation_id"]].append(handoff)
            email = _email(handoff["customer_email"])
            if email:
                self.by_email[email].append(handoff)

    def came_back(self, handoff: dict[str, Any], window: float) -> bool:
        if handoff.get("fcr_returned") is not None:  # rolled up by retention before the email went
            return bool(handoff["fcr_returned"])
        done, email = handoff["resolved_at"], _email(handoff["customer_email"])
        candidates = self.by_conversation.get(handoff["conversation_id"], []) + (
            self.by_email.get(email, []) if email else []
        )
        return any(other["id"] != handoff["id"] and done < other["queued_at"] <= done + window for other in candidates)


def _first_contact(resolved: list[dict[str, Any]], returns: Returns, window: float, now: float) -> dict[str, Any]:
    first_contact = returned = pending = 0
    for handoff in resolved:
        if returns.came_back(handoff, window):
            returned += 1
        elif now < handoff["resolved_at"] + window:
            pending += 1
        else:
            first_contact += 1
    return {
        "resolved": len(resolved),
        "first_contact": first_contact,
        "returned": returned,
        "pending": pending,
        "rate": _rate(first_contact, first_contact + returned),
    }


@dataclass
class Slice:
    """The rows of the conversations that started in a period or on one day."""

    conversations: list[dict[str, Any]]
    handoffs: list[dict[str, Any]]
    ratings: list[dict[str, Any]]
    article_feedback: list[dict[str, Any]]
    unanswered: list[dict[str, Any]]


def figures(part: Slice, returns: Returns, window_hours: float, now: float) -> dict[str, Any]:
    """Every figure for one slice of conversations."""
    handed_off = {h["conversation_id"] for h in part.handoffs}
    engaged = [c for c in part.conversations if c["customer_messages"] > 0 or c["id"] in handed_off]
    contained = [
        c
        for c in engaged
        if c["id"] not in handed_off and (c["last_feedback_helpful"] is None or bool(c["last_feedback_helpful"]))
    ]
    reasons: dict[str, set[str]] = defaultdict(set)
    reason_handoffs: Counter[str] = Counter()
    for h in part.handoffs:
        reasons[h["reason"]].add(h["conversation_id"])
        reason_handoffs[h["reason"]] += 1
    by_reason = sorted(
        (
            {
                "reason": reason,
                "conversations": len(ids),
                "handoffs": reason_handoffs[reason],
                "rate": _rate(len(ids), len(engaged)),
            }
            for reason, ids in reasons.items()
        ),
        key=lambda r: (-int(r["conversations"] or 0), -int(r["handoffs"] or 0), str(r["reason"])),
    )
    waits = [h["claimed_at"] - h["queued_at"] for h in part.handoffs if h["claimed_at"] is not None]
    responses = [
        h["first_response_at"] - h["claimed_at"]
        for h in part.handoffs
        if h["first_response_at"] is not None
        and h["claimed_at"] is not None
        and h["first_response_at"] >= h["claimed_at"]
    ]  # a reply before a re-claim is not counted
    resolved = [h for h in part.handoffs if h["resolved_at"] is not None]
    articles: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for f in part.article_feedback:
        articles[f["article_id"]][0 if f["helpful"] else 1] += 1
    return {
        "conversations": {"opened": len(part.conversations), "total": len(engaged)},
        "containment": {"contained": len(contained), "rate": _rate(len(contained), len(engaged))},
        "handoffs": {
            "conversations": len(handed_off),
            "rate": _rate(len(handed_off), len(engaged)),
            "total": len(part.handoffs),
            "by_reason": by_reason,
        },
        "time_to_claim": {**_durations(waits), "histogram": _claim_histogram(waits)},
        "first_response": _durations(responses),
        "resolution": _durations([h["resolved_at"] - h["queued_at"] for h in resolved]),
        "csat": _scores([int(r["score"]) for r in part.ratings]),
        "ces": _scores([int(r["ces"]) for r in part.ratings if r["ces"] is not None]),
        "first_contact_resolution": {
            "window_hours": window_hours,
            **_first_contact(resolved, returns, window_hours * 3600, now),
        },
        "articles": sorted(
            (
                {"article_id": article, "helpful": yes, "not_helpful": no, "helpful_rate": _rate(yes, yes + no)}
                for article, (yes, no) in articles.items()
            ),
            key=lambda a: (-a["not_helpful"], -(a["helpful"] + a["not_helpful"]), a["article_id"]),
        ),
        "unanswered_questions": len(part.unanswered),
    }


def daily_row(day: date, f: dict[str, Any]) -> dict[str, Any]:
    """The flat row of one day (the CSV columns)."""
    return {
        "date": day.isoformat(),
        "opened": f["conversations"]["opened"],
        "conversations": f["conversations"]["total"],
        "contained": f["containment"]["contained"],
        "containment_rate": f["containment"]["rate"],
        "handed_off": f["handoffs"]["conversations"],
        "handoff_rate": f["handoffs"]["rate"],
        "handoffs": f["handoffs"]["total"],
        "time_to_claim_p50_s": f["time_to_claim"]["p50_seconds"],
        "time_to_claim_p90_s": f["time_to_claim"]["p90_seconds"],
        "first_response_p50_s": f["first_response"]["p50_seconds"],
        "first_response_p90_s": f["first_response"]["p90_seconds"],
        "resolution_p50_s": f["resolution"]["p50_seconds"],
        "resolution_p90_s": f["resolution"]["p90_seconds"],
        "csat_count": f["csat"]["count"],
        "csat_average": f["csat"]["average"],
        "ces_count": f["ces"]["count"],
        "ces_average": f["ces"]["average"],
        "fcr_resolved": f["first_contact_resolution"]["resolved"],
        "fcr_first_contact": f["first_contact_resolution"]["first_contact"],
        "fcr_returned": f["first_contact_resolution"]["returned"],
        "fcr_pending": f["first_contact_resolution"]["pending"],
        "fcr_rate": f["first_contact_resolution"]["rate"],
        "helpful_feedback": sum(a["helpful"] for a in f["articles"]),
        "not_helpful_feedback": sum(a["not_helpful"] for a in f["articles"]),
        "unanswered_questions": f["unanswered_questions"],
    }


#: the team of handoffs routed to none
GENERAL_QUEUE = "General queue"


def _attainment(states: Counter[str]) -> dict[str, Any]:
    met, breached = states[MET], states[BREACHED]
    return {"met": met, "breached": breached, "running": states[RUNNING], "rate": _rate(met, met + breached)}


def sla_attainment(rows: Rows, targets: SlaTargets, now: float) -> dict[str, Any]:
    """First-response SLA of the handoffs of the period's conversations: overall, per day (the
    day the conversation started, like every daily figure) and per team, teams by name."""
    overall: Counter[str] = Counter()
    daily: dict[date, Counter[str]] = {day: Counter() for day in rows.period.days()}
    teams: dict[str, Counter[str]] = defaultdict(Counter)
    for handoff in rows.handoffs:
        if not rows.in_period(handoff):
            continue
        status = sla_status(targets, handoff["priority"], handoff["queued_at"], handoff["first_response_at"], now)
        if status is None:  # no target for its priority
            continue
        overall[status.state] += 1
        daily[day_of(handoff["conversation_created_at"])][status.state] += 1
        teams[handoff["team_name"] or GENERAL_QUEUE][status.state] += 1
    return {
        "targets_seconds": {"high": targets.high, "normal": targets.normal, "low": targets.low},
        **_attainment(overall),
        "daily": [{"date": day.isoformat(), **_attainment(states)} for day, states in daily.items()],
        "by_team": [{"team": team, **_attainment(teams[team])} for team in sorted(teams)],
    }


def report(rows: Rows, window_hours: float, now: float, sla: SlaTargets | None = None) -> dict[str, Any]:
    """The whole period's figures, with one flat row per day (every day of the period, zeros
    included) and the first-response SLA's attainment (`sla`, by day and by team)."""
    days = {day: Slice([], [], [], [], []) for day in rows.period.days()}
    whole = Slice([], [], [], [], [])
    for name, key, source in (
        ("conversations", "created_at", rows.conversations),
        ("handoffs", "conversation_created_at", rows.handoffs),
        ("ratings", "conversation_created_at", rows.ratings),
        ("article_feedback", "conversation_created_at", rows.article_feedback),
        ("unanswered", "conversation_created_at", rows.unanswered),
    ):
        for row in source:
            if rows.in_period(row, key):
                getattr(whole, name).append(row)
                getattr(days[day_of(row[key])], name).append(row)
    returns = Returns(rows.handoffs)
    overall = figures(whole, returns, window_hours, now)
    daily = [daily_row(day, figures(part, returns, window_hours, now)) for day, part in days.items()]
    return {
        "period": rows.period.to_json(),
        **overall,
        "daily": daily,
        "sla": sla_attainment(rows, sla or SlaTargets(), now),
    }


# --- content gaps -----------------------------------------------------------------------------


def unanswered_questions(rows: Rows) -> list[str]:
    # retention empties the questions of old conversations (they still count in the daily figures)
    return [str(q["question"]) for q in rows.unanswered if rows.in_period(q) and q["question"]]


def gap_clusters(questions: Iterable[str], embedder: Any, top: int = 20, examples: int = 10) -> list[dict[str, Any]]:
    """Cluster the questions by meaning (knowledge_base.gaps), most frequent first (blocking: the
    embedding model runs here; call it in a thread)."""
    from knowledge_base.gaps import cluster_questions

    clusters = cluster_questions(list(questions), embedder)
    return [{"size": c.size, "example": c.example, "questions": c.questions[:examples]} for c in clusters[:top]]


class GapClusterer:
    """Loads the embedding model on the first request for gaps (slow), then reuses it."""

    def __init__(self, embedder: Any = None) -> None:
        self.embedder = embedder
        self._lock = asyncio.Lock()

    async def clusters(self, questions: list[str]) -> list[dict[str, Any]]:
        if not questions:
            return []
        async with self._lock:
            if self.embedder is None:
                from knowledge_base.embedding import Embedder
                from knowledge_base.settings import KBSettings

                settings = KBSettings.from_env()
                self.embedder = await asyncio.to_thread(Embedder, settings.model_path)
            return await asyncio.to_thread(gap_clusters, questions, self.embedder)
