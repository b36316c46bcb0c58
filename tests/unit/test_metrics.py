"""CX metrics (issue 7): a known set of conversations on real SQLite and the real PostgreSQL, and
every figure checked exactly; the API's auth, dates and CSV; the dashboard; Prometheus /metrics;
the optional CES answer in the rating frame; migration 3."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, make_mocked_request

from handoff.app import create_app
from handoff.app_keys import RELAY, SETTINGS, STORE
from handoff.auth import hash_password
from handoff.metrics import figures as metrics
from handoff.metrics.api import GAPS
from handoff.metrics.prometheus import scrape_allowed
from handoff.ownership import State
from handoff.store import Store, migrate, schema
from tests.unit.db_fixtures import database_url, store
from tests.unit.hub_fixtures import (
    AGENT_PASSWORD,
    hub,
    hub_settings,
    receive_until,
    sign_in,
    start_conversation,
)

T = schema
D1 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
D2, D3, D4 = D1 + 86400, D1 + 2 * 86400, D1 + 3 * 86400
PERIOD = metrics.Period(date(2026, 3, 1), date(2026, 3, 3))
LATER = D4 + 30 * 86400  # "now" for the figures: every first-contact window has closed
WINDOW = 72.0
INJECTION = '<img src=x onerror="window.__pwned=1"> can I pay rent with my card'


# --- the seeded data set ----------------------------------------------------------------------


async def _update(db: Store, table: sa.Table, row_id: Any, **values: Any) -> None:
    async with db.write() as conn:
        await conn.execute(table.update().where(table.c.id == row_id).values(**values))


async def _conversation(db: Store, created_at: float, email: str | None = None, messages: int = 1) -> str:
    conversation, _ = await db.create_conversation({"email": email} if email else {})
    for i in range(messages):
        await db.append_message(conversation.id, "customer", f"message {i}")
    await _update(db, T.conversations, conversation.id, created_at=created_at, updated_at=created_at)
    return conversation.id


async def _handoff(
    db: Store,
    agent_id: int,
    conversation_id: str,
    reason: str,
    queued: float,
    claim: float | None = None,
    respond: float | None = None,
    resolve: float | None = None,
) -> None:
    """A handoff through the store's own state machine, then its exact times (seconds after queued)."""
    if (await db.get_conversation(conversation_id)).state == State.RESOLVED:
        assert await db.set_state(conversation_id, State.BOT)
    handoff = await db.enqueue_handoff(conversation_id, reason, "normal", reason, "summary", {})
    assert handoff is not None
    times: dict[str, float | None] = {
        "queued_at": queued,
        "claimed_at": None,
        "first_response_at": None,
        "resolved_at": None,
    }
    if claim is not None:
        await db.claim(conversation_id, agent_id)
        times["claimed_at"] = queued + claim
    if respond is not None:
        await db.note_agent_reply(conversation_id, agent_id)
        times["first_response_at"] = queued + claim + respond  # type: ignore[operator]
    if resolve is not None:
        await db.resolve(conversation_id, agent_id)
        times["resolved_at"] = queued + resolve
    await _update(db, T.handoffs, handoff.id, **times)


async def _rating_from_before_migration_5(db: Store, conversation_id: str, score: int, ces: int | None = None) -> None:
    """A rating of a conversation no person handled: the hub refuses those now (one rating per
    resolved handoff), but databases from before migration 5 hold them and the figures count them."""
    async with db.write() as conn:
        await conn.execute(
            T.ratings.insert().values(conversation_id=conversation_id, score=score, comment="", ces=ces, created_at=0.0)
        )


