"""The link in a reply email opens the widget on that conversation, in Debian's Chromium.

A hub alone (`python -m handoff`, Rasa down on purpose so the first message goes to the queue)
mails through a real SMTP server (aiosmtpd's Controller, in a thread of the test); the customer
closes the tab, an agent answers through the API, and the link from the email that arrived is
opened in a fresh browser (another device: nothing in its storage)."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ROOT
from tests.integration.stack import answers, free_port

pytestmark = pytest.mark.browser
AGENT_EMAIL, AGENT_PASSWORD = "mail-agent@kestrel.example", "mail-agent-password"
REPLY = "Your new card is on its way; it should arrive on Friday."
INBOUND_SECRET = "browser-test-inbound-secret"


class Inbox:
    """aiosmtpd handler: every message that arrives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, _class=EmailMessage, policy=email.policy.default)
        )
        self.arrived.set()
        return "250 OK"


@pytest.fixture
def mail_stack(tmp_path: Path) -> Iterator[tuple[str, Inbox, Path]]:
    inbox = Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    hub_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HUB_PORT": str(port),
        "HUB_PUBLIC_URL": hub_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hub.sqlite3'}",
        "RASA_URLS": f"http://127.0.0.1:{free_port()}",
        "HUB_RASA_WAIT_SECONDS": "0",  # Rasa stays down: hand off at once, do not wait for it to come up
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "HUB_LINK_SECRET": "browser-test-link-secret",
        "HUB_EMAIL_AFTER_SECONDS": "0",
        "HUB_BUSINESS_HOURS": "",
        "HUB_INBOUND_SECRET": INBOUND_SECRET,
    }
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "supportbot-agent"), "add", AGENT_EMAIL, "Morgan", "--password-env", "PW"],
        env={**env, "PW": AGENT_PASSWORD},
        check=True,
        capture_output=True,
    )
    hub = subprocess.Popen([sys.executable, "-m", "handoff"], env=env, cwd=tmp_path)
    try:
        for _ in range(300):
            if answers(f"{hub_url}/health"):
                break
            assert hub.poll() is None, "the hub exited"
            time.sleep(0.1)
        yield hub_url, inbox, tmp_path / "hub.sqlite3"
    finally:
        hub.terminate()
        hub.wait(timeout=20)
        controller.stop()


