#!/usr/bin/env python
"""The README's screenshots of the content studio and the help center, taken in Debian's Chromium
(Playwright) on a hub of its own (copies of data/articles and var/kb-index, a scratch database,
no Rasa needed), so they can be taken again after a change to the pages:

    .venv/bin/python scripts/studio_screenshots.py        # writes docs/studio-list.png, docs/studio-editor.png, docs/help-center.png
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright

from tests.browser.conftest import CHROMIUM, FLAGS
from tests.integration.stack import free_port

PASSWORD = "screenshot-password"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="studio-shots-") as scratch:
        work = Path(scratch)
        shutil.copytree(ROOT / "data" / "articles", work / "articles")
        shutil.copytree(ROOT / "var" / "kb-index", work / "kb-index")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HUB_PORT": str(port),
            "HUB_PUBLIC_URL": url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'hub.sqlite3'}",
            "RASA_URLS": f"http://127.0.0.1:{free_port()}",
            "KB_ARTICLES_DIR": str(work / "articles"),
            "KB_INDEX_DIR": str(work / "kb-index"),
        }
        python = str(ROOT / ".venv" / "bin" / "python")
        subprocess.run(
            [
                python,
                "-m",
                "handoff.agents_cli",
                "add",
                "maya@kestrel.example",
                "Maya",
                "--role",
                "editor",
                "--password-env",
                "PW",
            ],
            env={**env, "PW": PASSWORD},
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        hub = subprocess.Popen(
            [python, "-m", "handoff"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{url}/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            asyncio.run(seed(work))
            shoot(url)
        finally:
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(timeout=30)
    return 0


async def seed(work: Path) -> None:
    """A few weeks of figures, so the list shows what it shows in use (made-up numbers), and an
    article with a lint warning (its tags removed in the copy)."""
    from handoff.settings import sqlite_url
    from handoff.store import Store

    store = await Store.open(sqlite_url(work / "hub.sqlite3"))
    try:
        conversation, _ = await store.create_conversation({})
        rng = random.Random(4)
        for article_id in ("activate-card", "card-not-arrived", "card-delivery-time", "card-payment-declined"):
            for _ in range(rng.randint(5, 40)):
                await store.add_kb_query(conversation.id, "question", "answer", article_id, 0.8)
            for _ in range(rng.randint(1, 9)):
                await store.add_article_feedback(conversation.id, article_id, rng.random() < 0.8)
    finally:
        await store.close()
    article = work / "articles" / "atm-support.md"
    text = article.read_text(encoding="utf-8")
    article.write_text("\n".join(line for line in text.split("\n") if not line.startswith("tags:")), encoding="utf-8")


def shoot(url: str) -> None:
    docs = ROOT / "docs"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(f"{url}/studio")
        page.get_by_label("Email").fill("maya@kestrel.example")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#list-status")).to_contain_text("articles")
        page.locator("#filter-category").select_option("cards")
        expect(page.locator("#article-rows tr").first).to_be_visible()
        time.sleep(0.5)
        page.screenshot(path=str(docs / "studio-list.png"))

        page.locator("#article-rows button").first.click()
        expect(page.get_by_label("Title", exact=True)).not_to_have_value("")
        questions = page.get_by_label("Example questions")
        questions.fill(questions.input_value() + "\nmy new card still hasn't come")
        page.get_by_label("A customer asks…").fill("my new card still hasn't come")
        page.get_by_role("button", name="Try it").click()
        expect(page.get_by_test_id("try-draft-result")).to_be_visible(timeout=120_000)
        page.get_by_label("Title", exact=True).fill("")
        page.get_by_role("button", name="Publish").click()
        expect(page.locator("#err-title")).to_be_visible()
        time.sleep(1)
        page.set_viewport_size({"width": 1400, "height": 1500})
        page.screenshot(path=str(docs / "studio-editor.png"), full_page=False)

        help_page = browser.new_context(viewport={"width": 1100, "height": 900}, java_script_enabled=False).new_page()
        help_page.goto(f"{url}/help")
        help_page.screenshot(path=str(docs / "help-center.png"))
        browser.close()
    print("wrote docs/studio-list.png, docs/studio-editor.png, docs/help-center.png")


if __name__ == "__main__":
    raise SystemExit(main())