async def seed(db: Store) -> dict[str, str]:
    """Ten conversations from 2026-03-01 to 03-03 (UTC), and three outside that period."""
    agent = await db.create_agent("metrics-agent@kestrel.example", "Mo", hash_password(AGENT_PASSWORD))
    c: dict[str, str] = {}
    # outside, the day before: a resolved handoff of ana's
    c["c0"] = await _conversation(db, D1 - 3600, "ana@example.com")
    await _handoff(db, agent.id, c["c0"], "customer_request", D1 - 3000, claim=100, resolve=600)
    # 2026-03-01
    c["c1"] = await _conversation(db, D1 + 100, messages=2)  # answered, helpful: contained
    await db.add_kb_query(c["c1"], "when does my card arrive", "answer", "card-delivery", 0.91)
    await db.add_article_feedback(c["c1"], "card-delivery", True)
    c["c2"] = await _conversation(db, D1 + 200)  # last feedback "not helpful": not contained
    await db.add_kb_query(c["c2"], "is there a weekend fee for exchanging money", "answer", "exchange-rates", 0.7)
    await db.add_article_feedback(c["c2"], "exchange-rates", True)
    await db.add_article_feedback(c["c2"], "exchange-rates", False)
    c["c3"] = await _conversation(db, D1 + 300, messages=0)  # opened, never written in
    c["c4"] = await _conversation(db, D1 + 900, "ana@example.com")
    await _handoff(db, agent.id, c["c4"], "customer_request", D1 + 1000, claim=60, respond=90, resolve=600)
    await db.add_rating(c["c4"], 5, "great", 4)
    c["c5"] = await _conversation(db, D1 + 1900, "Ben@Example.com")
    await db.add_kb_query(c["c5"], "can I buy bitcoin in the app", "none", None, 0.2)
    await _handoff(db, agent.id, c["c5"], "low_confidence", D1 + 2000, claim=120, respond=30, resolve=1200)
    await db.add_rating(c["c5"], 4, "")
    # 2026-03-02
    c["c6"] = await _conversation(db, D2 + 400, "ben@example.com")  # ben is back within 72 h
    await _handoff(db, agent.id, c["c6"], "customer_request", D2 + 500, claim=300, resolve=900)
    await db.add_rating(c["c6"], 2, "slow", 1)
    c["c7"] = await _conversation(db, D2 + 900, messages=3)  # resolved, then back in the same conversation
    await _handoff(db, agent.id, c["c7"], "sensitive_topic", D2 + 1000, claim=30, respond=15, resolve=300)
    await db.add_rating(c["c7"], 3, "")
    await _handoff(db, agent.id, c["c7"], "frustration", D2 + 1300 + 3600, claim=600)
    c["c8"] = await _conversation(db, D2 + 5000)  # no handoff, no feedback: contained
    await db.add_kb_query(c["c8"], "buying bitcoin in the app", "none", None, 0.1)
    await db.add_kb_query(c["c8"], "can I pay my council tax", "none", None, 0.3)
    await db.add_kb_query(c["c8"], "my card", "suggest", "card-delivery", 0.5)
    # 2026-03-03
    c["c9"] = await _conversation(db, D3 + 50, "dan@example.com")  # still waiting in the queue
    await db.add_kb_query(c["c9"], INJECTION, "none", None, 0.05)
    await _handoff(db, agent.id, c["c9"], "complaint", D3 + 100)
    c["c10"] = await _conversation(db, D3 + 80000)  # "not helpful", then helpful: contained
    await db.add_kb_query(c["c10"], "how do I top up by bank transfer", "answer", "top-up-by-bank-transfer", 0.8)
    await db.add_article_feedback(c["c10"], "top-up-by-bank-transfer", False)
    await db.add_article_feedback(c["c10"], "card-delivery", True)
    await _rating_from_before_migration_5(db, c["c10"], 5, 5)
    # outside, after: the first instant of 03-04, and ana back just after her 72 h window
    c["c11"] = await _conversation(db, D4)
    await db.add_kb_query(c["c11"], "do you have a metal card", "none", None, 0.1)
    await _rating_from_before_migration_5(db, c["c11"], 1)
    c["c12"] = await _conversation(db, D4 + 20, "ana@example.com")
    await _handoff(db, agent.id, c["c12"], "customer_request", D1 + 1600 + 72 * 3600 + 1)
    return c


def _histogram(*counts: int) -> list[dict[str, Any]]:
    uppers = [60, 300, 900, 3600, 14400, None]
    return [
        {"label": label, "upper_seconds": upper, "count": n}
        for (label, _), upper, n in zip(metrics.CLAIM_BUCKETS, uppers, counts, strict=False)
    ]


def _fcr(resolved: int, first: int, returned: int, pending: int, rate: float | None) -> dict[str, Any]:
    return {
        "window_hours": WINDOW,
        "resolved": resolved,
        "first_contact": first,
        "returned": returned,
        "pending": pending,
        "rate": rate,
    }