def agent_answers(hub_url: str, conversation_id: str, text: str) -> None:
    """Sign in, claim and reply through the agent API, as the inbox does."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(path: str, body: dict[str, Any] | None = None) -> None:
        request = urllib.request.Request(
            f"{hub_url}{path}", data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"}
        )
        with opener.open(request, timeout=30) as response:
            assert response.status in (200, 201)

    post("/api/agent/login", {"email": AGENT_EMAIL, "password": AGENT_PASSWORD})
    post(f"/api/agent/conversations/{conversation_id}/claim")
    post(f"/api/agent/conversations/{conversation_id}/messages", {"text": text})


def test_the_link_in_a_reply_email_opens_the_widget_on_the_conversation(mail_stack, browser: Browser) -> None:
    hub_url, inbox, db_path = mail_stack
    first = browser.new_context(viewport={"width": 420, "height": 800})
    page = first.new_page()
    page.goto(f"{hub_url}/")
    page.get_by_test_id("kestrel-launcher").click()
    page.get_by_test_id("kestrel-input").fill("My card never came")
    page.get_by_test_id("kestrel-send").click()
    expect(page.get_by_test_id("kestrel-status")).to_contain_text("follow up", timeout=30_000)  # no one online
    conversation_id = page.evaluate("window.KestrelSupport.state().conversation_id")
    first.close()  # the customer leaves

    # The bot's form would have asked for the email; Rasa is down here, so it is written where the form puts it.
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE conversations SET customer_email = ? WHERE id = ?", ("robin@example.com", conversation_id))
    agent_answers(hub_url, conversation_id, REPLY)
    assert inbox.arrived.wait(30), "no email arrived"
    text = inbox.messages[0].get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(hub_url)}/#kestrel-resume=\S+", text)
    assert link, text

    other_device = browser.new_context(viewport={"width": 420, "height": 800})
    page = other_device.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(link.group(0))
    expect(page.get_by_test_id("kestrel-panel")).to_be_visible()
    agent_says = page.locator('[data-testid="kestrel-message"][data-sender="agent"]')
    expect(agent_says.last).to_have_text(re.compile(re.escape(REPLY)), timeout=30_000)
    assert page.evaluate("window.KestrelSupport.state().conversation_id") == conversation_id
    assert "kestrel-resume" not in page.url  # taken out of the address bar at once
    assert not any("kestrel-resume" in url for url in requests)  # and never sent to a server in a URL
    page.reload()  # the fresh key is kept: a reload shows the same conversation
    expect(agent_says.last).to_have_text(re.compile(re.escape(REPLY)), timeout=30_000)

    # "Email me this conversation", from the widget.
    page.get_by_test_id("kestrel-launcher").click()
    page.get_by_test_id("kestrel-email-transcript").click()
    page.get_by_test_id("kestrel-email-address").fill("robin.other@example.com")
    page.get_by_test_id("kestrel-email-send").click()
    expect(page.get_by_test_id("kestrel-email-note")).to_contain_text("robin.other@example.com")
    for _ in range(300):
        if len(inbox.messages) > 1:
            break
        time.sleep(0.1)
    transcript = inbox.messages[1]
    assert transcript["To"] == "robin.other@example.com"
    assert REPLY in transcript.get_body(("plain",)).get_content()
    assert errors == []
    other_device.close()


def test_an_answer_by_email_shows_in_the_inbox_with_its_markers(mail_stack, browser: Browser) -> None:
    hub_url, inbox, db_path = mail_stack
    customer = browser.new_context()
    page = customer.new_page()
    page.goto(f"{hub_url}/")
    page.get_by_test_id("kestrel-launcher").click()
    page.get_by_test_id("kestrel-input").fill("I was charged twice")
    page.get_by_test_id("kestrel-send").click()
    expect(page.get_by_test_id("kestrel-status")).to_contain_text("follow up", timeout=30_000)
    conversation_id = page.evaluate("window.KestrelSupport.state().conversation_id")
    customer.close()
    with sqlite3.connect(db_path) as db:
        db.execute("UPDATE conversations SET customer_email = ? WHERE id = ?", ("robin@example.com", conversation_id))
    agent_answers(hub_url, conversation_id, "We refunded the second charge.")
    assert inbox.arrived.wait(30), "no email arrived"
    reply_to = str(inbox.messages[0]["Reply-To"])

    agent = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    agent_errors: list[str] = []
    agent.on("pageerror", lambda exc: agent_errors.append(str(exc)))
    agent.goto(f"{hub_url}/inbox")
    agent.get_by_test_id("inbox-email").fill(AGENT_EMAIL)
    agent.get_by_test_id("inbox-password").fill(AGENT_PASSWORD)
    agent.get_by_test_id("inbox-signin").click()
    card = agent.locator(f'[data-testid="inbox-card"][data-conversation-id="{conversation_id}"]')
    expect(card.get_by_test_id("inbox-email-status")).to_contain_text("Answered by email", timeout=30_000)
    expect(card.get_by_test_id("inbox-email-status")).to_contain_text("not read yet")
    card.click()
    # The conversation is open (its transcript loaded) before the customer's email comes in.
    expect(agent.locator('[data-testid="inbox-message"][data-sender="agent"]').last).to_contain_text(
        "We refunded the second charge.", timeout=30_000
    )

    body = json.dumps(
        {
            "From": "Robin <robin@example.com>",
            "To": reply_to,
            "Subject": "Re: your question",
            "TextBody": "Thank you <b>so</b> much!\n\nOn Tue, 1 Dec 2026, Kestrel Support wrote:\n> We refunded",
        }
    ).encode()
    signature = hmac.new(INBOUND_SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{hub_url}/api/mail/inbound",
        data=body,
        headers={"Content-Type": "application/json", "X-Inbound-Signature": f"sha256={signature}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200

    said = agent.locator('[data-testid="inbox-message"][data-sender="customer"]').last
    expect(said).to_contain_text("Thank you <b>so</b> much!", timeout=30_000)  # shown as text, quoted part cut
    expect(said).not_to_contain_text("We refunded")
    expect(said.get_by_test_id("inbox-by-email")).to_be_visible()
    assert agent.locator("b", has_text="so").count() == 0
    expect(agent.locator('[data-testid="inbox-email-status"]').first).to_contain_text("customer replied by email")
    assert agent_errors == []
