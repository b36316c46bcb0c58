"""Shared fixtures: real settings objects pointing at temporary folders, the real model."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from knowledge_base.embedding import Embedder
from knowledge_base.settings import KBSettings, default_model_path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def write_article(
    folder: Path,
    article_id: str,
    title: str,
    body: str,
    questions: list[str] | None = None,
    category: str = "cards",
    extra: str = "",
) -> Path:
    lines = [
        "---",
        f"id: {article_id}",
        f"title: {title}",
        f"category: {category}",
        "tags: [test]",
        "updated: 2026-10-01",
        "questions:" + ("" if questions else " []"),
    ]
    lines += [f"  - {q}" for q in questions or []]
    lines += [extra, "---"] if extra else ["---"]
    text = "\n".join(lines) + "\n" + textwrap.dedent(body).strip() + "\n"
    path = folder / f"{article_id}.md"
    path.write_text(text, encoding="utf-8")
    return path


SMALL_CORPUS = {
    "card-delivery": (
        "How long does card delivery take?",
        """
        Standard delivery takes 5 to 7 business days after you order the card.

        ## Express delivery
        Express delivery costs EUR 15 and arrives in 2 to 3 business days.
        """,
        ["When will my card arrive?", "How long until my new card comes?"],
    ),
    "top-up-by-bank-transfer": (
        "Top up by bank transfer",
        """
        Bank transfer top-ups are free and arrive within one business day.

        ## Find your account details
        Open the app, tap Top up, then Bank transfer to see your IBAN.
        """,
        ["How do I add money by bank transfer?", "Where is my IBAN for topping up?"],
    ),
    "exchange-rates": (
        "Exchange rates and fees",
        """
        We use the interbank rate on weekdays.

        ## Weekend markup
        On weekends we add 1 % to cover market moves while markets are closed.
        """,
        ["What exchange rate do you use?", "Is there a fee for changing currency?"],
    ),
    "lost-or-stolen-card": (
        "My card was lost or stolen",
        """
        Freeze your card now: Cards > your card > Freeze.

        ## Then talk to us
        Our security team cancels the card and orders a new one.
        """,
        ["My card was stolen", "I lost my card"],
    ),
}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(default_model_path())


@pytest.fixture
def kb_settings(tmp_path: Path) -> KBSettings:
    articles = tmp_path / "articles"
    articles.mkdir()
    for article_id, (title, body, questions) in SMALL_CORPUS.items():
        extra = "needs_person: true" if article_id.startswith("lost") else ""
        write_article(articles, article_id, title, body, questions, extra=extra)
    return KBSettings(
        articles_dir=articles,
        index_dir=tmp_path / "index",
        model_path=default_model_path(),
        answer_threshold=0.62,
        suggest_threshold=0.45,
        article_base_url="/help",
        extra_questions=None,
        ivf_min_passages=50000,
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """The real Rasa server, action server and hub, started once per test session."""
    from tests.integration.stack import Stack

    running = Stack(tmp_path_factory.mktemp("stack")).start()
    try:
        yield running
    finally:
        running.stop()
