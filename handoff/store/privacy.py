"""What the hub holds about a customer: found by email, exported, erased, and emptied by retention.

Erasure deletes rows: nothing of the conversation is left. Retention anonymises instead: it empties
every text, name, email and metadata but keeps the rows the metrics count (a message's sender and
time, a handoff's reason and timings, a rating's score), so the dashboard's past days do not change.
The one figure that needs an email, first-contact resolution, is rolled up into each resolved
handoff (`fcr_returned`) before the email goes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.ownership import State
from handoff.store import schema as T
from handoff.store.db import Database

#: the tables that hold a conversation's rows, children before the conversation itself
CONVERSATION_TABLES: tuple[sa.Table, ...] = (
    T.kb_queries,
    T.article_feedback,
    T.ratings,
    T.handoffs,
    T.messages,
    T.mail_outbox,
    T.conversation_tokens,
    T.conversations,
)
#: a conversation someone is still working on is never emptied, however old
OPEN_STATES = (State.QUEUED.value, State.AGENT.value)
#: ids per IN (…) list: well under SQLite's and asyncpg's bound-parameter limits
ID_CHUNK = 500

#: decides, for one resolved handoff, whether the customer came back within the window
CameBack = Callable[[dict[str, Any]], bool]


def _chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[start : start + ID_CHUNK] for start in range(0, len(ids), ID_CHUNK)]


def _row(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


class PrivacyStore(Database):
    # --- finding a customer -------------------------------------------------------------------

    async def conversation_ids_for_email(self, email: str) -> list[str]:
        """Every conversation whose customer gave or was verified with this email (any case)."""
        c = T.conversations
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(c.c.id).where(sa.func.lower(c.c.customer_email) == email.strip().lower()).order_by(c.c.id)
            )
            return [str(r.id) for r in rows]

    async def existing_conversation_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self.read() as conn:
            for chunk in _chunks(list(ids)):
                rows = await conn.execute(sa.select(T.conversations.c.id).where(T.conversations.c.id.in_(chunk)))
                found.update(str(r.id) for r in rows)
        return found

    # --- export -----------------------------------------------------------------------------

    async def export_conversations(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Everything stored about these conversations, one dict each (the access request's body)."""
        exported: list[dict[str, Any]] = []
        async with self.read() as conn:
            for conversation_id in ids:
                row = (
                    await conn.execute(sa.select(T.conversations).where(T.conversations.c.id == conversation_id))
                ).first()
                if row is None:
                    continue
                conversation = _row(row)
                conversation.pop("token_hash")
                conversation["metadata"] = conversation.pop("metadata_json")
                for name, table, order in (
                    ("messages", T.messages, T.messages.c.seq),
                    ("handoffs", T.handoffs, T.handoffs.c.id),
                    ("ratings", T.ratings, T.ratings.c.id),
                    ("article_feedback", T.article_feedback, T.article_feedback.c.id),
                    ("knowledge_base_questions", T.kb_queries, T.kb_queries.c.id),
                    ("emails", T.mail_outbox, T.mail_outbox.c.id),
                ):
                    rows = await conn.execute(
                        sa.select(table).where(table.c.conversation_id == conversation_id).order_by(order)
                    )
                    conversation[name] = [self._exported_row(name, _row(r)) for r in rows]
                exported.append(conversation)
        return exported

    @staticmethod
    def _exported_row(name: str, row: dict[str, Any]) -> dict[str, Any]:
        """Internal bookkeeping left out; what the customer said, was told and gave stays."""
        row.pop("conversation_id", None)
        internal = {
            "messages": ("id", "client_id", "bot_text", "bot_pending"),
            "emails": ("id", "attempts", "next_attempt_at", "last_error"),
        }
        for key in internal.get(name, ()):
            row.pop(key, None)
        return row

    # --- erasure ----------------------------------------------------------------------------

    async def erase_conversations(self, ids: Sequence[str]) -> dict[str, int]:
        """Delete every row of these conversations in one transaction; rows removed per table.
        Safe to re-run: a second run removes nothing and says so."""
        removed = {table.name: 0 for table in CONVERSATION_TABLES}
        async with self.write() as conn:
            for chunk in _chunks(list(ids)):
                for table in CONVERSATION_TABLES:
                    column = table.c.id if table is T.conversations else table.c.conversation_id
                    result = await conn.execute(table.delete().where(column.in_(chunk)))
                    removed[table.name] += int(result.rowcount or 0)
        return removed

    # --- retention --------------------------------------------------------------------------

    async def conversations_to_anonymise(self, older_than: float, limit: int) -> list[str]:
        """Up to `limit` conversations without activity since `older_than`, not yet anonymised and
        not waiting for or with a person."""
        c = T.conversations
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(c.c.id)
                .where(c.c.updated_at < older_than, c.c.anonymised_at.is_(None), c.c.state.not_in(OPEN_STATES))
                .order_by(c.c.updated_at)
                .limit(limit)
            )
            return [str(r.id) for r in rows]

    async def resolved_handoffs_to_roll_up(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """The resolved handoffs of these conversations whose first-contact outcome is not rolled up."""
        h = T.handoffs
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(h.c.id, h.c.conversation_id, h.c.resolved_at, T.conversations.c.customer_email)
                .select_from(h.join(T.conversations, T.conversations.c.id == h.c.conversation_id))
                .where(h.c.conversation_id.in_(list(ids)), h.c.status == "resolved", h.c.fcr_returned.is_(None))
            )
            return [_row(r) for r in rows]

    async def handoffs_queued_between(
        self, start: float, end: float, emails: set[str], conversation_ids: set[str]
    ) -> list[dict[str, Any]]:
        """Handoffs queued in [start, end] in these conversations or of these customers (by
        email), for the first-contact roll-up."""
        h, c = T.handoffs, T.conversations
        same_customer: sa.ColumnElement[bool] = h.c.conversation_id.in_(sorted(conversation_ids))
        if emails:
            same_customer = sa.or_(same_customer, sa.func.lower(c.c.customer_email).in_(sorted(emails)))
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(h.c.id, h.c.conversation_id, h.c.queued_at, c.c.customer_email)
                .select_from(h.join(c, c.c.id == h.c.conversation_id))
                .where(h.c.queued_at >= start, h.c.queued_at <= end, same_customer)
            )
            return [_row(r) for r in rows]

    async def anonymise_conversations(self, ids: Sequence[str], fcr_returned: dict[int, bool]) -> dict[str, int]:
        """Empty these conversations' texts and personal details in one transaction, after writing
        each resolved handoff's first-contact outcome; counts per table."""
        if not ids:
            return {}
        now = time.time()
        ids = list(ids)
        counts: dict[str, int] = {}
        async with self.write() as conn:
            for handoff_id, returned in fcr_returned.items():
                await conn.execute(
                    T.handoffs.update().where(T.handoffs.c.id == handoff_id).values(fcr_returned=returned)
                )
            counts["messages"] = await self._update(
                conn, T.messages, ids, text="", payload=None, bot_text=None, bot_pending=False
            )
            counts["handoffs"] = await self._update(conn, T.handoffs, ids, headline="", summary="", details={})
            counts["ratings"] = await self._update(conn, T.ratings, ids, comment="")
            counts["kb_queries"] = await self._update(conn, T.kb_queries, ids, question="")
            await conn.execute(  # nothing of an emptied conversation is mailed any more
                T.mail_outbox.update()
                .where(T.mail_outbox.c.conversation_id.in_(ids), T.mail_outbox.c.status == "pending")
                .values(status="skipped")
            )
            counts["mail_outbox"] = await self._update(
                conn, T.mail_outbox, ids, recipient="", message=None, last_error=None
            )
            # the keys minted for links in emails go with the widget's own
            result = await conn.execute(
                T.conversation_tokens.delete().where(T.conversation_tokens.c.conversation_id.in_(ids))
            )
            counts["conversation_tokens"] = int(result.rowcount or 0)
            result = await conn.execute(
                T.conversations.update()
                .where(T.conversations.c.id.in_(ids), T.conversations.c.anonymised_at.is_(None))
                .values(
                    anonymised_at=now,
                    customer_name=None,
                    customer_email=None,
                    metadata_json={},
                    email_bounce_reason=None,
                    # the widget's token stops working: there is nothing left to show it
                    token_hash=sa.literal("anonymised:") + T.conversations.c.id,
                )
            )
            counts["conversations"] = int(result.rowcount or 0)
        return counts

    @staticmethod
    async def _update(conn: AsyncConnection, table: sa.Table, ids: list[str], **values: Any) -> int:
        result = await conn.execute(table.update().where(table.c.conversation_id.in_(ids)).values(**values))
        return int(result.rowcount or 0)
