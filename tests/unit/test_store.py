"""The hub's store on real SQLite and the real PostgreSQL of this machine."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa

from handoff.ownership import State
from handoff.store import (
    AlreadyClaimed,
    Conflict,
    KbQuery,
    NotYours,
    RatingRefused,
    Store,
    StoreError,
    TurnOutcome,
    migrate,
    schema,
)
from tests.unit.db_fixtures import database_url, store


async def _queued(store: Store, reason: str = "customer_request", priority: str = "normal") -> str:
    conversation, _ = await store.create_conversation({})
    assert await store.enqueue_handoff(
        conversation.id, reason, priority, "headline", "summary", {"customer_email": "a@example.com"}
    )
    return conversation.id


async def test_token_is_the_only_key(store: Store) -> None:
    conversation, token = await store.create_conversation({"name": "Ana", "email": "ana@example.com"})
    assert len(token) >= 40
    found = await store.conversation_by_token(token)
    assert found is not None and found.id == conversation.id and found.customer_name == "Ana"
    assert await store.conversation_by_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


async def test_sequence_numbers_and_client_id_dedupe(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    first, created = await store.append_message(conversation.id, "customer", "hello", client_id="c1")
    again, created_again = await store.append_message(conversation.id, "customer", "hello", client_id="c1")
    second, _ = await store.append_message(conversation.id, "bot", "hi there")
    assert (first.seq, created, again.seq, created_again, second.seq) == (1, True, 1, False, 2)
    assert [m.seq for m in await store.messages_after(conversation.id, 1)] == [2]


async def test_concurrent_appends_get_distinct_sequence_numbers(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    results = await asyncio.gather(
        *(store.append_message(conversation.id, "customer", f"m{i}", client_id=f"c{i}") for i in range(30))
    )
    assert sorted(m.seq for m, _ in results) == list(range(1, 31))


async def test_ownership_state_machine(store: Store) -> None:
    conversation, _ = await store.create_conversation({})
    agent = await store.create_agent("a@example.com", "Alex", "hash")
    other = await store.create_agent("b@example.com", "Bea", "hash")
    assert not await store.set_state(conversation.id, State.AGENT)  # bot → agent is not allowed
    assert await store.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {})
    assert await store.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {}) is None
    await store.claim(conversation.id, agent.id)
    assert (await store.get_conversation(conversation.id)).state == State.AGENT
    with pytest.raises(NotYours):
        await store.resolve(conversation.id, other.id)
    await store.release(conversation.id, agent.id)
    assert (await store.get_conversation(conversation.id)).state == State.QUEUED
    await store.claim(conversation.id, other.id)
    handoff = await store.resolve(conversation.id, other.id)
    assert handoff.status == "resolved" and handoff.agent_id == other.id
    assert (await store.get_conversation(conversation.id)).state == State.RESOLVED
    with pytest.raises(Conflict):
        await store.resolve(conversation.id, other.id)
    assert await store.set_state(conversation.id, State.BOT)


async def test_fifty_concurrent_claims_have_exactly_one_winner(store: Store) -> None:
    conversation_id = await _queued(store)
    agents = [await store.create_agent(f"agent{i}@example.com", f"Agent {i}", "hash") for i in range(50)]
    results = await asyncio.gather(*(store.claim(conversation_id, a.id) for a in agents), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyClaimed) for r in results if isinstance(r, BaseException))


async def _claim_in_this_process(database_url: str, conversation_id: str, agent_id: int, start_at: float) -> str:
    store = await Store.open(database_url)
    try:
        await asyncio.sleep(max(0.0, start_at - time.time()))  # every process claims at the same instant
        await store.claim(conversation_id, agent_id)
        return "won"
    except StoreError as exc:
        return exc.code
    finally:
        await store.close()


def claim_from_another_process(database_url: str, conversation_id: str, agent_id: int, start_at: float) -> str:
    return asyncio.run(_claim_in_this_process(database_url, conversation_id, agent_id, start_at))


async def test_claims_from_separate_processes_have_one_winner_and_a_consistent_end(
    store: Store, database_url: str
) -> None:
    """Separate processes, so SQLite's in-process write lock cannot serialise them: the database does."""
    conversation_id = await _queued(store)
    agents = [await store.create_agent(f"proc{i}@example.com", f"Agent {i}", "hash") for i in range(6)]
    start_at = time.time() + 8  # after every process has started and opened the store
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(len(agents), mp_context=multiprocessing.get_context("spawn")) as pool:
        results = await asyncio.gather(
            *(
                loop.run_in_executor(pool, claim_from_another_process, database_url, conversation_id, a.id, start_at)
                for a in agents
            )
        )
    assert sorted(results) == ["already_claimed"] * 5 + ["won"]
    winner = agents[results.index("won")]
    handoff = await store.open_handoff(conversation_id)
    assert handoff is not None and handoff.status == "claimed" and handoff.agent_id == winner.id
    assert (await store.get_conversation(conversation_id)).state == State.AGENT


