"""The agent desk's conversation search (issue #15): the store on SQLite and PostgreSQL (each with
its own full-text index), the search index emptied by retention and erasure, revision 0011 on a
database from before it, and `GET /api/agent/search` through the real hub."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from handoff.app_keys import STORE
from handoff.store import SearchQuery, Store, migrate
from handoff.store import schema as T
from tests.unit.db_fixtures import database_url, store
from tests.unit.hub_fixtures import hub, sign_in, start_conversation

__all__ = ["database_url", "hub", "store"]  # fixtures

DAY = 86400.0


async def _conversation(
    store: Store,
    metadata: dict[str, str],
    messages: list[tuple[str, str]],
    created_at: float | None = None,
    handoff: tuple[str, int | None] | None = None,
) -> str:
    conversation, _ = await store.create_conversation(metadata)
    for sender, text in messages:
        await store.append_message(conversation.id, sender, text)
    if handoff is not None:
        reason, team_id = handoff
        assert await store.enqueue_handoff(conversation.id, reason, "normal", "h", "s", {}, team_id)
    if created_at is not None:
        async with store.write() as conn:
            await conn.execute(
                T.conversations.update().where(T.conversations.c.id == conversation.id).values(created_at=created_at)
            )
    return conversation.id


async def _ids(store: Store, **query: object) -> list[str]:
    return [hit.conversation_id for hit in await store.search_conversations(SearchQuery(**query))]  # type: ignore[arg-type]


async def test_search_by_email_name_reference_words_and_filters(store: Store) -> None:
    cards = await store.create_team("Cards")
    now = time.time()
    robin = await _conversation(
        store,
        {"name": "Robin Customer", "email": "Robin.Customer@Example.com"},
        [("customer", "My transfer TX-12345678 never arrived"), ("bot", "Transfers take a day: see the passage")],
        created_at=now - 40 * DAY,
        handoff=("customer_request", cards.id),
    )
    sam = await _conversation(
        store,
        {"name": "Sam Other"},
        [("customer", "I would like a refund"), ("note", "Refunded once already, ticket 4411")],
        created_at=now - 2 * DAY,
        handoff=("complaint", None),
    )
    quiet = await _conversation(store, {}, [("customer", "hello there")], created_at=now - DAY)

    assert await _ids(store, text="robin.customer@example.COM") == [robin]  # any case
    assert await _ids(store, text="robin.cust") == [robin]  # "robin" and a prefix of "cust…": the name
    assert await _ids(store, text="robin.customer@") == [robin]  # an email's start
    assert await _ids(store, text="Customer robin") == [robin]
    assert await _ids(store, text="TX-12345678") == [robin]
    assert await _ids(store, text="tx 12345678") == [robin]
    assert await _ids(store, text="4411") == [sam]  # notes are searched: only agents search
    assert await _ids(store, text="refu") == [sam]  # the last word is a prefix, as the agent types
    assert await _ids(store, text="passage") == []  # the bot's text is not indexed
    assert await _ids(store, text="refund TX") == []  # every word in one message
    assert await _ids(store, text="%") == [quiet, sam, robin]  # no words: the newest conversations

    hits = await store.search_conversations(SearchQuery(text="arrived"))
    assert [(h.matched, h.snippet) for h in hits] == [("message", "My transfer TX-12345678 never arrived")]
    assert hits[0].handoff == {
        "reason": "customer_request",
        "priority": "normal",
        "status": "queued",
        "team": {"id": cards.id, "name": "Cards"},
    }
    assert (await store.search_conversations(SearchQuery(text="Sam")))[0].matched == "name"

    assert await _ids(store, state="queued") == [sam, robin]
    assert await _ids(store, state="bot") == [quiet]
    assert await _ids(store, reason="complaint") == [sam]
    assert await _ids(store, team_id=cards.id) == [robin]
    assert await _ids(store, general_queue=True) == [sam]
    assert await _ids(store, text="refund", state="bot") == []
    assert await _ids(store, started_from=now - 3 * DAY) == [quiet, sam]
    assert await _ids(store, started_before=now - 3 * DAY) == [robin]
    assert await _ids(store, limit=1) == [quiet]


async def _indexed_words(store: Store) -> set[str]:
    """Every word the full-text index still holds (SQLite: FTS5's vocabulary; PostgreSQL: the
    lexemes of every stored tsvector)."""
    async with store.write() as conn:
        if store.is_sqlite:
            await conn.execute(
                sa.text("CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, messages_fts, 'row')")
            )
            return {row[0] for row in await conn.execute(sa.text("SELECT term FROM temp.vocab"))}
        words = set()
        for column, table in (("search_vector", "messages"), ("name_vector", "conversations")):
            rows = await conn.execute(sa.text(f"SELECT unnest(tsvector_to_array({column})) FROM {table}"))
            words |= {row[0] for row in rows}
        return words


async def test_retention_and_erasure_empty_the_search_index(store: Store) -> None:
    kept = await _conversation(store, {"name": "Kept"}, [("customer", "keepsake words")])
    old = await _conversation(
        store, {"name": "Olga Old"}, [("customer", "oldword TX-99990000"), ("agent", "agentword")]
    )
    erased = await _conversation(store, {"email": "eve@example.com"}, [("customer", "erasedword")])
    before = await _indexed_words(store)
    assert {"oldword", "agentword", "erasedword", "keepsake"} <= before
    assert store.is_sqlite or "olga" in before  # PostgreSQL indexes names too

    await store.anonymise_conversations([old], {})
    await store.erase_conversations([erased])
    for text in ("oldword", "agentword", "TX-99990000", "erasedword", "Olga", "eve@example.com"):
        assert await _ids(store, text=text) == [], text
    left = await _indexed_words(store)
    assert not {"oldword", "agentword", "99990000", "erasedword", "olga"} & left, left
    assert "keepsake" in left and await _ids(store, text="keepsake") == [kept]


async def test_revision_0011_indexes_a_database_from_before_it(database_url: str) -> None:
    opened = await Store.open(database_url)
    conversation, _ = await opened.create_conversation({})
    await opened.append_message(conversation.id, "customer", "beforeword in an old message")
    async with opened.write() as conn:
        if opened.is_sqlite:
            for trigger in ("insert", "delete", "update"):
                await conn.execute(sa.text(f"DROP TRIGGER messages_fts_{trigger}"))
            await conn.execute(sa.text("DROP TABLE messages_fts"))
        else:
            await conn.execute(sa.text("ALTER TABLE messages DROP COLUMN search_vector"))
            await conn.execute(sa.text("ALTER TABLE conversations DROP COLUMN name_vector"))
        await conn.execute(sa.text("DROP INDEX ix_conversations_created"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0010_desk'"))
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        assert await _ids(upgraded, text="beforeword") == [conversation.id]
        await upgraded.append_message(conversation.id, "customer", "afterword")
        assert await _ids(upgraded, text="afterword") == [conversation.id]
        async with upgraded.read() as conn:
            assert await conn.run_sync(migrate.current_revision) == migrate.head()
    finally:
        await upgraded.close()


async def test_the_search_api_needs_an_agent_and_checks_its_query(hub: TestClient) -> None:
    conversation = await start_conversation(hub, {"name": "Ana Pereira", "email": "ana@example.com"})
    cid = conversation["conversation_id"]
    await hub.app[STORE].append_message(cid, "customer", "card blocked at the ATM")
    assert (await hub.get("/api/agent/search?q=card")).status == 401
    await sign_in(hub)
    found = await (await hub.get("/api/agent/search?q=bloc")).json()
    assert [(r["conversation_id"], r["matched"], r["snippet"]) for r in found["results"]] == [
        (cid, "message", "card blocked at the ATM")
    ]
    assert found["results"][0]["customer"] == {"name": "Ana Pereira", "email": "ana@example.com"}
    today = datetime.now(tz=UTC).date().isoformat()
    dated = await (await hub.get(f"/api/agent/search?q=ana@example.com&from={today}&to={today}&state=bot")).json()
    assert [r["matched"] for r in dated["results"]] == ["email"]
    assert (await (await hub.get("/api/agent/search?from=2020-01-01&to=2020-01-02")).json())["results"] == []
    for bad in (
        "state=open",
        "team=everyone",
        "team=²",
        "reason=Not-A-Reason",
        "from=2026-13-01",
        "from=2026-02-02&to=2026-02-01",
        "to=9999-12-31",
        "limit=0",
        "limit=101",
        "q=" + "x" * 201,
    ):
        response = await hub.get(f"/api/agent/search?{bad}")
        assert response.status == 400, bad
        assert (await response.json())["error"]["code"] == "malformed"
