"""The mail parts of the store on SQLite and PostgreSQL: the outbox, minted conversation keys,
email markers, and revision 0008_email on a database from before it."""

from __future__ import annotations

import time

import sqlalchemy as sa

from handoff.store import Store, migrate
from tests.unit.db_fixtures import database_url, store


async def test_the_outbox_keeps_mail_until_it_is_sent(store: Store) -> None:
    conversation, _token = await store.create_conversation({"email": "ana@example.com"})
    now = time.time()
    later = await store.enqueue_mail("reply", "ana@example.com", conversation_id=conversation.id, due_at=now + 3600)
    due = await store.enqueue_mail("team", "team@kestrel.example", message="Subject: x\n\nhi")
    assert [m.id for m in await store.due_mail(now + 1)] == [due]
    assert (await store.pending_mail(conversation.id, "reply")).id == later
    assert await store.next_mail_due_at() <= now + 1
    await store.update_mail(due, status="sent", attempts=1, sent_at=now)
    await store.update_mail(later, attempts=2, next_attempt_at=now - 1, last_error="451 busy")
    assert [(m.id, m.attempts, m.last_error) for m in await store.due_mail(now + 1)] == [(later, 2, "451 busy")]
    assert [m.status for m in await store.outbox()] == ["pending", "sent"]


async def test_a_minted_key_opens_the_same_conversation_and_the_first_key_still_works(store: Store) -> None:
    conversation, first = await store.create_conversation({})
    minted = await store.add_conversation_token(conversation.id)
    assert minted != first
    assert (await store.conversation_by_token(minted)).id == conversation.id
    assert (await store.conversation_by_token(first)).id == conversation.id
    assert await store.conversation_by_token("not-a-key") is None


async def test_email_markers(store: Store) -> None:
    conversation, _ = await store.create_conversation({"email": "ana@example.com"})
    await store.mark_email(conversation.id, "read")  # nothing was emailed: nothing to read
    assert (await store.get_conversation(conversation.id)).email.to_json() is None
    await store.mark_email(conversation.id, "bounced", "550 no such user")
    await store.mark_email(conversation.id, "emailed")  # a delivered email clears the earlier bounce
    await store.note_customer_seen(conversation.id, opened=True)  # coming back reads it
    markers = (await store.get_conversation(conversation.id)).email
    assert markers.emailed_at and markers.read_at and markers.bounced_at is None
    await store.mark_email(conversation.id, "replied")
    assert (await store.get_conversation(conversation.id)).email.replied_at


async def test_revision_0008_upgrades_a_database_from_0007_and_keeps_its_data(database_url: str) -> None:
    opened = await Store.open(database_url)
    conversation, token = await opened.create_conversation({"name": "Ana"})
    async with opened.write() as conn:
        await conn.execute(sa.text("DROP TABLE mail_outbox"))
        await conn.execute(sa.text("DROP TABLE conversation_tokens"))
        for column in ("customer_seen_at", "emailed_at", "email_read_at", "email_replied_at", "email_bounced_at"):
            await conn.execute(sa.text(f"ALTER TABLE conversations DROP COLUMN {column}"))
        await conn.execute(sa.text("ALTER TABLE conversations DROP COLUMN email_bounce_reason"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007_privacy'"))
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        found = await upgraded.conversation_by_token(token)
        assert found is not None and found.customer_name == "Ana" and found.email.to_json() is None
        await upgraded.enqueue_mail("transcript", "ana@example.com", conversation_id=conversation.id, message="x")
        assert (await upgraded.conversation_by_token(await upgraded.add_conversation_token(conversation.id))).id == (
            conversation.id
        )
        async with upgraded.read() as conn:
            assert await conn.run_sync(migrate.current_revision) == migrate.head()
    finally:
        await upgraded.close()
