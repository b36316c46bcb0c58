"""Conversations and their messages: tokens, sequence numbers, replay, pending bot turns.

Private notes are messages whose sender is `NOTE_SENDER`: they take a sequence number like any
message (so the inbox's transcript pages them in place) but every read that can reach a customer
(the widget's replay, transcript and reply emails) leaves them out unless the caller asks for
them with `include_notes=True`, which only the inbox does.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.contract import NOTE_SENDER
from handoff.ownership import State
from handoff.store import schema as T
from handoff.store.db import Database
from handoff.store.errors import NotFound
from handoff.store.records import (
    Conversation,
    StoredMessage,
    _conversation,
    hash_token,
)


def _customer_visible(where: Any, include_notes: bool) -> Any:
    return where if include_notes else sa.and_(where, T.messages.c.sender != NOTE_SENDER)


class ConversationStore(Database):
    # --- conversations and messages -------------------------------------------------------

    async def create_conversation(self, metadata: dict[str, Any]) -> tuple[Conversation, str]:
        token = secrets.token_urlsafe(32)
        now = time.time()
        row: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "token_hash": hash_token(token),
            "state": State.BOT.value,
            "last_seq": 0,
            "customer_name": metadata.get("name"),
            "customer_email": metadata.get("email"),
            "metadata_json": metadata,
            "created_at": now,
            "updated_at": now,
        }
        async with self.write() as conn:
            await conn.execute(T.conversations.insert().values(**row))
        return Conversation(row["id"], State.BOT, 0, row["customer_name"], row["customer_email"], metadata, now), token

    async def conversation_by_token(self, token: str) -> Conversation | None:
        """The conversation a key opens: the widget's first token, or one minted for a signed
        link from an email (`add_conversation_token`)."""
        hashed = hash_token(token)
        minted = sa.select(T.conversation_tokens.c.conversation_id).where(T.conversation_tokens.c.token_hash == hashed)
        async with self.read() as conn:
            row = (
                await conn.execute(
                    sa.select(T.conversations).where(
                        sa.or_(T.conversations.c.token_hash == hashed, T.conversations.c.id.in_(minted))
                    )
                )
            ).first()
        return _conversation(row) if row else None

    async def add_conversation_token(self, conversation_id: str) -> str:
        """A fresh key to the conversation (stored hashed, like the first one): what a signed link
        from an email is exchanged for, so the link itself never has to carry a lasting key."""
        token = secrets.token_urlsafe(32)
        async with self.write() as conn:
            await conn.execute(
                T.conversation_tokens.insert().values(
                    token_hash=hash_token(token), conversation_id=conversation_id, created_at=time.time()
                )
            )
        return token

    async def get_conversation(self, conversation_id: str) -> Conversation:
        async with self.read() as conn:
            row = (
                await conn.execute(sa.select(T.conversations).where(T.conversations.c.id == conversation_id))
            ).first()
        if row is None:
            raise NotFound(f"conversation {conversation_id} does not exist")
        return _conversation(row)

    async def append_message(
        self,
        conversation_id: str,
        sender: str,
        text: str,
        payload: dict[str, Any] | None = None,
        client_id: str | None = None,
        agent_id: int | None = None,
        bot_text: str | None = None,
    ) -> tuple[StoredMessage, bool]:
        """Store a message under the next sequence number; a repeated client_id returns the
        stored one (False) instead of storing it twice. With `bot_text` the message is a pending
        bot turn (see `pending_bot_turns`) in the same transaction, so a crash cannot lose it.

        A repeat is found by the unique (conversation, client_id) constraint, not looked up first:
        repeats are rare (a resend after a dropped connection), and a look-up cost every customer
        message a round trip before its ack."""
        try:
            async with self.write() as conn:
                stored = await self._append(conn, conversation_id, sender, text, payload, client_id, agent_id, bot_text)
        except IntegrityError:
            if client_id:
                existing = await self._by_client_id(conversation_id, client_id)
                if existing is not None:
                    return existing, False
            raise
        return stored, True

    async def _append(
        self,
        conn: AsyncConnection,
        conversation_id: str,
        sender: str,
        text: str,
        payload: dict[str, Any] | None = None,
        client_id: str | None = None,
        agent_id: int | None = None,
        bot_text: str | None = None,
    ) -> StoredMessage:
        """`append_message` inside the caller's transaction (a claim stores its "joined" message with it)."""
        now = time.time()
        seq = (
            await conn.execute(
                T.conversations.update()
                .where(T.conversations.c.id == conversation_id)
                .values(last_seq=T.conversations.c.last_seq + 1, updated_at=now)
                .returning(T.conversations.c.last_seq)
            )
        ).scalar_one_or_none()
        if seq is None:
            raise NotFound(f"conversation {conversation_id} does not exist")
        await conn.execute(
            T.messages.insert().values(
                conversation_id=conversation_id,
                seq=seq,
                sender=sender,
                text=text,
                payload=payload,
                client_id=client_id,
                agent_id=agent_id,
                created_at=now,
                bot_text=bot_text,
                bot_pending=bot_text is not None,
            )
        )
        agent_name = None
        if agent_id is not None:
            agent_name = (
                await conn.execute(sa.select(T.agents.c.name).where(T.agents.c.id == agent_id))
            ).scalar_one_or_none()
        return StoredMessage(conversation_id, seq, sender, text, payload, client_id, now, agent_name)

    async def _by_client_id(self, conversation_id: str, client_id: str) -> StoredMessage | None:
        rows = await self._messages(
            sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.client_id == client_id)
        )
        return rows[0] if rows else None

    async def messages_after(
        self, conversation_id: str, after_seq: int = 0, limit: int = 1000, include_notes: bool = False
    ) -> list[StoredMessage]:
        """Up to `limit` messages after `after_seq`, oldest first (page through longer ones);
        private notes only with `include_notes` (the inbox's)."""
        where = sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.seq > after_seq)
        return await self._messages(_customer_visible(where, include_notes), limit)

    async def messages_before(
        self, conversation_id: str, before_seq: int | None, limit: int, include_notes: bool = False
    ) -> list[StoredMessage]:
        """The `limit` messages just before `before_seq` (None: the latest ones), oldest first;
        private notes only with `include_notes` (the inbox's)."""
        where = T.messages.c.conversation_id == conversation_id
        if before_seq is not None:
            where = sa.and_(where, T.messages.c.seq < before_seq)
        where = _customer_visible(where, include_notes)
        return list(reversed(await self._messages(where, limit, newest_first=True)))

    async def latest_transfer_note(self, conversation_id: str, limit: int = 200) -> StoredMessage | None:
        """The newest note written with a transfer (its payload names who passed it to whom)
        among the last `limit` notes: what the receiving agent is shown first."""
        where = sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.sender == NOTE_SENDER)
        for note in await self._messages(where, limit, newest_first=True):
            if isinstance((note.payload or {}).get("transfer"), dict):
                return note
        return None

    async def pending_bot_texts(self, conversation_id: str, up_to: int | None = None) -> list[tuple[int, str]]:
        """The conversation's pending bot turns (up to seq `up_to`), oldest first: (seq, what
        Rasa should get)."""
        where = sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.bot_pending.is_(True))
        if up_to is not None:
            where = sa.and_(where, T.messages.c.seq <= up_to)
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.messages.c.seq, T.messages.c.bot_text).where(where).order_by(T.messages.c.seq)
                )
            ).all()
        return [(seq, text) for seq, text in rows if text is not None]

    async def finish_bot_turn(self, conversation_id: str, seq: int) -> None:
        async with self.write() as conn:
            await conn.execute(
                T.messages.update()
                .where(T.messages.c.conversation_id == conversation_id, T.messages.c.seq == seq)
                .values(bot_pending=False)
            )

    async def pending_bot_turns(self, stored_before: float | None = None) -> dict[str, list[int]]:
        """Customer messages stored and acked but never handled (the hub stopped before Rasa
        answered): each conversation's, in order; only those stored before `stored_before`
        when given."""
        where: sa.ColumnElement[bool] = T.messages.c.bot_pending.is_(True)
        if stored_before is not None:
            where = sa.and_(where, T.messages.c.created_at < stored_before)
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.messages.c.conversation_id, T.messages.c.seq)
                    .where(where)
                    .order_by(T.messages.c.conversation_id, T.messages.c.seq)
                )
            ).all()
        pending: dict[str, list[int]] = {}
        for conversation_id, seq in rows:
            pending.setdefault(conversation_id, []).append(seq)
        return pending

    async def offered_buttons(self, conversation_id: str) -> list[dict[str, Any]]:
        """The buttons of the bot's latest message in the conversation: the only button payloads
        a customer may send back (anything else a "button" frame carries is treated as text)."""
        query = (
            sa.select(T.messages.c.payload)
            .where(T.messages.c.conversation_id == conversation_id, T.messages.c.sender == "bot")
            .order_by(T.messages.c.seq.desc())
            .limit(1)
        )
        async with self.read() as conn:
            payload = (await conn.execute(query)).scalar_one_or_none()
        buttons = (payload or {}).get("buttons") if isinstance(payload, dict) else None
        return [b for b in buttons or [] if isinstance(b, dict)]

    async def _messages(self, where: Any, limit: int = 1000, newest_first: bool = False) -> list[StoredMessage]:
        query = (
            sa.select(T.messages, T.agents.c.name.label("agent_name"))
            .select_from(T.messages.outerjoin(T.agents, T.agents.c.id == T.messages.c.agent_id))
            .where(where)
            .order_by(T.messages.c.seq.desc() if newest_first else T.messages.c.seq)
            .limit(limit)
        )
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return [
            StoredMessage(
                r.conversation_id, r.seq, r.sender, r.text, r.payload, r.client_id, r.created_at, r.agent_name
            )
            for r in rows
        ]

    async def set_state(self, conversation_id: str, to: State) -> bool:
        """Move ownership if allowed from the current state; False if it changed under us."""
        async with self.write() as conn:
            return await self._transition(conn, conversation_id, to)
