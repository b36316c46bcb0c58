"""A bot turn's reads and writes, as few as a turn can have: its pending message and conversation
in one query, and everything Rasa's answer leaves (the bot's messages, the knowledge-base
outcome, article feedback, the turn's mark) in one transaction.

Before, a turn of a question answered from the knowledge base cost eight round trips through
the database (five of them commits): on SQLite each is a hop to aiosqlite's thread and back,
and on a busy machine those hops were most of the hub's share of a turn.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from handoff.store import schema as T
from handoff.store.errors import NotFound
from handoff.store.feedback import FeedbackStore
from handoff.store.records import Conversation, StoredMessage, _conversation


@dataclass(frozen=True)
class KbQuery:
    """A question as the content-gap report keeps it (masked by the caller)."""

    question: str
    tier: str
    article_id: str | None
    score: float | None


@dataclass
class TurnOutcome:
    """What one bot turn stores: the bot's messages (text, payload), in order, and what it learnt."""

    messages: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    kb_queries: list[KbQuery] = field(default_factory=list)
    feedback: list[tuple[str, bool]] = field(default_factory=list)  # (article id, helpful)


class BotTurnStore(FeedbackStore):
    async def first_pending_turn(self, conversation_id: str, up_to: int) -> tuple[int, str, Conversation] | None:
        """The conversation's oldest turn not yet handled, at or before customer message `up_to`:
        its seq, what Rasa should get, and the conversation as it is now (one read); None when
        every one of them is handled (or the conversation is gone). Usually that is `up_to`
        itself; with several hubs it may be an earlier one that another hub stored and left."""
        query = (
            sa.select(T.messages.c.seq, T.messages.c.bot_text, T.conversations)
            .select_from(T.messages.join(T.conversations, T.conversations.c.id == T.messages.c.conversation_id))
            .where(
                T.messages.c.conversation_id == conversation_id,
                T.messages.c.seq <= up_to,
                T.messages.c.bot_pending.is_(True),
                T.messages.c.bot_text.is_not(None),
            )
            .order_by(T.messages.c.seq)
            .limit(1)
        )
        async with self.read() as conn:
            row = (await conn.execute(query)).first()
        return (row.seq, row.bot_text, _conversation(row)) if row is not None else None

    async def store_bot_turn(
        self, conversation_id: str, outcome: TurnOutcome, finishes: int | None = None
    ) -> list[StoredMessage]:
        """Store the bot's messages under the next sequence numbers, with the knowledge-base
        outcome and feedback, and (with `finishes`) mark that customer message's turn handled,
        all in one transaction: a turn is either wholly answered or still pending."""
        now = time.time()
        stored: list[StoredMessage] = []
        async with self.write() as conn:
            if outcome.messages:
                last = (
                    await conn.execute(
                        T.conversations.update()
                        .where(T.conversations.c.id == conversation_id)
                        .values(last_seq=T.conversations.c.last_seq + len(outcome.messages), updated_at=now)
                        .returning(T.conversations.c.last_seq)
                    )
                ).scalar_one_or_none()
                if last is None:
                    raise NotFound(f"conversation {conversation_id} does not exist")
                first = last - len(outcome.messages) + 1
                stored = [
                    StoredMessage(conversation_id, first + i, "bot", text, payload, None, now)
                    for i, (text, payload) in enumerate(outcome.messages)
                ]
                await conn.execute(
                    T.messages.insert(),
                    [
                        {
                            "conversation_id": conversation_id,
                            "seq": m.seq,
                            "sender": "bot",
                            "text": m.text,
                            "payload": m.payload,
                            "client_id": None,
                            "agent_id": None,
                            "created_at": now,
                            "bot_text": None,
                            "bot_pending": False,
                        }
                        for m in stored
                    ],
                )
            if outcome.kb_queries:
                await conn.execute(
                    T.kb_queries.insert(),
                    [
                        {
                            "conversation_id": conversation_id,
                            "question": q.question[:1000],
                            "tier": q.tier[:10],
                            "article_id": q.article_id[:100] if q.article_id else None,
                            "score": q.score,
                            "created_at": now,
                        }
                        for q in outcome.kb_queries
                    ],
                )
            if outcome.feedback:
                await conn.execute(
                    T.article_feedback.insert(),
                    [
                        {
                            "conversation_id": conversation_id,
                            "article_id": article_id[:100],
                            "helpful": helpful,
                            "created_at": now,
                        }
                        for article_id, helpful in outcome.feedback
                    ],
                )
            if finishes is not None:
                await conn.execute(
                    T.messages.update()
                    .where(T.messages.c.conversation_id == conversation_id, T.messages.c.seq == finishes)
                    .values(bot_pending=False)
                )
        return stored
