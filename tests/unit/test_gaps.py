"""Content gaps: real store rows → clustered questions, most frequent first."""

from __future__ import annotations

from knowledge_base.gaps import cluster_questions
from tests.unit.db_fixtures import database_url, store  # noqa: F401


async def test_unanswered_and_unhelpful_questions_are_collected(store) -> None:  # noqa: ANN001, F811
    conversation, _ = await store.create_conversation({})
    await store.add_kb_query(conversation.id, "can I buy crypto with kestrel", "none", None, 0.2)
    await store.add_kb_query(conversation.id, "when does my card arrive", "answer", "card-delivery", 0.9)
    await store.add_kb_query(conversation.id, "how long is delivery to Norway", "answer", "card-delivery-time", 0.7)
    await store.add_article_feedback(conversation.id, "card-delivery-time", False)
    assert sorted(await store.unanswered_questions()) == ["can I buy crypto with kestrel", "how long is delivery to Norway"]


def test_questions_cluster_by_meaning_most_frequent_first(embedder) -> None:  # noqa: ANN001
    questions = [
        "can I buy bitcoin in the app", "buying bitcoin in the app", "is it possible to purchase bitcoin",
        "how do I get a metal card", "where can I order a metal card",
        "can I pay my council tax",
    ]
    clusters = cluster_questions(questions, embedder)
    assert [c.size for c in clusters] == [3, 2, 1]
    assert set(clusters[0].questions) == {"can I buy bitcoin in the app", "buying bitcoin in the app", "is it possible to purchase bitcoin"}
    assert clusters[2].questions == ["can I pay my council tax"]