EXPECTED = {
    "period": {"from": "2026-03-01", "to": "2026-03-03", "days": 3, "timezone": "UTC"},
    "conversations": {"opened": 10, "total": 9},
    "containment": {"contained": 3, "rate": 0.3333},
    "handoffs": {
        "conversations": 5,
        "rate": 0.5556,
        "total": 6,
        "by_reason": [
            {"reason": "customer_request", "conversations": 2, "handoffs": 2, "rate": 0.2222},
            {"reason": "complaint", "conversations": 1, "handoffs": 1, "rate": 0.1111},
            {"reason": "frustration", "conversations": 1, "handoffs": 1, "rate": 0.1111},
            {"reason": "low_confidence", "conversations": 1, "handoffs": 1, "rate": 0.1111},
            {"reason": "sensitive_topic", "conversations": 1, "handoffs": 1, "rate": 0.1111},
        ],
    },
    "time_to_claim": {
        "count": 5,
        "p50_seconds": 120.0,
        "p90_seconds": 480.0,
        "histogram": _histogram(1, 2, 2, 0, 0, 0),
    },
    "first_response": {"count": 3, "p50_seconds": 30.0, "p90_seconds": 78.0},
    "resolution": {"count": 4, "p50_seconds": 750.0, "p90_seconds": 1110.0},
    "csat": {"count": 5, "average": 3.8, "distribution": {"1": 0, "2": 1, "3": 1, "4": 1, "5": 2}},
    "ces": {"count": 3, "average": 3.333, "distribution": {"1": 1, "2": 0, "3": 0, "4": 1, "5": 1}},
    "first_contact_resolution": _fcr(4, 2, 2, 0, 0.5),
    "articles": [
        {"article_id": "exchange-rates", "helpful": 1, "not_helpful": 1, "helpful_rate": 0.5},
        {"article_id": "top-up-by-bank-transfer", "helpful": 0, "not_helpful": 1, "helpful_rate": 0.0},
        {"article_id": "card-delivery", "helpful": 2, "not_helpful": 0, "helpful_rate": 1.0},
    ],
    "unanswered_questions": 6,
    "daily": [
        {
            "date": "2026-03-01",
            "opened": 5,
            "conversations": 4,
            "contained": 1,
            "containment_rate": 0.25,
            "handed_off": 2,
            "handoff_rate": 0.5,
            "handoffs": 2,
            "time_to_claim_p50_s": 90.0,
            "time_to_claim_p90_s": 114.0,
            "first_response_p50_s": 60.0,
            "first_response_p90_s": 84.0,
            "resolution_p50_s": 900.0,
            "resolution_p90_s": 1140.0,
            "csat_count": 2,
            "csat_average": 4.5,
            "ces_count": 1,
            "ces_average": 4.0,
            "fcr_resolved": 2,
            "fcr_first_contact": 1,
            "fcr_returned": 1,
            "fcr_pending": 0,
            "fcr_rate": 0.5,
            "helpful_feedback": 2,
            "not_helpful_feedback": 1,
            "unanswered_questions": 2,
        },
        {
            "date": "2026-03-02",
            "opened": 3,
            "conversations": 3,
            "contained": 1,
            "containment_rate": 0.3333,
            "handed_off": 2,
            "handoff_rate": 0.6667,
            "handoffs": 3,
            "time_to_claim_p50_s": 300.0,
            "time_to_claim_p90_s": 540.0,
            "first_response_p50_s": 15.0,
            "first_response_p90_s": 15.0,
            "resolution_p50_s": 600.0,
            "resolution_p90_s": 840.0,
            "csat_count": 2,
            "csat_average": 2.5,
            "ces_count": 1,
            "ces_average": 1.0,
            "fcr_resolved": 2,
            "fcr_first_contact": 1,
            "fcr_returned": 1,
            "fcr_pending": 0,
            "fcr_rate": 0.5,
            "helpful_feedback": 0,
            "not_helpful_feedback": 0,
            "unanswered_questions": 2,
        },
        {
            "date": "2026-03-03",
            "opened": 2,
            "conversations": 2,
            "contained": 1,
            "containment_rate": 0.5,
            "handed_off": 1,
            "handoff_rate": 0.5,
            "handoffs": 1,
            "time_to_claim_p50_s": None,
            "time_to_claim_p90_s": None,
            "first_response_p50_s": None,
            "first_response_p90_s": None,
            "resolution_p50_s": None,
            "resolution_p90_s": None,
            "csat_count": 1,
            "csat_average": 5.0,
            "ces_count": 1,
            "ces_average": 5.0,
            "fcr_resolved": 0,
            "fcr_first_contact": 0,
            "fcr_returned": 0,
            "fcr_pending": 0,
            "fcr_rate": None,
            "helpful_feedback": 1,
            "not_helpful_feedback": 1,
            "unanswered_questions": 2,
        },
    ],
}

