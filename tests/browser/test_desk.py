"""The agent desk in Debian's Chromium against the real stack: a private note the customer's page
never shows (live, or after a reload), a saved reply with variables chosen from the keyboard, a
transfer with a note the receiving agent reads first, and my teams' conversations first in the
queue, with its team filter."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import add_agent

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "desk-test-password-1"
NOTE = "Private: she called yesterday, ticket 4411 <b>do not share</b>"
HANDOVER = "Card blocked after 3 PIN tries; identity checked."


# Records each desktop notification the page makes, then makes it with the browser's own API.
NOTIFICATION_RECORDER = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  function Recorded(title, options) {
    window.__notifications.push({ title: title, body: options && options.body });
    return new Real(title, options);
  }
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  window.Notification = Recorded;
})();
"""


def signed_in(browser: Browser, url: str, email: str, errors: list[str], notifications: bool = False) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    if notifications:
        context.grant_permissions(["notifications"], origin=url)
        context.add_init_script(NOTIFICATION_RECORDER)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/inbox")
    page.get_by_test_id("inbox-email").fill(email)
    page.get_by_test_id("inbox-password").fill(PASSWORD)
    page.get_by_test_id("inbox-signin").click()
    expect(page.get_by_test_id("inbox-agent-name")).not_to_have_text("")
    return page


def customer_says(page: Page, text: str) -> None:
    page.get_by_test_id("kestrel-input").fill(text)
    page.get_by_test_id("kestrel-send").click()


def bot_asks(page: Page, words: str) -> None:
    expect(page.locator('[data-testid="kestrel-message"][data-sender="bot"]').last).to_contain_text(
        words, timeout=60_000
    )