async def test_release_and_resolve_at_once_leave_a_consistent_conversation(store: Store) -> None:
    """Before: 34 of 60 tries on PostgreSQL left a queued conversation with a resolved handoff."""
    agent = await store.create_agent("racer@example.com", "Racer", "hash")
    for _ in range(15):
        conversation_id = await _queued(store)
        await store.claim(conversation_id, agent.id)
        results = await asyncio.gather(
            store.release(conversation_id, agent.id),
            store.resolve(conversation_id, agent.id),
            store.resolve(conversation_id, agent.id),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1, results
        assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException)), results
        state = (await store.get_conversation(conversation_id)).state
        handoff = await store.latest_handoff(conversation_id)
        assert handoff is not None
        assert (state, handoff.status) in {(State.QUEUED, "queued"), (State.RESOLVED, "resolved")}


async def test_queue_order_is_priority_then_age_and_positions_follow(store: Store) -> None:
    first = await _queued(store)
    second = await _queued(store)
    urgent = await _queued(store, "sensitive_topic", "high")
    items = await store.queue_items()
    assert [i.conversation_id for i in items] == [urgent, first, second]
    assert [await store.queue_position(c) for c in (urgent, first, second)] == [1, 2, 3]
    agent = await store.create_agent("a@example.com", "Alex", "hash")
    await store.claim(urgent, agent.id)
    assert [await store.queue_position(c) for c in (first, second)] == [1, 2]
    assert await store.queue_position(urgent) is None
    assert len(await store.recent_claim_waits()) == 1


async def test_sessions_expire_and_can_be_deleted(store: Store) -> None:
    agent = await store.create_agent("a@example.com", "Alex", "hash")
    token = await store.create_session(agent.id, ttl_seconds=60)
    assert (await store.agent_for_session(token)).id == agent.id
    expired = await store.create_session(agent.id, ttl_seconds=-1)
    assert await store.agent_for_session(expired) is None
    await store.delete_session(token)
    assert await store.agent_for_session(token) is None


async def test_one_rating_per_resolved_handoff(store: Store) -> None:
    agent = await store.create_agent("a@example.com", "Alex", "hash")
    conversation, _ = await store.create_conversation({})
    with pytest.raises(RatingRefused, match="nothing to rate"):
        await store.add_rating(conversation.id, 1, "never handed off")
    await store.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {})
    await store.claim(conversation.id, agent.id)
    with pytest.raises(RatingRefused, match="nothing to rate"):
        await store.add_rating(conversation.id, 1, "still with a person")
    await store.resolve(conversation.id, agent.id)
    # Many at once (a double click, a script): exactly one is stored.
    results = await asyncio.gather(
        *(store.add_rating(conversation.id, 4, "quick", 5) for _ in range(10)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, RatingRefused) for r in results if r is not None)
    await store.add_article_feedback(conversation.id, "card-delivery", True)
    assert [(r.score, r.comment, r.ces) for r in await store.ratings_for(conversation.id)] == [(4, "quick", 5)]