# First-response SLA with the default targets (all normal priority: 30 min): c4, c5 and c7's first
# handoff replied within it; c6 (resolved without a reply), c7's second and c9 (still queued) did not.
EXPECTED["sla"] = {
    "targets_seconds": {"high": 300.0, "normal": 1800.0, "low": 14400.0},
    "met": 3,
    "breached": 3,
    "running": 0,
    "rate": 0.5,
    "daily": [
        {"date": "2026-03-01", "met": 2, "breached": 0, "running": 0, "rate": 1.0},
        {"date": "2026-03-02", "met": 1, "breached": 2, "running": 0, "rate": 0.3333},
        {"date": "2026-03-03", "met": 0, "breached": 1, "running": 0, "rate": 0.0},
    ],
    "by_team": [{"team": "General queue", "met": 3, "breached": 3, "running": 0, "rate": 0.5}],
}

CSV_ROWS = [
    (
        "date,opened,conversations,contained,containment_rate,handed_off,handoff_rate,handoffs,"
        "time_to_claim_p50_s,time_to_claim_p90_s,first_response_p50_s,first_response_p90_s,resolution_p50_s,"
        "resolution_p90_s,csat_count,csat_average,ces_count,ces_average,fcr_resolved,fcr_first_contact,fcr_returned,"
        "fcr_pending,fcr_rate,helpful_feedback,not_helpful_feedback,unanswered_questions"
    ),
    "2026-03-01,5,4,1,0.25,2,0.5,2,90.0,114.0,60.0,84.0,900.0,1140.0,2,4.5,1,4.0,2,1,1,0,0.5,2,1,2",
    "2026-03-02,3,3,1,0.3333,2,0.6667,3,300.0,540.0,15.0,15.0,600.0,840.0,2,2.5,1,1.0,2,1,1,0,0.5,0,0,2",
    "2026-03-03,2,2,1,0.5,1,0.5,1,,,,,,,1,5.0,1,5.0,0,0,0,0,,1,1,2",
]


# --- the figures, on SQLite and PostgreSQL ------------------------------------------------------


async def test_every_figure_of_the_seeded_period(store: Store) -> None:
    await seed(store)
    rows = await metrics.load(store, PERIOD, LATER)
    assert metrics.report(rows, WINDOW, LATER) == EXPECTED
    assert sorted(metrics.unanswered_questions(rows)) == sorted(
        [
            "is there a weekend fee for exchanging money",
            "can I buy bitcoin in the app",
            "buying bitcoin in the app",
            "can I pay my council tax",
            INJECTION,
            "how do I top up by bank transfer",
        ]
    )


async def test_first_contact_is_pending_until_the_window_closes(store: Store) -> None:
    await seed(store)
    rows = await metrics.load(store, PERIOD, LATER)
    ana_window_closes = D1 + 1600 + WINDOW * 3600  # c4's handoff: resolved at D1 + 1600, nobody came back
    before = metrics.report(rows, WINDOW, ana_window_closes - 1)["first_contact_resolution"]
    assert before == _fcr(4, 0, 2, 2, 0.0)  # ana and ben's second handoff still inside their windows
    at_close = metrics.report(rows, WINDOW, ana_window_closes)["first_contact_resolution"]
    assert at_close == _fcr(4, 1, 2, 1, 0.3333)
    # a shorter window: ben's return (c6, 23.6 h after c5) and c7's (1 h) still count; a 0.5 h window misses both
    assert metrics.report(rows, 24.0, LATER)["first_contact_resolution"] == {
        **_fcr(4, 2, 2, 0, 0.5),
        "window_hours": 24.0,
    }
    assert metrics.report(rows, 0.5, LATER)["first_contact_resolution"] == {
        **_fcr(4, 4, 0, 0, 1.0),
        "window_hours": 0.5,
    }