def test_a_private_note_a_saved_reply_and_a_transfer_with_a_note(stack, browser: Browser) -> None:
    add_agent(stack, "desk-kim@kestrel.example", "Kim", PASSWORD)
    add_agent(stack, "desk-lee@kestrel.example", "Lee", PASSWORD)
    errors: list[str] = []
    kim = signed_in(browser, stack.hub_url, "desk-kim@kestrel.example", errors)
    lee = signed_in(browser, stack.hub_url, "desk-lee@kestrel.example", errors, notifications=True)
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    customer.on("pageerror", lambda exc: errors.append(str(exc)))
    customer.goto(f"{stack.hub_url}/")
    customer.get_by_test_id("kestrel-launcher").click()
    customer_says(customer, "I want to talk to a person")
    bot_asks(customer, "name")
    customer_says(customer, "Robin Customer")
    bot_asks(customer, "email")
    customer_says(customer, "robin.customer@example.com")
    customer.get_by_test_id("kestrel-quick-reply").filter(has_text="Transfers").click(timeout=60_000)
    bot_asks(customer, "TX-")
    customer_says(customer, "TX-12345678")
    bot_asks(customer, "problem")
    customer_says(customer, "My transfer never arrived")
    status = customer.get_by_test_id("kestrel-status")
    try:
        expect(status).to_contain_text("queue", timeout=60_000)
    except AssertionError:
        said = customer.locator('[data-testid="kestrel-message"]').all_inner_texts()
        raise AssertionError(f"not queued; the conversation: {said}") from None
    conversation_id = customer.evaluate("window.KestrelSupport.state().conversation_id")

    # Lee is told of the new handoff: the count in the tab title, an announcement, a desktop notification.
    expect(lee).to_have_title(re.compile(r"^\(1\) Agent inbox"), timeout=30_000)
    expect(lee.get_by_test_id("inbox-announcement")).to_contain_text("New conversation")
    notes = lee.evaluate("window.__notifications")
    assert [n["title"] for n in notes] == ["Kestrel Support"] and "New conversation" in notes[0]["body"], notes
    expect(lee.get_by_test_id("inbox-notify-permission")).to_be_hidden()  # granted: nothing to ask

    kim.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]').click(timeout=30_000)
    kim.get_by_test_id("inbox-claim").click()
    expect(customer.get_by_test_id("kestrel-status")).to_contain_text("Kim", timeout=30_000)

    # A private note, by keyboard: its own look in the inbox, never on the customer's page.
    kim.get_by_test_id("inbox-mode-note").check()
    kim.get_by_test_id("inbox-reply").fill(NOTE)
    kim.get_by_test_id("inbox-reply").press("Enter")
    note = kim.locator('[data-testid="inbox-message"][data-sender="note"]').last
    expect(note).to_contain_text(NOTE, timeout=20_000)  # a busy machine: the note goes via the hub
    expect(note).to_contain_text("Note")
    expect(note).to_have_class(re.compile(r"\bmsg--note\b"))
    assert kim.locator("b").filter(has_text="do not share").count() == 0  # text, never HTML
    kim.get_by_test_id("inbox-mode-reply").check()

    # A saved reply with variables, chosen from the keyboard: /card opens the list, Enter inserts.
    saved = kim.evaluate(
        """async () => (await fetch("/api/agent/replies", {method: "POST",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify({shortcut: "card-delivery", title: "Card delivery",
                                  body: "Hello {customer_name}, {agent_name} here: I'm looking into it."})})).status"""
    )
    assert saved == 201
    reply_box = kim.get_by_test_id("inbox-reply")
    reply_box.focus()
    reply_box.press_sequentially("/card")
    option = kim.get_by_test_id("inbox-saved-reply")
    expect(option).to_have_count(1)
    expect(option).to_contain_text("/card-delivery")
    assert reply_box.get_attribute("aria-expanded") == "true"
    reply_box.press("Enter")
    expect(reply_box).to_have_value("Hello Robin Customer, Kim here: I'm looking into it.")
    expect(kim.get_by_test_id("inbox-reply-picker")).to_be_hidden()
    reply_box.press("Enter")
    agent_says = customer.locator('[data-testid="kestrel-message"][data-sender="agent"]')
    expect(agent_says.last).to_contain_text("Hello Robin Customer, Kim here", timeout=30_000)

    # The transfer: Kim passes it to Lee with a note; the customer is told, Lee reads the note first.
    kim.get_by_test_id("inbox-transfer-open").click()
    kim.get_by_test_id("inbox-transfer-agent").select_option(label="Lee (online)")
    kim.get_by_test_id("inbox-transfer-note").fill(HANDOVER)
    kim.get_by_test_id("inbox-transfer-send").click()
    expect(customer.locator('[data-testid="kestrel-message"]').last).to_contain_text(
        "Kim passed your conversation to Lee", timeout=30_000
    )
    expect(customer.get_by_test_id("kestrel-status")).to_contain_text("Lee", timeout=30_000)
    expect(kim.get_by_test_id("inbox-reply")).to_be_disabled()

    card = lee.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]')
    expect(card).to_contain_text("Claimed by you", timeout=30_000)
    card.click()
    banner = lee.get_by_test_id("inbox-transfer-banner")
    expect(banner).to_contain_text("Kim passed this conversation to you")
    expect(banner).to_contain_text(HANDOVER)
    lee.get_by_test_id("inbox-reply").fill("Hi Robin, Lee here: your card is unblocked.")
    lee.get_by_test_id("inbox-reply").press("Enter")
    expect(agent_says.last).to_contain_text("Lee here", timeout=30_000)

    # The customer's page never had either note, live or after a reload (the replay).
    page_text = customer.locator("body").inner_text()
    assert "4411" not in page_text and HANDOVER not in page_text
    customer.reload()
    customer.get_by_test_id("kestrel-launcher").click()
    expect(agent_says.last).to_contain_text("Lee here", timeout=30_000)
    page_text = customer.locator("body").inner_text()
    assert "4411" not in page_text and HANDOVER not in page_text
    assert "4411" not in customer.evaluate("JSON.stringify(localStorage)")

    # The sound can be muted, and stays muted after a reload.
    lee.get_by_test_id("inbox-sound").click()
    expect(lee.get_by_test_id("inbox-sound")).to_have_attribute("aria-pressed", "false")
    lee.reload()
    expect(lee.get_by_test_id("inbox-sound")).to_have_attribute("aria-pressed", "false")
    assert errors == []


