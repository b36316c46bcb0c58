"""A customer page and an agent page side by side in Debian's Chromium, against the real stack."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import add_agent

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]

AGENT_EMAIL, AGENT_PASSWORD = "browser-agent@kestrel.example", "browser-test-password"
INJECTIONS = [
    '<img src=x onerror="window.__pwned=1">',
    '<svg onload="window.__pwned=2"></svg>',
    "[click me](javascript:window.__pwned=3)",
]


def create_agent(stack) -> None:
    add_agent(stack, AGENT_EMAIL, "Robin", AGENT_PASSWORD)


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    return errors


def customer_says(page: Page, text: str) -> None:
    page.get_by_test_id("kestrel-input").fill(text)
    page.get_by_test_id("kestrel-send").click()


def last_bot_text(page: Page) -> str:
    return page.locator('[data-testid="kestrel-message"][data-sender="bot"]').last.inner_text()


def test_customer_and_agent_side_by_side(stack, browser: Browser) -> None:
    create_agent(stack)
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    customer_errors, agent_errors = watch_errors(customer), watch_errors(agent)

    agent.goto(f"{stack.hub_url}/inbox")
    agent.get_by_test_id("inbox-email").fill(AGENT_EMAIL)
    agent.get_by_test_id("inbox-password").fill("wrong password")
    agent.get_by_test_id("inbox-signin").click()
    expect(agent.get_by_test_id("inbox-signin-error")).to_be_visible()
    agent.get_by_test_id("inbox-password").fill(AGENT_PASSWORD)
    agent.get_by_test_id("inbox-signin").click()
    expect(agent.get_by_test_id("inbox-agent-name")).to_have_text("Robin")
    expect(agent.get_by_test_id("inbox-dashboard-link")).to_be_hidden()  # metrics are for admins

    customer.goto(f"{stack.hub_url}/")
    customer.get_by_test_id("kestrel-launcher").click()
    expect(customer.get_by_test_id("kestrel-panel")).to_be_visible()
    customer_says(customer, "How long does it take for a new card to be delivered?")
    source = customer.get_by_test_id("kestrel-source").first
    expect(source).to_be_visible(timeout=60_000)
    assert re.match(r"^http://127\.0\.0\.1:\d+/help/[a-z0-9-]+", source.get_attribute("href") or "")

    customer_says(customer, "I want to talk to a person")
    expect(customer.locator('[data-testid="kestrel-message"][data-sender="bot"]').last).to_contain_text(
        "name", timeout=60_000
    )
    customer_says(customer, "Robin Customer")
    expect(customer.locator('[data-testid="kestrel-message"][data-sender="bot"]').last).to_contain_text(
        "email", timeout=60_000
    )
    customer_says(customer, "robin.customer@example.com")
    customer.get_by_test_id("kestrel-quick-reply").filter(has_text="Transfers").click(timeout=60_000)
    expect(customer.locator('[data-testid="kestrel-message"][data-sender="bot"]').last).to_contain_text(
        "TX-", timeout=60_000
    )
    customer_says(customer, "TX-12345678")
    expect(customer.get_by_test_id("kestrel-status")).to_contain_text("queue", timeout=60_000)

    conversation_id = customer.evaluate("window.KestrelSupport.state().conversation_id")
    card = agent.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]')
    expect(card).to_be_visible(timeout=30_000)
    card.click()
    expect(agent.get_by_test_id("inbox-summary")).to_contain_text("Customer asked for a person")
    expect(agent.get_by_test_id("inbox-details")).to_contain_text("TX-12345678")
    # Times are Unix seconds on the wire: read as milliseconds they all showed "Jan 21" (1970).
    stamp = agent.locator('[data-testid="inbox-message"] time').first
    assert (stamp.get_attribute("datetime") or "")[:4] == time.strftime("%Y", time.gmtime())
    assert re.fullmatch(r"\d{1,2}:\d{2}( [AP]M)?", stamp.inner_text().strip()), stamp.inner_text()
    agent.get_by_test_id("inbox-claim").click()
    expect(customer.get_by_test_id("kestrel-status")).to_contain_text("Robin", timeout=30_000)

    for text in INJECTIONS:
        agent.get_by_test_id("inbox-reply").fill(text)
        agent.get_by_test_id("inbox-send").click()
        expect(customer.locator('[data-testid="kestrel-message"][data-sender="agent"]').last).to_have_text(
            re.compile(re.escape(text)), timeout=30_000
        )
        customer_says(customer, text)
        expect(agent.locator('[data-testid="inbox-message"][data-sender="customer"]').last).to_contain_text(
            text, timeout=30_000
        )
    for page in (customer, agent):
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img[src='x']").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0

    agent.get_by_test_id("inbox-resolve").click()
    customer.get_by_test_id("kestrel-rating-4").click(timeout=30_000)
    customer.get_by_test_id("kestrel-rating-comment").fill("Quick and kind")
    customer.get_by_test_id("kestrel-rating-send").click()
    expect(customer.get_by_test_id("kestrel-rating-thanks")).to_be_visible()

    ratings = agent.evaluate(
        "async (id) => (await (await fetch(`/api/agent/conversations/${id}`)).json()).ratings", conversation_id
    )
    assert [(r["score"], r["comment"]) for r in ratings] == [(4, "Quick and kind")]

    customer.reload()
    expect(customer.locator('[data-testid="kestrel-message"][data-sender="agent"]').first).to_be_attached(
        timeout=30_000
    )
    assert customer_errors == [] and agent_errors == []
