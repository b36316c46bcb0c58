"""The raw rows behind the CX metrics and the Prometheus gauges (handoff/metrics/)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from handoff.ownership import State
from handoff.store import schema as T
from handoff.store.db import Database


class MetricsQueries(Database):
    # --- metrics: read by handoff/metrics/ ----------------------------------------------------

    async def metrics_rows(self, start: float, end: float, returns_until: float) -> dict[str, list[dict[str, Any]]]:
        """The raw rows behind the CX metrics of the conversations started in [start, end):
        those conversations (with their customer-message count and last article feedback), their
        handoffs, ratings, article feedback and unanswered questions; and, for first-contact
        resolution, every handoff queued in [start, returns_until) with its customer's email."""
        c, h, f, k = T.conversations, T.handoffs, T.article_feedback, T.kb_queries
        started = sa.and_(c.c.created_at >= start, c.c.created_at < end)
        customer_messages = (
            sa.select(sa.func.count())
            .select_from(T.messages)
            .where(T.messages.c.conversation_id == c.c.id, T.messages.c.sender == "customer")
            .scalar_subquery()
        )
        last_feedback = (
            sa.select(f.c.helpful)
            .where(f.c.conversation_id == c.c.id)
            .order_by(f.c.created_at.desc(), f.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        not_helpful = sa.exists().where(
            f.c.conversation_id == k.c.conversation_id, f.c.article_id == k.c.article_id, f.c.helpful.is_(False)
        )
        queries = {
            "conversations": sa.select(
                c.c.id,
                c.c.created_at,
                customer_messages.label("customer_messages"),
                last_feedback.label("last_feedback_helpful"),
            ).where(started),
            "handoffs": sa.select(
                h.c.id,
                h.c.conversation_id,
                h.c.reason,
                h.c.status,
                h.c.queued_at,
                h.c.claimed_at,
                h.c.first_response_at,
                h.c.resolved_at,
                h.c.fcr_returned,
                h.c.priority,
                h.c.team_id,
                T.teams.c.name.label("team_name"),
                c.c.created_at.label("conversation_created_at"),
                c.c.customer_email,
            )
            .select_from(h.join(c, c.c.id == h.c.conversation_id).outerjoin(T.teams, T.teams.c.id == h.c.team_id))
            .where(sa.or_(started, sa.and_(h.c.queued_at >= start, h.c.queued_at < returns_until)))
            .order_by(h.c.queued_at, h.c.id),
            "ratings": sa.select(T.ratings.c.score, T.ratings.c.ces, c.c.created_at.label("conversation_created_at"))
            .select_from(T.ratings.join(c, c.c.id == T.ratings.c.conversation_id))
            .where(started),
            "article_feedback": sa.select(f.c.article_id, f.c.helpful, c.c.created_at.label("conversation_created_at"))
            .select_from(f.join(c, c.c.id == f.c.conversation_id))
            .where(started),
            "unanswered": sa.select(k.c.question, c.c.created_at.label("conversation_created_at"))
            .select_from(k.join(c, c.c.id == k.c.conversation_id))
            .where(started, sa.or_(k.c.tier == "none", not_helpful))
            .order_by(k.c.created_at, k.c.id),
        }
        async with self.read() as conn:
            return {
                name: [dict(row._mapping) for row in (await conn.execute(query)).all()]
                for name, query in queries.items()
            }

    async def live_counts(self, active_since: float) -> dict[str, Any]:
        """For the Prometheus gauges: handoffs waiting in the queue, and the active conversations by
        state (queued or with an agent, or any state with activity since `active_since`)."""
        c = T.conversations
        async with self.read() as conn:
            queued = (
                await conn.execute(
                    sa.select(sa.func.count()).select_from(T.handoffs).where(T.handoffs.c.status == "queued")
                )
            ).scalar_one()
            rows = (
                await conn.execute(
                    sa.select(c.c.state, sa.func.count())
                    .where(
                        sa.or_(c.c.state.in_((State.QUEUED.value, State.AGENT.value)), c.c.updated_at >= active_since)
                    )
                    .group_by(c.c.state)
                )
            ).all()
        return {"queue_length": int(queued), "active_conversations": {str(state): int(n) for state, n in rows}}