def queued_conversation(stack, team_id: int | None, queued_at: float, priority: str = "normal") -> str:
    """A conversation waiting in the queue (as the relay leaves one), in `team_id`'s queue."""
    request = urllib.request.Request(
        f"{stack.hub_url}/api/conversations", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        conversation_id = str(json.load(response)["conversation_id"])
    with sqlite3.connect(stack.workdir / "hub.sqlite3", timeout=30) as db:
        db.execute(
            "INSERT INTO handoffs (conversation_id, status, reason, priority, priority_rank, headline, summary, "
            "details, queued_at, team_id) VALUES (?, 'queued', 'customer_request', ?, ?, ?, '', '{}', ?, ?)",
            (
                conversation_id,
                priority,
                {"high": 0, "normal": 1, "low": 2}[priority],
                f"headline {conversation_id[:6]}",
                queued_at,
                team_id,
            ),
        )
        db.execute("UPDATE conversations SET state = 'queued' WHERE id = ?", (conversation_id,))
    return conversation_id


def test_my_teams_conversations_come_first_and_the_queue_filters_by_team(stack, browser: Browser) -> None:
    add_agent(stack, "desk-sam@kestrel.example", "Sam", PASSWORD)
    made = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "supportbot-agent"), "team", "Security", "desk-sam@kestrel.example"],
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(stack.workdir / "hub.sqlite3", timeout=30) as db:
        security_id = db.execute("SELECT id FROM teams WHERE name = 'Security'").fetchone()[0]
    general = queued_conversation(stack, None, time.time() - 600)  # waiting longer
    security = queued_conversation(stack, security_id, time.time())
    errors: list[str] = []
    sam = signed_in(browser, stack.hub_url, "desk-sam@kestrel.example", errors)
    cards = sam.locator('[data-testid="inbox-card"]')
    security_card = sam.locator(f'[data-testid="inbox-card"][data-conversation-id="{security}"]')
    expect(security_card.get_by_test_id("inbox-card-team")).to_have_text("Security (your team)", timeout=30_000)
    order = cards.evaluate_all("cards => cards.map(c => c.getAttribute('data-conversation-id'))")
    assert order.index(security) < order.index(general), order  # my team's first, though it waited less

    sam.get_by_test_id("inbox-queue-filter").select_option("mine")
    expect(sam.locator(f'[data-testid="inbox-card"][data-conversation-id="{general}"]')).to_have_count(0)
    expect(security_card).to_be_visible()
    sam.get_by_test_id("inbox-queue-filter").select_option("none")
    expect(security_card).to_have_count(0)
    expect(sam.locator(f'[data-testid="inbox-card"][data-conversation-id="{general}"]')).to_be_visible()
    sam.get_by_test_id("inbox-queue-filter").select_option(label="Team: Security")
    expect(security_card).to_be_visible()
    expect(sam.locator(f'[data-testid="inbox-card"][data-conversation-id="{general}"]')).to_have_count(0)
    assert errors == []


def customer_message(stack, conversation_id: str, text: str) -> None:
    """A customer's message stored as the relay stores one (the store's triggers index it)."""
    with sqlite3.connect(stack.workdir / "hub.sqlite3", timeout=30) as db:
        seq = db.execute(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq", (conversation_id,)
        )
        number = seq.fetchone()[0]
        db.execute(
            "INSERT INTO messages (conversation_id, seq, sender, text, created_at) VALUES (?, ?, 'customer', ?, ?)",
            (conversation_id, number, text, time.time()),
        )


