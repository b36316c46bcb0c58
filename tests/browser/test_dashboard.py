"""The metrics dashboard in Debian's Chromium against the real stack, with the seeded data set of
tests/unit/test_metrics.py; and the widget's optional CES question."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, expect

from handoff.store import Store, schema
from tests.browser.conftest import add_agent
from tests.unit.test_metrics import INJECTION, seed

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
AGENT_EMAIL, AGENT_PASSWORD = "dashboard-agent@kestrel.example", "dashboard-test-password"
PERIOD = "from=2026-03-01&to=2026-03-03"
R = TypeVar("R")


def in_store(stack, work: Callable[[Store], Awaitable[R]]) -> R:
    """Run `work` on the stack's own database, from a thread of its own (Playwright owns this one)."""

    async def run() -> R:
        store = await Store.open(stack.env()["DATABASE_URL"])
        try:
            return await work(store)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def create_agent(stack) -> None:
    add_agent(stack, AGENT_EMAIL, "Sasha", AGENT_PASSWORD, role="admin")


def watch_errors(page: Page, console: bool = True) -> list[str]:
    """Script errors and dialogs; with `console`, console errors too (CSP violations, failed loads)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    if console:
        page.on(
            "console", lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None
        )
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return errors


def test_dashboard_shows_the_seeded_period(stack, browser: Browser) -> None:
    create_agent(stack)
    in_store(stack, seed)
    page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    errors = watch_errors(page)

    page.goto(f"{stack.hub_url}/dashboard?{PERIOD}")  # not signed in: the inbox's sign-in
    assert page.url == f"{stack.hub_url}/inbox"
    page.get_by_test_id("inbox-email").fill(AGENT_EMAIL)
    page.get_by_test_id("inbox-password").fill(AGENT_PASSWORD)
    page.get_by_test_id("inbox-signin").click()
    expect(page.get_by_test_id("inbox-agent-name")).to_have_text("Sasha")
    errors.clear()  # the inbox's own signed-out probe (401) is not this test's business

    page.get_by_test_id("inbox-dashboard-link").click()  # shown to admins
    page.wait_for_url(re.compile(r"/dashboard$"))
    page.get_by_test_id("dashboard-from").fill("2026-03-01")
    page.get_by_test_id("dashboard-to").fill("2026-03-03")
    page.get_by_test_id("dashboard-apply").click()
    page.wait_for_url(re.compile(r"/dashboard\?from=2026-03-01&to=2026-03-03$"))
    for chart, bars in (
        ("chart-conversations", 6),
        ("chart-handoff-reasons", 5),
        ("chart-csat", 4),
        ("chart-time-to-claim", 3),
    ):
        svg = page.get_by_test_id(chart)
        expect(svg).to_be_visible()
        expect(svg.locator("rect.bar")).to_have_count(bars)
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 50, (chart, box)
    expect(page.get_by_test_id("kpi-conversations")).to_contain_text("9")
    expect(page.get_by_test_id("kpi-containment")).to_contain_text("33.3 %")
    expect(page.get_by_test_id("kpi-csat")).to_contain_text("3.80 / 5")
    expect(page.get_by_test_id("kpi-fcr")).to_contain_text("50.0 %")
    expect(page.get_by_test_id("table-articles").locator("tbody tr")).to_have_count(3)
    csv_text = page.evaluate(
        "async (href) => (await fetch(href)).text()", page.get_by_test_id("dashboard-csv").get_attribute("href")
    )
    assert csv_text.startswith("date,opened,conversations,") and "\r\n2026-03-03," in csv_text

    page.get_by_test_id("gaps-link").click()  # the hub loads the embedding model now
    gaps = page.get_by_test_id("table-gaps")
    expect(gaps).to_be_visible(timeout=120_000)
    expect(gaps).to_contain_text(INJECTION)  # shown as text, never run
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0

    page.goto(f"{stack.hub_url}/dashboard?from=2026-03-05&to=2026-03-01")
    expect(page.get_by_test_id("dashboard-error")).to_contain_text("'from' is after 'to'")
    errors = [e for e in errors if "400 (Bad Request)" not in e]  # the bad-date page's own status
    assert errors == []


def test_widget_asks_for_effort_when_the_hub_says_so(stack, browser: Browser) -> None:
    stack.stop_hub()
    stack.restart_hub({"HUB_ASK_CES": "true"})
    try:
        page = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
        errors = watch_errors(page, console=False)  # the demo site has no favicon: a console 404
        page.goto(f"{stack.hub_url}/")
        page.get_by_test_id("kestrel-launcher").click()
        expect(page.get_by_test_id("kestrel-panel")).to_be_visible()
        page.wait_for_function("() => !!window.KestrelSupport.state().conversation_id")
        conversation_id = page.evaluate("window.KestrelSupport.state().conversation_id")

        async def handed_off_and_resolved(store: Store) -> None:
            agent = await store.agent_by_email(AGENT_EMAIL)
            assert agent is not None
            assert await store.enqueue_handoff(conversation_id, "customer_request", "normal", "h", "s", {})
            await store.claim(conversation_id, agent.id)
            await store.resolve(conversation_id, agent.id)

        create_agent(stack)
        in_store(stack, handed_off_and_resolved)
        page.reload()  # the hub tells the widget the state on reconnecting
        if not page.get_by_test_id("kestrel-panel").is_visible():
            page.get_by_test_id("kestrel-launcher").click()
        expect(page.get_by_test_id("kestrel-ces")).to_be_visible(timeout=30_000)
        page.get_by_test_id("kestrel-rating-4").click()
        page.get_by_test_id("kestrel-ces-5").click()
        expect(page.get_by_test_id("kestrel-ces-5")).to_have_attribute("aria-pressed", "true")
        page.get_by_test_id("kestrel-rating-send").click()
        expect(page.get_by_test_id("kestrel-rating-thanks")).to_be_visible()

        async def stored(store: Store) -> list[Any]:
            async with store.read() as conn:
                return [
                    tuple(r)
                    for r in (
                        await conn.execute(
                            sa.select(schema.ratings.c.score, schema.ratings.c.ces).where(
                                schema.ratings.c.conversation_id == conversation_id
                            )
                        )
                    ).all()
                ]

        for _ in range(50):
            if in_store(stack, stored):
                break
            page.wait_for_timeout(100)
        assert in_store(stack, stored) == [(4, 5)]
        assert errors == []
    finally:
        stack.stop_hub()
        stack.restart_hub()
