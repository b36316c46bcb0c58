"""Ratings (one per resolved handoff), article feedback and the questions kept for content gaps."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from handoff.store import schema as T
from handoff.store.errors import RatingRefused
from handoff.store.queue import QueueStore
from handoff.store.records import Rating


class FeedbackStore(QueueStore):
    # --- ratings and feedback ---------------------------------------------------------------

    async def add_rating(self, conversation_id: str, score: int, comment: str, ces: int | None = None) -> None:
        """The customer's rating of the conversation's latest handoff, with the optional
        customer-effort score (1 very difficult .. 5 very easy). One per resolved handoff:
        RatingRefused when there is none to rate or it is rated already (a unique index on
        ratings.handoff_id settles two at once)."""
        latest = await self.latest_handoff(conversation_id)
        if latest is None or latest.status != "resolved":
            raise RatingRefused("there is nothing to rate yet: ratings follow a conversation a person resolved")
        try:
            async with self.write() as conn:
                await conn.execute(
                    T.ratings.insert().values(
                        conversation_id=conversation_id,
                        handoff_id=latest.id,
                        score=score,
                        comment=comment,
                        ces=ces,
                        created_at=time.time(),
                    )
                )
        except IntegrityError:
            raise RatingRefused("this conversation is rated already; thank you") from None

    async def add_article_feedback(self, conversation_id: str, article_id: str, helpful: bool) -> None:
        async with self.write() as conn:
            await conn.execute(
                T.article_feedback.insert().values(
                    conversation_id=conversation_id,
                    article_id=article_id[:100],
                    helpful=helpful,
                    created_at=time.time(),
                )
            )

    async def add_kb_query(
        self, conversation_id: str, question: str, tier: str, article_id: str | None, score: float | None
    ) -> None:
        async with self.write() as conn:
            await conn.execute(
                T.kb_queries.insert().values(
                    conversation_id=conversation_id,
                    question=question[:1000],
                    tier=tier[:10],
                    article_id=article_id[:100] if article_id else None,
                    score=score,
                    created_at=time.time(),
                )
            )

    async def unanswered_questions(self, since: float = 0.0) -> list[str]:
        """Questions that found no answer (tier none), or whose answer was marked not helpful."""
        not_helpful = (
            sa.select(T.kb_queries.c.question)
            .join(
                T.article_feedback,
                sa.and_(
                    T.article_feedback.c.conversation_id == T.kb_queries.c.conversation_id,
                    T.article_feedback.c.article_id == T.kb_queries.c.article_id,
                ),
            )
            .where(T.article_feedback.c.helpful.is_(False), T.kb_queries.c.created_at >= since)
        )
        none_tier = sa.select(T.kb_queries.c.question).where(
            T.kb_queries.c.tier == "none", T.kb_queries.c.created_at >= since
        )
        async with self.read() as conn:
            rows = (await conn.execute(sa.union_all(none_tier, not_helpful))).scalars().all()
        return [str(q) for q in rows if q]  # retention empties old questions

    async def ratings_for(self, conversation_id: str) -> list[Rating]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.ratings).where(T.ratings.c.conversation_id == conversation_id).order_by(T.ratings.c.id)
                )
            ).all()
        return [Rating(r.score, r.comment, r.ces, r.created_at) for r in rows]