def test_search_finds_a_conversation_by_its_reference_from_the_keyboard(stack, browser: Browser) -> None:
    add_agent(stack, "desk-ida@kestrel.example", "Ida", PASSWORD)
    wanted = queued_conversation(stack, None, time.time() - 60)
    customer_message(stack, wanted, "My transfer TX-55501234 never arrived <img src=x onerror=alert(1)>")
    other = queued_conversation(stack, None, time.time())
    customer_message(stack, other, "Where is my refund?")
    errors: list[str] = []
    ida = signed_in(browser, stack.hub_url, "desk-ida@kestrel.example", errors)
    expect(ida.locator(f'[data-testid="inbox-card"][data-conversation-id="{other}"]')).to_be_visible(timeout=30_000)

    box = ida.get_by_test_id("inbox-search")
    box.focus()
    box.press_sequentially("tx-5550")  # a reference as typed, its last part a prefix
    results = ida.get_by_test_id("inbox-search-result")
    expect(results).to_have_count(1, timeout=10_000)
    expect(results.first).to_have_attribute("data-conversation-id", wanted)
    expect(results.first).to_have_attribute("data-matched", "message")
    expect(results.first).to_contain_text("TX-55501234")
    expect(ida.get_by_test_id("inbox-search-results")).to_contain_text("1 conversation found")
    expect(ida.get_by_test_id("inbox-queue")).to_be_hidden()  # the results replace the queue meanwhile
    assert ida.locator('[data-testid="inbox-search-result"] img').count() == 0  # text, never HTML

    # keyboard only: Tab from the box past the Filters and Clear search buttons to the result, Enter opens it
    box.press("Tab")
    expect(ida.get_by_test_id("inbox-search-filters-toggle")).to_be_focused()
    ida.keyboard.press("Tab")
    expect(ida.get_by_test_id("inbox-search-clear")).to_be_focused()
    ida.keyboard.press("Tab")
    expect(results.first).to_be_focused()
    ida.keyboard.press("Enter")
    expect(ida.locator("#conv-meta")).to_contain_text(wanted, timeout=10_000)
    expect(ida.get_by_test_id("inbox-transcript")).to_contain_text("TX-55501234")

    # a filter narrows it: the conversation is waiting, not resolved
    ida.get_by_test_id("inbox-search-filters-toggle").click()
    ida.get_by_test_id("inbox-search-state").select_option("resolved")
    expect(ida.get_by_test_id("inbox-search-results")).to_contain_text("No conversation matches")
    ida.get_by_test_id("inbox-search-state").select_option("queued")
    expect(results).to_have_count(1)

    # Escape in the box clears the search and brings the queue back
    box.focus()
    box.press("Escape")
    expect(box).to_have_value("")
    expect(ida.get_by_test_id("inbox-search-results")).to_be_hidden()
    expect(ida.get_by_test_id("inbox-queue")).to_be_visible()
    assert errors == []


def test_each_card_counts_down_to_its_first_reply_target_and_turns_red_when_breached(stack, browser: Browser) -> None:
    """The stack's default targets: high priority 5 minutes, normal 30."""
    add_agent(stack, "desk-max@kestrel.example", "Max", PASSWORD)
    breached = queued_conversation(stack, None, time.time() - 900, "high")
    about_to = queued_conversation(stack, None, time.time() - 290, "high")
    calm = queued_conversation(stack, None, time.time(), "normal")
    errors: list[str] = []
    page = signed_in(browser, stack.hub_url, "desk-max@kestrel.example", errors)

    def sla(conversation_id: str):
        return page.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]').get_by_test_id(
            "inbox-card-sla"
        )

    expect(sla(breached)).to_have_attribute("data-sla", "breached", timeout=30_000)
    expect(sla(breached)).to_contain_text("SLA breached: first reply overdue by 1")
    assert sla(breached).evaluate("n => getComputedStyle(n).color") == "rgb(180, 35, 24)"  # the danger red
    expect(sla(calm)).to_have_attribute("data-sla", "running")
    expect(sla(calm)).to_contain_text(re.compile(r"First reply due in (29m|30m)"))
    # live: ten seconds later the card that was about to breach says so, and screen readers hear it
    expect(sla(about_to)).to_have_attribute("data-sla", "breached", timeout=30_000)
    expect(page.get_by_test_id("inbox-announcement")).to_contain_text("First-reply target breached", timeout=5_000)
    assert errors == []