async def test_a_single_day_and_an_empty_period(store: Store) -> None:
    await seed(store)
    day = metrics.Period(date(2026, 3, 2), date(2026, 3, 2))
    report = metrics.report(await metrics.load(store, day, LATER), WINDOW, LATER)
    assert report["daily"] == [EXPECTED["daily"][1]]  # type: ignore[index]
    assert report["conversations"] == {"opened": 3, "total": 3}
    assert [r["reason"] for r in report["handoffs"]["by_reason"]] == [
        "customer_request",
        "frustration",
        "sensitive_topic",
    ]
    empty = metrics.report(
        await metrics.load(store, metrics.Period(date(2026, 1, 1), date(2026, 1, 2)), LATER), WINDOW, LATER
    )
    assert empty["conversations"] == {"opened": 0, "total": 0}
    assert empty["containment"] == {"contained": 0, "rate": None}
    assert empty["csat"] == {"count": 0, "average": None, "distribution": {str(n): 0 for n in range(1, 6)}}
    assert [d["date"] for d in empty["daily"]] == ["2026-01-01", "2026-01-02"]


async def test_migration_3_adds_ces_to_an_older_database(database_url: str) -> None:
    opened = await Store.open(database_url)
    async with opened.write() as conn:  # make it look like a database from before migration 3
        await conn.execute(sa.text("ALTER TABLE ratings DROP COLUMN ces"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0002'"))
    conversation, _ = await opened.create_conversation({})
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        await _rating_from_before_migration_5(upgraded, conversation.id, 4, 2)
        async with upgraded.read() as conn:
            assert (await conn.execute(sa.select(T.ratings.c.score, T.ratings.c.ces))).all() == [(4, 2)]
            assert await conn.run_sync(migrate.current_revision) == migrate.head()
    finally:
        await upgraded.close()


# --- pure pieces ----------------------------------------------------------------------------------


def test_periods_and_bad_dates() -> None:
    today = date(2026, 11, 23)
    assert metrics.parse_period(None, None, today) == metrics.Period(date(2026, 10, 25), today)
    assert metrics.parse_period("2026-11-01", "", today) == metrics.Period(date(2026, 11, 1), today)
    assert metrics.parse_period("", "2026-02-10", today) == metrics.Period(date(2026, 1, 12), date(2026, 2, 10))
    assert (
        metrics.parse_period("2026-03-01", "2026-03-01", today).end
        - metrics.Period(date(2026, 3, 1), date(2026, 3, 1)).start
        == 86400
    )
    for raw_from, raw_to, message in [
        ("2026-13-01", None, "not a real calendar date"),
        ("01/03/2026", None, "YYYY-MM-DD"),
        ("20260301", None, "YYYY-MM-DD"),
        (None, "yesterday", "'to' must be a date"),
        ("2026-03-05", "2026-03-01", "after 'to'"),
        ("2024-01-01", "2026-01-01", "longer than 366 days"),
        ("9999-12-31", "9999-12-31", "too far in the future"),
    ]:
        with pytest.raises(metrics.BadPeriod, match=message):
            metrics.parse_period(raw_from, raw_to, today)


def test_percentiles_interpolate_between_ranks() -> None:
    assert metrics.percentile([], 0.5) is None
    assert metrics.percentile([7.0], 0.9) == 7.0
    assert metrics.percentile([40, 10, 30, 20], 0.5) == 25
    assert round(metrics.percentile([10, 20, 30, 40], 0.9), 6) == 37.0  # type: ignore[arg-type]


# --- the HTTP API ---------------------------------------------------------------------------------


@pytest.fixture
async def seeded_hub(aiohttp_client: Any, tmp_path: Path, database_url: str) -> TestClient:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, database_url=database_url)))
    await seed(client.app[STORE])
    await client.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    return client


async def test_metrics_api_needs_a_session(hub: TestClient) -> None:
    for path in ("/api/metrics", "/api/metrics.csv", "/api/metrics/gaps", "/api/metrics?from=2026-03-01"):
        response = await hub.get(path)
        assert response.status == 401, path
        assert (await response.json())["error"]["code"] == "unauthorized"
    dashboard = await hub.get("/dashboard", allow_redirects=False)
    assert dashboard.status == 302 and dashboard.headers["Location"] == "/inbox"


