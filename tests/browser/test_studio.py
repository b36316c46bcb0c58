"""The content studio in Debian's Chromium against a real stack of its own (Rasa, the action
server and the hub) whose articles folder and index are copies, so publishing never touches the
repository: a validation error at its field, publishing and the bot answering with the new text
over the widget, a refused concurrent save, restoring a revision, the try-it box, a content gap
turned into an article, and the help center read without JavaScript."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from handoff.settings import sqlite_url
from handoff.store import Store
from tests.browser.conftest import add_agent

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "studio-browser-password"
EDITOR, OTHER_EDITOR, AGENT = "ed@kestrel.example", "flo@kestrel.example", "gus@kestrel.example"
ARTICLE = f"savings-pots-{uuid.uuid4().hex[:6]}"
QUESTION = "How do I put money aside in a savings pot?"
JOINT = ("can I open a joint account", "can I open a joint account with my partner", "how do I open a joint account")


@pytest.fixture(scope="module")
def studio_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from tests.integration.stack import Stack

    workdir = tmp_path_factory.mktemp("studio-stack")
    shutil.copytree(ROOT / "data" / "articles", workdir / "articles")
    shutil.copytree(ROOT / "var" / "kb-index", workdir / "kb-index")
    stack = Stack(
        workdir, extra_env={"KB_ARTICLES_DIR": str(workdir / "articles"), "KB_INDEX_DIR": str(workdir / "kb-index")}
    )
    stack.start()
    try:
        add_agent(stack, EDITOR, "Edda", PASSWORD, "editor")
        add_agent(stack, OTHER_EDITOR, "Flo", PASSWORD, "editor")
        add_agent(stack, AGENT, "Gus", PASSWORD, "agent")
        yield stack
    finally:
        stack.stop()


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def studio_page(browser: Browser, stack, email: str) -> Page:
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.goto(f"{stack.hub_url}/studio")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#me-name")).not_to_be_empty()
    return page


def open_article(page: Page, article_id: str) -> None:
    page.locator("#tab-articles").click()
    page.get_by_label("Search").fill(article_id)
    page.locator(f'[data-article="{article_id}"]').click()
    expect(page.get_by_label("Title", exact=True)).to_be_visible()


def wait_until_the_bot_serves(stack, version: str, timeout: float = 60) -> None:
    """Until the action server answers from index `version` (its /kb/health)."""
    deadline = time.monotonic() + timeout
    served = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            with urllib.request.urlopen(f"http://127.0.0.1:{stack.actions_port}/kb/health", timeout=5) as response:
                served = json.load(response).get("version")
            if served == version:
                return
        time.sleep(0.5)
    raise AssertionError(f"the action server still serves {served}, not {version}")


def publish_and_wait(page: Page) -> None:
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#editor-status")).to_contain_text("Live: the bot now answers from index", timeout=120_000)


def test_publish_with_a_validation_error_then_the_bot_answers_with_it(studio_stack, browser: Browser) -> None:
    page = studio_page(browser, studio_stack, EDITOR)
    errors = watch_errors(page)
    page.get_by_role("button", name="New article").click()
    page.get_by_label("Id (the address").fill(ARTICLE)
    page.locator("#f-category").fill("account")
    page.get_by_label("Tags (comma-separated)").fill("savings, pots")
    page.get_by_label("Example questions").fill(f"{QUESTION}\nCan I keep money in a separate pot?")
    page.get_by_label("Text (Markdown)").fill(
        "Pots keep money aside: open Accounts, then Pots, then New pot (reference PZ-4417).\n\n"
        '<img src=x onerror="window.__pwned=1">'
    )
    page.get_by_role("button", name="Publish").click()
    title_error = page.locator("#err-title")
    expect(title_error).to_be_visible()
    expect(title_error).to_contain_text("Write a title")
    expect(page.get_by_label("Title", exact=True)).to_be_focused()
    expect(page.get_by_label("Title", exact=True)).to_have_attribute("aria-invalid", "true")

    # the preview is the help page's rendering: the HTML in the text is shown as text
    page.get_by_label("Title", exact=True).fill("Savings pots")
    preview = page.frame_locator("#preview-frame")
    expect(preview.locator("h1")).to_have_text("Savings pots", timeout=10_000)
    expect(preview.locator("main")).to_contain_text('<img src=x onerror="window.__pwned=1">')

    publish_and_wait(page)
    expect(title_error).to_be_hidden()
    version = page.locator("#editor-status").get_attribute("data-version")
    assert version and version.startswith("v")
    expect(page.locator("#build-progress")).to_contain_text("loaded")

    # The build is done; the action server swaps to the new version on its own clock (about a
    # second, longer on a busy machine): ask once it serves it.
    wait_until_the_bot_serves(studio_stack, version)
    customer = browser.new_context(viewport={"width": 420, "height": 800}).new_page()
    customer.goto(f"{studio_stack.hub_url}/")
    customer.get_by_test_id("kestrel-launcher").click()
    customer.get_by_test_id("kestrel-input").fill(QUESTION)
    customer.get_by_test_id("kestrel-send").click()
    answer = customer.locator('[data-testid="kestrel-message"][data-sender="bot"]').filter(has_text="PZ-4417")
    expect(answer.first).to_be_visible(timeout=60_000)
    assert customer.evaluate("window.__pwned") is None and page.evaluate("window.__pwned") is None
    assert errors == []


def test_a_concurrent_save_is_refused_and_a_revision_restored(studio_stack, browser: Browser) -> None:
    first, second = studio_page(browser, studio_stack, EDITOR), studio_page(browser, studio_stack, OTHER_EDITOR)
    open_article(first, ARTICLE)
    open_article(second, ARTICLE)
    second.get_by_label("Text (Markdown)").fill("Pots keep money aside (reference PZ-5000, Flo's version).")
    second.get_by_label("What changed").fill("Flo's wording")
    publish_and_wait(second)

    first.get_by_label("Text (Markdown)").fill("Pots keep money aside (reference PZ-6000, Edda's version).")
    first.get_by_role("button", name="Publish").click()
    conflict = first.locator("#conflict")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text("Flo")
    expect(first.locator("#conflict-diff")).to_contain_text("PZ-5000")
    expect(first.locator("#editor-status")).to_contain_text("Not published")

    # the history of the other page: restore revision 1 (the first text)
    open_article(second, ARTICLE)
    history = second.locator("#history-list")
    expect(history).to_contain_text("Flo's wording")
    second.get_by_role("button", name="Restore revision 1").click()
    expect(second.locator("#editor-status")).to_contain_text("Restored revision 1 as revision 3")
    expect(second.get_by_label("Text (Markdown)")).to_have_value(
        "Pots keep money aside: open Accounts, then Pots, then New pot (reference PZ-4417).\n\n"
        '<img src=x onerror="window.__pwned=1">'
    )
    expect(second.locator("#editor-status")).to_contain_text("Live", timeout=120_000)
    second.locator("#diff-from").select_option("2")
    second.locator("#diff-to").select_option("3")
    second.get_by_role("button", name="Show changes").click()
    expect(second.locator("#diff-view .del")).to_contain_text("PZ-5000")
    text = (Path(studio_stack.env()["KB_ARTICLES_DIR"]) / f"{ARTICLE}.md").read_text()
    assert "PZ-4417" in text and "PZ-6000" not in text


def test_try_it_on_the_saved_index_and_with_the_draft(studio_stack, browser: Browser) -> None:
    page = studio_page(browser, studio_stack, AGENT)  # any agent may try; agents suggest, not publish
    open_article(page, ARTICLE)
    expect(page.get_by_role("button", name="Publish")).to_be_hidden()
    expect(page.get_by_role("button", name="Suggest this edit")).to_be_visible()
    page.get_by_label("Example questions").fill("Can I round up my card payments into a pot?")
    page.get_by_label("A customer asks…").fill("Can I round up my card payments into a pot?")
    page.get_by_role("button", name="Try it").click()
    saved, draft = page.get_by_test_id("try-saved"), page.get_by_test_id("try-draft-result")
    expect(draft).to_be_visible(timeout=120_000)
    expect(saved).to_contain_text("Tier:")
    expect(draft).to_contain_text("Tier: answer")
    expect(draft.locator("li").first).to_contain_text(ARTICLE)
    expect(draft).to_contain_text("No handoff")
    page.get_by_role("button", name="Suggest this edit").click()
    expect(page.locator("#editor-status")).to_contain_text("Suggestion sent")


def test_a_content_gap_becomes_an_article(studio_stack, browser: Browser) -> None:
    async def seed() -> None:
        store = await Store.open(sqlite_url(Path(studio_stack.workdir) / "hub.sqlite3"))
        try:
            conversation, _ = await store.create_conversation({})
            for question in JOINT:
                await store.add_kb_query(conversation.id, question, "none", None, 0.2)
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:  # Playwright's sync API runs an event loop on this one
        thread.submit(asyncio.run, seed()).result()
    page = studio_page(browser, studio_stack, EDITOR)
    page.locator("#tab-gaps").click()
    page.get_by_role("button", name="Group unanswered questions by meaning").click()
    expect(page.locator("#gap-list")).to_contain_text("joint account", timeout=60_000)
    page.get_by_role("button", name="Write an article for this").first.click()
    expect(page.get_by_label("Example questions")).to_have_value("\n".join(JOINT))
    page.get_by_label("Id (the address").fill(f"joint-accounts-{ARTICLE[-6:]}")
    page.get_by_label("Title", exact=True).fill("Joint accounts")
    page.locator("#f-category").fill("account")
    page.get_by_label("Tags (comma-separated)").fill("account")
    page.get_by_label("Text (Markdown)").fill("Kestrel accounts have one owner; joint accounts are not offered.")
    publish_and_wait(page)

    # and a gap question added to an existing article, one click
    page.locator("#tab-gaps").click()
    page.get_by_role("button", name="Group unanswered questions by meaning").click()
    expect(page.locator("#gap-list")).to_contain_text("joint account", timeout=60_000)
    page.get_by_label("Article for “can I open a joint account”").fill(ARTICLE)
    page.get_by_role("button", name="Add as example question").first.click()
    expect(page.locator("#gap-list")).to_contain_text(f"Added to {ARTICLE}", timeout=30_000)
    assert "can I open a joint account" in (Path(studio_stack.env()["KB_ARTICLES_DIR"]) / f"{ARTICLE}.md").read_text()


def test_the_help_center_reads_without_javascript(studio_stack, browser: Browser) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(f"{studio_stack.hub_url}/help")
    expect(page.get_by_role("heading", name="How can we help?")).to_be_visible()
    page.get_by_label("Search the help center").fill("my card has not arrived")
    page.get_by_role("button", name="Search").click()
    results = page.locator("ol.results li")
    expect(results.first).to_be_visible()
    results.first.locator("a").click()
    expect(page.get_by_text("Was this helpful?")).to_be_visible()
    page.get_by_role("button", name="Yes").click()
    expect(page.get_by_text("Thanks for telling us.")).to_be_visible()
    expect(page.get_by_role("heading", name="Related articles")).to_be_visible()
