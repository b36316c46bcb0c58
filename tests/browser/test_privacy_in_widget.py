"""Privacy as a customer meets it, in Debian's Chromium against the real stack: the note on what is
kept, a card number hidden before the hub, Rasa (its real tracker store) or an agent sees it, and
"Delete this conversation" removing it from every store."""

from __future__ import annotations

import sqlite3

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_widget_and_inbox import customer_says, watch_errors

pytestmark = pytest.mark.browser
CARD = "4111 1111 1111 1111"


def rows_about(stack, conversation_id: str) -> dict[str, int]:
    """Rows of this conversation in the hub's database and Rasa's tracker store, by direct query."""
    counts = {}
    with sqlite3.connect(stack.workdir / "hub.sqlite3") as hub:
        for table in ("messages", "handoffs", "kb_queries"):
            counts[table] = hub.execute(
                f"SELECT COUNT(*) FROM {table} WHERE conversation_id = ?", (conversation_id,)
            ).fetchone()[0]
        counts["conversations"] = hub.execute(
            "SELECT COUNT(*) FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()[0]
    with sqlite3.connect(stack.workdir / "rasa-tracker.sqlite3") as rasa:
        counts["rasa_events"] = rasa.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ?", (conversation_id,)
        ).fetchone()[0]
    return counts


def rasa_saw(stack, conversation_id: str) -> str:
    with sqlite3.connect(stack.workdir / "rasa-tracker.sqlite3") as rasa:
        rows = rasa.execute("SELECT data FROM events WHERE sender_id = ?", (conversation_id,)).fetchall()
    return " ".join(row[0] for row in rows)


def test_a_card_number_is_hidden_and_the_customer_can_delete_the_conversation(stack, browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    errors = watch_errors(page)
    page.goto(f"{stack.hub_url}/")
    page.get_by_test_id("kestrel-launcher").click()
    expect(page.get_by_test_id("kestrel-privacy-note")).to_contain_text(
        "We keep this chat for 365 days after your last message"
    )
    expect(page.get_by_test_id("kestrel-privacy-link")).to_have_attribute("href", f"{stack.hub_url}/privacy")
    expect(page.get_by_test_id("kestrel-delete")).to_be_hidden()  # nothing to delete yet

    customer_says(page, f"I paid with my card {CARD} and the cvv is 123, where is my refund?")
    mine = page.locator('[data-testid="kestrel-message"][data-sender="customer"]').last
    expect(mine).to_contain_text("[card ending 1111]", timeout=30_000)
    expect(mine).to_contain_text("cvv [masked]")
    expect(page.locator('[data-testid="kestrel-message"][data-sender="system"]').last).to_contain_text(
        "I've hidden a card number and a security code"
    )
    expect(page.locator('[data-testid="kestrel-message"][data-sender="bot"]').last).to_be_visible(timeout=60_000)
    assert CARD not in page.get_by_test_id("kestrel-panel").inner_text()
    conversation_id = page.evaluate("window.KestrelSupport.state().conversation_id")
    saw = rasa_saw(stack, conversation_id)
    assert "[card ending 1111]" in saw and "4111" not in saw  # Rasa's own tracker store never got it
    expect(page.get_by_test_id("kestrel-privacy-note")).to_be_hidden()

    delete = page.get_by_test_id("kestrel-delete")
    delete.click()
    expect(delete).to_have_text("Delete it for good? Click again")
    assert rows_about(stack, conversation_id)["messages"] > 0  # one click deletes nothing
    delete.click()
    expect(page.get_by_test_id("kestrel-error")).to_have_text("Your conversation was deleted: nothing of it is kept.")
    expect(page.locator('[data-testid="kestrel-message"]')).to_have_count(0)
    assert set(rows_about(stack, conversation_id).values()) == {0}
    # The widget goes on with a new, empty conversation.
    expect(page.get_by_test_id("kestrel-privacy-note")).to_be_visible()
    assert page.evaluate("window.KestrelSupport.state().conversation_id") != conversation_id
    assert errors == []