async def test_bad_dates_get_a_clear_400(hub: TestClient) -> None:
    await sign_in(hub)
    for query, message in [
        ("from=2026-02-30", "not a real calendar date"),
        ("to=03/01/2026", "YYYY-MM-DD"),
        ("from=2026-03-05&to=2026-03-01", "after 'to'"),
    ]:
        for path in ("/api/metrics", "/api/metrics.csv", "/api/metrics/gaps"):
            response = await hub.get(f"{path}?{query}")
            assert response.status == 400, (path, query)
            error = (await response.json())["error"]
            assert error["code"] == "bad_date" and message in error["message"]
    page = await hub.get("/dashboard?from=nonsense&to=%3Cb%3E")
    assert page.status == 400
    text = await page.text()
    assert "must be a date written YYYY-MM-DD" in text and "&lt;b&gt;" in text and "<b>" not in text


async def test_metrics_json_and_csv_of_the_seeded_period(seeded_hub: TestClient) -> None:
    await sign_in(seeded_hub)
    response = await seeded_hub.get("/api/metrics?from=2026-03-01&to=2026-03-03")
    assert response.status == 200
    assert await response.json() == EXPECTED
    exported = await seeded_hub.get("/api/metrics.csv?from=2026-03-01&to=2026-03-03")
    assert exported.status == 200 and exported.content_type == "text/csv"
    assert (
        exported.headers["Content-Disposition"] == 'attachment; filename="kestrel-metrics-2026-03-01-to-2026-03-03.csv"'
    )
    text = await exported.text()
    assert text.split("\r\n") == [*CSV_ROWS, ""]
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [row["date"] for row in parsed] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert list(parsed[0]) == metrics.DAILY_COLUMNS
    # without dates: the last 30 days, which hold none of the seeded conversations
    recent = await (await seeded_hub.get("/api/metrics")).json()
    assert recent["period"]["days"] == 30 and recent["conversations"] == {"opened": 0, "total": 0}
    assert "gaps" not in recent


async def test_content_gaps_cluster_the_unanswered_questions(hub: TestClient, embedder) -> None:
    await seed(hub.app[STORE])
    hub.app[GAPS].embedder = embedder
    await sign_in(hub)
    gaps = await (await hub.get("/api/metrics/gaps?from=2026-03-01&to=2026-03-03")).json()
    assert gaps["unanswered_questions"] == 6
    assert [g["size"] for g in gaps["gaps"]] == [2, 1, 1, 1, 1]
    assert sorted(gaps["gaps"][0]["questions"]) == ["buying bitcoin in the app", "can I buy bitcoin in the app"]
    assert INJECTION in [g["example"] for g in gaps["gaps"]]
    with_gaps = await (await hub.get("/api/metrics?from=2026-03-01&to=2026-03-03&gaps=1")).json()
    assert with_gaps["gaps"] == gaps["gaps"]


async def test_dashboard_renders_charts_tables_and_escapes_questions(hub: TestClient, embedder) -> None:
    await seed(hub.app[STORE])
    hub.app[GAPS].embedder = embedder
    await sign_in(hub)
    response = await hub.get("/dashboard?from=2026-03-01&to=2026-03-03")
    assert response.status == 200 and response.content_type == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    for chart in ("chart-conversations", "chart-handoff-reasons", "chart-csat", "chart-time-to-claim", "chart-sla"):
        assert f'<svg class="chart" data-testid="{chart}"' in page
    assert "<script" not in page.lower()
    assert 'href="/api/metrics.csv?from=2026-03-01&amp;to=2026-03-03"' in page
    tiles = dict(
        re.findall(
            r'data-testid="(kpi-[a-z-]+)"><p class="tile__label">[^<]*</p><p class="tile__value">([^<]*)</p>', page
        )
    )
    assert tiles == {
        "kpi-conversations": "9",
        "kpi-containment": "33.3 %",
        "kpi-handoff-rate": "55.6 %",
        "kpi-time-to-claim": "p50 2 min",
        "kpi-first-response": "p50 30 s",
        "kpi-resolution": "p50 12 min 30 s",
        "kpi-csat": "3.80 / 5",
        "kpi-ces": "3.33 / 5",
        "kpi-fcr": "50.0 %",
        "kpi-sla": "50.0 %",
    }
    assert (
        page.count('<rect class="bar"') == 6 + 5 + 4 + 3 + 4
    )  # stacked days (2 parts each), reasons, CSAT scores, claim buckets, SLA days (met 2/1/0, breached 0/2/1)
    assert '<a href="/help/exchange-rates">exchange-rates</a></td><td class="num">1</td><td class="num">1</td>' in page
    assert "6 questions found no answer" in page and 'data-testid="gaps-link"' in page
    clustered = await (await hub.get("/dashboard?from=2026-03-01&to=2026-03-03&gaps=1")).text()
    assert 'data-testid="table-gaps"' in clustered
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt; can I pay rent" in clustered
    assert "<img" not in clustered


