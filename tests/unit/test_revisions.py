"""Article revisions, conflicts, suggestions and help-page counters on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from handoff.store import EditConflict, NotFound, Store, migrate
from handoff.store.revisions import diff_lines
from tests.unit.db_fixtures import database_url, store

__all__ = ["database_url", "store"]

V1 = "---\nid: pots\ntitle: Pots\n---\nFirst text.\n"
V2 = "---\nid: pots\ntitle: Pots\n---\nSecond text.\nWith a new line.\n"


async def test_every_save_keeps_the_previous_text_with_who_when_and_why(store: Store) -> None:
    before = time.time()
    first = await store.save_revision("pots", V1, 0, "Alex <alex@k.example>", "first draft", agent_id=1)
    second = await store.save_revision("pots", V2, 1, "Bea <bea@k.example>", "clearer", agent_id=2)
    assert (first.number, second.number) == (1, 2)
    history = await store.history("pots")
    assert [(r.number, r.author, r.message, r.markdown) for r in history] == [
        (2, "Bea <bea@k.example>", "clearer", V2),
        (1, "Alex <alex@k.example>", "first draft", V1),
    ]
    assert all(r.created_at >= before for r in history)
    assert (await store.latest_revision("pots")) == second
    assert await store.latest_revision_numbers() == {"pots": 2}
    assert await store.history("other") == []


async def test_a_save_from_an_old_base_is_refused_with_the_other_change(store: Store) -> None:
    await store.save_revision("pots", V1, 0, "Alex", "start")
    await store.save_revision("pots", V2, 1, "Bea", "Bea's change")
    with pytest.raises(EditConflict) as refused:
        await store.save_revision("pots", V1 + "mine\n", 1, "Alex", "Alex's change")
    assert refused.value.latest.number == 2 and refused.value.latest.author == "Bea"
    assert refused.value.latest.markdown == V2 and "Bea saved revision 2" in str(refused.value)
    assert [r.number for r in await store.history("pots")] == [2, 1]  # nothing overwritten
    with pytest.raises(NotFound):
        await store.save_revision("new-one", V1, 3, "Alex")


async def test_two_saves_of_the_same_base_at_once_have_one_winner(store: Store) -> None:
    await store.save_revision("pots", V1, 0, "Alex")
    outcomes = await asyncio.gather(
        *(store.save_revision("pots", f"{V1}edit {i}\n", 1, f"editor {i}") for i in range(8)),
        return_exceptions=True,
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1 and len(losers) == 7
    assert all(isinstance(o, EditConflict) and o.latest == winners[0] for o in losers)
    assert [r.number for r in await store.history("pots")] == [2, 1]


async def test_a_deletion_is_a_revision_that_a_restore_undoes(store: Store) -> None:
    await store.save_revision("pots", V1, 0, "Alex")
    await store.save_revision("pots", "", 1, "Alex", "retired", deleted=True)
    assert [r.article_id for r in await store.deleted_articles()] == ["pots"]
    kept = await store.revision("pots", 1)
    await store.save_revision("pots", kept.markdown, 2, "Bea", "restored revision 1")
    assert await store.deleted_articles() == []
    assert (await store.latest_revision("pots")).markdown == V1  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.revision("pots", 9)


async def test_diff_between_any_two_revisions(store: Store) -> None:
    await store.save_revision("pots", V1, 0, "Alex")
    await store.save_revision("pots", V2, 1, "Alex")
    lines = await store.diff("pots", 1, 2)
    assert {"kind": "-", "text": "First text."} in lines
    assert {"kind": "+", "text": "Second text."} in lines and {"kind": "+", "text": "With a new line."} in lines
    assert {"kind": " ", "text": "title: Pots"} in lines
    assert await store.diff("pots", 2, 2) == []
    assert diff_lines("a\n", "b\n")[0]["kind"] == "@"


async def test_suggestions_wait_for_an_editor(store: Store) -> None:
    await store.save_revision("pots", V1, 0, "Alex")
    suggestion = await store.add_suggestion("pots", 1, V2, "Bea", "typo", agent_id=2)
    assert [s.id for s in await store.open_suggestions()] == [suggestion.id]
    assert [s.id for s in await store.open_suggestions("pots")] == [suggestion.id]
    await store.close_suggestion(suggestion.id, "published", "Alex")
    assert await store.open_suggestions() == []
    assert (await store.suggestion(suggestion.id)).status == "published"
    with pytest.raises(NotFound):
        await store.close_suggestion(suggestion.id, "dismissed", "Alex")


async def test_article_activity_counts_feedback_answers_and_page_reads(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    await store.add_article_feedback(conversation.id, "pots", True)
    await store.add_article_feedback(conversation.id, "pots", False)
    await store.add_article_feedback(conversation.id, "pots", True)
    await store.add_kb_query(conversation.id, "how do pots work", "answer", "pots", 0.9)
    await store.add_kb_query(conversation.id, "pots?", "suggest", "pots", 0.5)  # not an answer
    await store.add_kb_query(conversation.id, "old one", "answer", "cards", 0.9)
    async with store.write() as conn:  # the cards answer was 40 days ago
        await conn.execute(
            sa.text("UPDATE kb_queries SET created_at = :at WHERE article_id = 'cards'"),
            {"at": time.time() - 40 * 86400},
        )
    await asyncio.gather(*(store.count_help_page("pots", read=1) for _ in range(5)))
    await store.count_help_page("pots", no=1)
    activity = await store.article_activity(since=time.time() - 30 * 86400)
    assert activity["pots"] == {"yes": 2, "no": 2, "answers": 1, "reads": 5}
    assert activity.get("cards", {}).get("answers", 0) == 0


async def test_the_studio_revision_upgrades_a_database_from_before_it(database_url: str) -> None:
    opened = await Store.open(database_url)
    await opened.save_revision("pots", V1, 0, "Alex")
    async with opened.write() as conn:
        for table in ("article_revisions", "article_suggestions", "help_page_stats"):
            await conn.execute(sa.text(f"DROP TABLE {table}"))
        await conn.execute(sa.text("DROP INDEX ix_kb_queries_answers"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0008_email'"))
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        assert await upgraded.history("pots") == []
        await upgraded.save_revision("pots", V1, 0, "Alex")
        async with upgraded.read() as conn:
            assert await conn.run_sync(migrate.current_revision) == migrate.head()
    finally:
        await upgraded.close()
