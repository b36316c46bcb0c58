"""A hub killed with kill -9 in the middle of a bot turn: after the restart the customer gets the
answer through the widget's own reconnect, and every stored message is there once, in order.

Rasa is paused (SIGSTOP) while the customer's question is on its way, so the kill lands after the
hub stored and acked the question and before any answer: the turn is really in flight.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time

from playwright.sync_api import Browser, Page, expect

QUESTION_BEFORE = "How long does it take for a new card to be delivered?"
QUESTION_IN_FLIGHT = "How do I top up my account with a bank transfer?"


def say(page: Page, text: str) -> None:
    page.get_by_test_id("kestrel-input").fill(text)
    page.get_by_test_id("kestrel-send").click()


def stored_messages(stack, conversation_id: str) -> list[tuple[int, str, str, int]]:
    with sqlite3.connect(stack.workdir / "hub.sqlite3") as db:
        return db.execute(
            "SELECT seq, sender, text, bot_pending FROM messages WHERE conversation_id = ? ORDER BY seq",
            (conversation_id,),
        ).fetchall()


def wait_until(check, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_hub_killed_mid_turn_answers_after_the_restart(stack, browser: Browser) -> None:
    page = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{stack.hub_url}/")
    page.get_by_test_id("kestrel-launcher").click()
    say(page, QUESTION_BEFORE)
    bot_messages = page.locator('[data-testid="kestrel-message"][data-sender="bot"]')
    expect(bot_messages.first).to_be_visible(timeout=60_000)
    answered_before = bot_messages.count()
    conversation_id = page.evaluate("window.KestrelSupport.state().conversation_id")

    rasa = stack.processes["rasa"]
    os.killpg(rasa.pid, signal.SIGSTOP)
    try:
        say(page, QUESTION_IN_FLIGHT)
        # Stored and acked, its bot turn pending: the hub is waiting for the paused Rasa.
        wait_until(
            lambda: any(row[2] == QUESTION_IN_FLIGHT and row[3] for row in stored_messages(stack, conversation_id))
        )
        stack.kill_hub()
    finally:
        os.killpg(rasa.pid, signal.SIGCONT)
    stack.restart_hub()

    # The widget reconnects by itself and shows the answer to the question asked before the kill.
    expect(bot_messages.filter(has_text=re.compile("bank transfer", re.IGNORECASE)).first).to_be_visible(timeout=90_000)
    assert bot_messages.count() > answered_before
    rows = stored_messages(stack, conversation_id)
    assert [seq for seq, *_ in rows] == list(range(1, len(rows) + 1))  # no gap, no duplicate
    customer_rows = [(seq, text) for seq, sender, text, _pending in rows if sender == "customer"]
    assert [text for _, text in customer_rows] == [QUESTION_BEFORE, QUESTION_IN_FLIGHT]
    in_flight_seq = customer_rows[1][0]
    assert any(
        sender == "bot" and seq > in_flight_seq and "bank transfer" in text.lower()
        for seq, sender, text, _pending in rows
    )
    assert not any(pending for *_, pending in rows)
    assert errors == []
