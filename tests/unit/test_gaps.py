"""Content gaps: real store rows → clustered questions, most frequent first."""

from __future__ import annotations

from knowledge_base.gaps import cluster_questions
from tests.unit.db_fixtures import database_url, store


async def test_unanswered_and_unhelpful_questions_are_collected(store) -> None:
    conversation, _ = await store.create_conversation({})
    await store.add_kb_query(conversation.id, "can I buy crypto with kestrel", "none", None, 0.2)
    await store.add_kb_query(conversation.id, "when does my card arrive", "answer", "card-delivery", 0.9)
    await store.add_kb_query(conversation.id, "how long is delivery to Norway", "answer", "card-delivery-time", 0.7)
    await store.add_article_feedback(conversation.id, "card-delivery-time", False)
    assert sorted(await store.unanswered_questions()) == [
        "can I buy crypto with kestrel",
        "how long is delivery to Norway",
    ]


def test_questions_cluster_by_meaning_most_frequent_first(embedder) -> None:
    questions = [
        "can I buy bitcoin in the app",
        "buying bitcoin in the app",
        "is it possible to purchase bitcoin",
        "how do I get a metal card",
        "where can I order a metal card",
        "can I pay my council tax",
    ]
    clusters = cluster_questions(questions, embedder)
    assert [c.size for c in clusters] == [3, 2, 1]
    assert set(clusters[0].questions) == {
        "can I buy bitcoin in the app",
        "buying bitcoin in the app",
        "is it possible to purchase bitcoin",
    }
    assert clusters[2].questions == ["can I pay my council tax"]


async def test_the_gaps_command_reads_the_hubs_store(tmp_path) -> None:
    """`supportbot-gaps` (a hub command since the knowledge base stopped importing the hub)."""
    import os
    import subprocess
    import sys

    from handoff.settings import sqlite_url
    from handoff.store import Store

    url = sqlite_url(tmp_path / "hub.sqlite3")
    store = await Store.open(url)
    conversation, _ = await store.create_conversation({})
    for question in ("can I buy bitcoin", "buying bitcoin in the app", "do you do crypto"):
        await store.add_kb_query(conversation.id, question, "none", None, 0.1)
    await store.close()
    done = subprocess.run(
        [sys.executable, "-m", "handoff.gaps_cli", "--days", "1"],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": url, "HF_HUB_OFFLINE": "1"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("3 questions in the last 1 days") and "bitcoin" in done.stdout