async def test_migrations_run_once_and_keep_data(database_url: str) -> None:
    first = await Store.open(database_url)
    conversation, token = await first.create_conversation({})
    await first.close()
    reopened = await Store.open(database_url)
    try:
        assert (await reopened.conversation_by_token(token)).id == conversation.id
    finally:
        await reopened.close()


async def test_a_database_from_before_alembic_is_adopted_and_keeps_its_data(database_url: str) -> None:
    """A database the hub's own migration runner left at version 5 (schema_migrations, no
    alembic_version) is stamped at revision 0005, upgraded to the head, and keeps every row."""
    opened = await Store.open(database_url)
    conversation, token = await opened.create_conversation({"name": "Ana"})
    await opened.append_message(conversation.id, "customer", "hello", client_id="c1")
    async with opened.write() as conn:
        await conn.execute(sa.text("DROP TABLE alembic_version"))
        await conn.execute(sa.text("DROP INDEX ix_messages_bot_pending"))
        await conn.execute(sa.text("ALTER TABLE messages DROP COLUMN bot_pending"))
        await conn.execute(sa.text("ALTER TABLE messages DROP COLUMN bot_text"))
        await conn.execute(
            sa.text("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at FLOAT NOT NULL)")
        )
        await conn.execute(sa.text("INSERT INTO schema_migrations VALUES (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)"))
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        found = await upgraded.conversation_by_token(token)
        assert found is not None and found.customer_name == "Ana"
        assert [m.text for m in await upgraded.messages_after(conversation.id)] == ["hello"]
        await upgraded.append_message(conversation.id, "customer", "and now?", client_id="c2", bot_text="and now?")
        assert await upgraded.pending_bot_turns() == {conversation.id: [2]}
        async with upgraded.read() as conn:
            assert await conn.run_sync(migrate.current_revision) == migrate.head()
    finally:
        await upgraded.close()


async def test_a_bot_turn_is_stored_and_marked_in_one_transaction(store: Store) -> None:
    """The turn's pending message with its conversation in one read; the bot's messages (next
    seqs, in order), the knowledge-base outcome, feedback and the turn's mark in one write."""
    conversation, _ = await store.create_conversation({"name": "Ana"})
    question, _ = await store.append_message(conversation.id, "customer", "card?", client_id="c1", bot_text="card?")
    seq, text, current = await store.first_pending_turn(conversation.id, up_to=question.seq) or (0, "", None)
    assert (seq, text) == (question.seq, "card?") and current is not None and current.customer_name == "Ana"
    outcome = TurnOutcome(
        messages=[("Five to seven days.", {"article": {"id": "card-delivery"}}), ("Did that help?", None)],
        kb_queries=[KbQuery("card?", "answer", "card-delivery", 0.8)],
        feedback=[("card-delivery", True)],
    )
    stored = await store.store_bot_turn(conversation.id, outcome, finishes=question.seq)
    assert [(m.seq, m.sender, m.text) for m in stored] == [
        (2, "bot", "Five to seven days."),
        (3, "bot", "Did that help?"),
    ]
    assert [(m.seq, m.payload) for m in await store.messages_after(conversation.id, 1)] == [
        (2, {"article": {"id": "card-delivery"}}),
        (3, None),
    ]
    assert await store.first_pending_turn(conversation.id, up_to=question.seq) is None
    assert await store.pending_bot_turns() == {}
    assert (await store.get_conversation(conversation.id)).last_seq == 3
    async with store.read() as conn:
        kb = (await conn.execute(sa.select(schema.kb_queries.c.question, schema.kb_queries.c.tier))).all()
        feedback = (await conn.execute(sa.select(schema.article_feedback.c.helpful))).scalars().all()
    assert [tuple(r) for r in kb] == [("card?", "answer")] and list(feedback) == [True]
    after, _ = await store.append_message(conversation.id, "customer", "thanks", client_id="c2", bot_text="thanks")
    assert after.seq == 4