def test_reply_suggestions_and_an_article_from_the_picker_go_into_the_reply(stack, browser: Browser) -> None:
    add_agent(stack, "desk-uma@kestrel.example", "Uma", PASSWORD)
    conversation_id = queued_conversation(stack, None, time.time())
    customer_message(stack, conversation_id, "I ordered my card two weeks ago and it still hasn't arrived")
    errors: list[str] = []
    uma = signed_in(browser, stack.hub_url, "desk-uma@kestrel.example", errors)
    uma.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]').click(timeout=30_000)

    # beside the reply box, the help center's passages for what the customer wrote
    suggestions = uma.get_by_test_id("inbox-suggestion")
    expect(suggestions.first).to_be_visible(timeout=60_000)  # the hub loads the embedding model first
    assert 1 <= suggestions.count() <= 3
    ids = suggestions.evaluate_all("items => items.map(i => i.getAttribute('data-article-id'))")
    assert "card-not-arrived" in ids or "card-delivery-time" in ids, ids
    insert = uma.get_by_test_id("inbox-suggestion-insert").first
    expect(insert).to_be_disabled()  # not mine yet: nothing to write into
    uma.get_by_test_id("inbox-claim").click()
    expect(insert).to_be_enabled(timeout=10_000)
    label = insert.get_attribute("aria-label") or ""
    assert label.startswith("Insert “") and label.endswith("” into the reply"), label
    insert.focus()
    uma.keyboard.press("Enter")
    reply = uma.get_by_test_id("inbox-reply")
    expect(reply).to_be_focused()
    passage = (suggestions.first.locator(".suggestion__passage").text_content() or "").rstrip("…")
    link = suggestions.first.locator("a").get_attribute("href")
    value = reply.input_value()
    assert value.startswith(passage[:60]) and value.endswith(link), (value, link)

    # any article from the saved-replies picker: /delivery lists it, Enter inserts its first passage and link
    reply.fill("")
    reply.press_sequentially("/delivery")
    article = uma.get_by_test_id("inbox-picker-article").filter(has_text="How long does card delivery take?")
    expect(article).to_be_visible(timeout=10_000)
    while reply.get_attribute("aria-activedescendant") != article.get_attribute("id"):
        reply.press("ArrowDown")
    reply.press("Enter")
    expect(reply).to_have_value(re.compile(r"\S.*\n" + re.escape(stack.hub_url) + r"/help/card-delivery-time$", re.S))
    reply.press("Enter")  # sent to the customer as it stands
    expect(uma.locator('[data-testid="inbox-message"][data-sender="agent"]').last).to_contain_text(
        "/help/card-delivery-time", timeout=10_000
    )
    assert errors == []


def test_transfer_to_a_team_from_the_picker(stack, browser: Browser) -> None:
    add_agent(stack, "desk-ned@kestrel.example", "Ned", PASSWORD)
    add_agent(stack, "desk-ola@kestrel.example", "Ola", PASSWORD)
    made = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "supportbot-agent"), "team", "Payments", "desk-ola@kestrel.example"],
        env=stack.env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    conversation_id = queued_conversation(stack, None, time.time())
    errors: list[str] = []
    ned = signed_in(browser, stack.hub_url, "desk-ned@kestrel.example", errors)
    ola = signed_in(browser, stack.hub_url, "desk-ola@kestrel.example", errors)
    ned.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]').click(timeout=30_000)
    ned.get_by_test_id("inbox-claim").click()
    ned.get_by_test_id("inbox-transfer-open").click()
    ned.get_by_test_id("inbox-transfer-agent").select_option(label="Team: Payments")
    ned.get_by_test_id("inbox-transfer-note").fill("Refund asked twice; card checked.")
    ned.get_by_test_id("inbox-transfer-send").click()
    expect(ned.get_by_test_id("inbox-reply")).to_be_disabled()

    card = ola.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]')
    expect(card.get_by_test_id("inbox-card-team")).to_have_text("Payments (your team)", timeout=30_000)
    expect(card).to_contain_text("Unclaimed")
    card.click()
    ola.get_by_test_id("inbox-claim").click()
    banner = ola.get_by_test_id("inbox-transfer-banner")
    expect(banner).to_contain_text("Ned passed this conversation to the Payments team", timeout=10_000)
    expect(banner).to_contain_text("Refund asked twice; card checked.")
    assert errors == []