# --- Prometheus -----------------------------------------------------------------------------------


async def test_prometheus_metrics(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    await ws.send_json({"type": "message", "client_id": "m1", "text": "hello?"})  # Rasa is down: bot_unavailable
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await ws.close()
    await hub.app[RELAY].drain()
    await hub.get("/health")
    response = await hub.get("/metrics")
    assert response.status == 200 and response.content_type == "text/plain"
    text = await response.text()
    for line in [
        'supportbot_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}',
        'supportbot_http_requests_total{method="POST",route="/api/conversations",status="201"} 1.0',
        "supportbot_queue_length 1.0",
        'supportbot_active_conversations{state="queued"} 1.0',
        'supportbot_handoffs_total{reason="bot_unavailable"} 1.0',
        'supportbot_handoffs_total{reason="customer_request"} 0.0',
        'supportbot_rasa_errors_total{code="rasa_unreachable"} 1.0',
        'supportbot_rasa_errors_total{code="rasa_timeout"} 0.0',
        "supportbot_agents_online 0.0",
        "supportbot_customer_connections 0.0",
        f'supportbot_rasa_turns_in_flight{{rasa="{hub.app[SETTINGS].rasa_urls[0]}"}} 0.0',
        f'supportbot_rasa_turns_waiting{{rasa="{hub.app[SETTINGS].rasa_urls[0]}"}} 0.0',
    ]:
        assert line in text, line
    assert 'route="/ws"' not in text  # WebSocket sessions are not request latencies
    for address, allowed in [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.8", False),
        ("203.0.113.9", False),
        ("", False),
    ]:
        request = make_mocked_request(
            "GET",
            "/metrics",
            app=hub.app,
            transport=SimpleNamespace(get_extra_info=lambda _name, a=address: (a, 1) if a else None),
        )
        assert scrape_allowed(request) is allowed, address
    proxied = await hub.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status == 403 and "HUB_METRICS_PUBLIC" in (await proxied.json())["error"]["message"]


async def test_metrics_can_be_made_public(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, metrics_public=True)))
    response = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status == 200 and "supportbot_queue_length 0.0" in await response.text()


# --- the optional CES question ----------------------------------------------------------------------


async def test_rating_frame_takes_an_optional_effort_score(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, ask_ces=True)))
    conversation = await start_conversation(client)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    ready = (await receive_until(ws, lambda f: f["type"] == "ready"))[-1]
    assert ready["ask_ces"] is True
    await receive_until(ws, lambda f: f["type"] == "state")
    db = client.app[STORE]
    agent = await db.create_agent("mo@kestrel.example", "Mo", hash_password(AGENT_PASSWORD))
    await _handoff(db, agent.id, conversation["conversation_id"], "customer_request", 0.0, claim=1, resolve=2)
    for bad in (0, 6, "4", True, 2.5):
        await ws.send_json({"type": "rating", "score": 4, "ces": bad})
        error = await ws.receive_json()
        assert error["code"] == "malformed" and "effort score" in error["message"]
    await ws.send_json({"type": "rating", "score": 4, "comment": "ok", "ces": 5})
    assert await ws.receive_json() == {"type": "rating_saved", "score": 4, "ces": 5}
    await _handoff(db, agent.id, conversation["conversation_id"], "customer_request", 10.0, claim=1, resolve=2)
    await ws.send_json({"type": "rating", "score": 2, "ces": None})
    assert await ws.receive_json() == {"type": "rating_saved", "score": 2}
    await ws.close()
    async with client.app[STORE].read() as conn:
        rows = (await conn.execute(sa.select(T.ratings.c.score, T.ratings.c.ces).order_by(T.ratings.c.id))).all()
    assert [tuple(r) for r in rows] == [(4, 5), (2, None)]


async def test_ready_frame_says_nothing_of_ces_by_default(hub: TestClient) -> None:
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"]})
    ready = (await receive_until(ws, lambda f: f["type"] == "ready"))[-1]
    assert "ask_ces" not in ready
    await ws.close()
