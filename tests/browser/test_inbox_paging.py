"""A conversation longer than one transcript page opens at its latest messages in the inbox, and
"Load earlier messages" brings back the rest (before, everything after message 1,000 was cut)."""

from __future__ import annotations

import json
import sqlite3
import urllib.request

from playwright.sync_api import Browser, expect

from tests.browser.conftest import add_agent

AGENT_EMAIL, AGENT_PASSWORD = "paging@kestrel.example", "paging-test-password-1"
MESSAGES = 620


def long_conversation(stack) -> str:
    request = urllib.request.Request(
        f"{stack.hub_url}/api/conversations", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        conversation_id = json.load(response)["conversation_id"]
    with sqlite3.connect(stack.workdir / "hub.sqlite3", timeout=30) as db:
        db.executemany(
            "INSERT INTO messages (conversation_id, seq, sender, text, created_at, bot_pending) "
            "VALUES (?, ?, 'customer', ?, 1796140000, 0)",
            [(conversation_id, seq, f"message {seq}") for seq in range(1, MESSAGES + 1)],
        )
        db.execute("UPDATE conversations SET last_seq = ? WHERE id = ?", (MESSAGES, conversation_id))
    return conversation_id


def test_load_earlier_messages(stack, browser: Browser) -> None:
    add_agent(stack, AGENT_EMAIL, "Pat", AGENT_PASSWORD)
    conversation_id = long_conversation(stack)
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{stack.hub_url}/inbox#conversation={conversation_id}")
    page.get_by_test_id("inbox-email").fill(AGENT_EMAIL)
    page.get_by_test_id("inbox-password").fill(AGENT_PASSWORD)
    page.get_by_test_id("inbox-signin").click()
    messages = page.get_by_test_id("inbox-message")
    expect(messages.last).to_contain_text(f"message {MESSAGES}", timeout=30_000)
    assert messages.count() == 500
    page.get_by_test_id("inbox-load-earlier").click()
    expect(page.locator('[data-testid="inbox-message"][data-seq="1"]')).to_contain_text("message 1")
    assert messages.count() == MESSAGES
    expect(page.get_by_test_id("inbox-load-earlier")).to_be_hidden()
    assert errors == []
