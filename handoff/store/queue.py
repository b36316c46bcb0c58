"""Handoffs and the queue: every transition one conditional statement whose row count is checked."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.ownership import OPEN_HANDOFF, PRIORITY_RANK, State
from handoff.store import schema as T
from handoff.store.conversations import ConversationStore
from handoff.store.errors import AlreadyClaimed, Conflict, NotFound, NotYours
from handoff.store.records import (
    Handoff,
    QueueItem,
    QueuePlace,
    StoredMessage,
    _email_markers,
    _handoff,
    signed_by_the_website,
)


class QueueStore(ConversationStore):
    # --- handoffs and the queue -------------------------------------------------------------

    async def enqueue_handoff(
        self,
        conversation_id: str,
        reason: str,
        priority: str,
        headline: str,
        summary: str,
        details: dict[str, Any],
        team_id: int | None = None,
    ) -> Handoff | None:
        """bot → queued with a new handoff row (in `team_id`'s queue, or the general one), in one
        transaction; None if not owned by the bot."""
        now = time.time()
        rank = PRIORITY_RANK.get(priority, PRIORITY_RANK["normal"])
        async with self.write() as conn:
            if not await self._transition(conn, conversation_id, State.QUEUED):
                return None
            await conn.execute(
                T.handoffs.insert().values(
                    conversation_id=conversation_id,
                    status="queued",
                    reason=reason[:40],
                    priority=priority if priority in PRIORITY_RANK else "normal",
                    priority_rank=rank,
                    headline=headline[:300],
                    summary=summary,
                    details=details,
                    queued_at=now,
                    team_id=team_id,
                )
            )
            name, email = details.get("customer_name"), details.get("customer_email")
            values = {k: v for k, v in (("customer_name", name), ("customer_email", email)) if v and v != "not given"}
            metadata = (
                await conn.execute(
                    sa.select(T.conversations.c.metadata_json).where(T.conversations.c.id == conversation_id)
                )
            ).scalar_one()
            if values and not signed_by_the_website(metadata):
                # What the customer typed names an unverified customer; a verified one stays as signed.
                await conn.execute(
                    T.conversations.update().where(T.conversations.c.id == conversation_id).values(**values)
                )
        return await self.open_handoff(conversation_id)

    async def open_handoff(self, conversation_id: str) -> Handoff | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    sa.select(T.handoffs)
                    .where(T.handoffs.c.conversation_id == conversation_id, T.handoffs.c.status.in_(OPEN_HANDOFF))
                    .order_by(T.handoffs.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _handoff(row) if row else None

    async def latest_handoff(self, conversation_id: str) -> Handoff | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    sa.select(T.handoffs)
                    .where(T.handoffs.c.conversation_id == conversation_id)
                    .order_by(T.handoffs.c.id.desc())
                    .limit(1)
                )
            ).first()
        return _handoff(row) if row else None

    async def claim(self, conversation_id: str, agent_id: int) -> Handoff:
        """queued → agent. Exactly one of many concurrent claimers wins; the rest get AlreadyClaimed."""
        return (await self.claim_announced(conversation_id, agent_id, None))[0]

    async def claim_announced(
        self, conversation_id: str, agent_id: int, announce: str | None
    ) -> tuple[Handoff, StoredMessage | None]:
        """`claim`, and the customer's "X joined the chat" stored in the same transaction (one
        commit per claim fewer: the queue drain's)."""
        async with self.write() as conn:
            result = await conn.execute(
                T.handoffs.update()
                .where(T.handoffs.c.conversation_id == conversation_id, T.handoffs.c.status == "queued")
                .values(status="claimed", agent_id=agent_id, claimed_at=time.time())
            )
            if result.rowcount != 1:
                raise AlreadyClaimed("someone else has already claimed this conversation, or it is not queued")
            if not await self._transition(conn, conversation_id, State.AGENT):
                raise Conflict("the conversation is not waiting in the queue")
            row = (
                await conn.execute(
                    sa.select(T.handoffs).where(
                        T.handoffs.c.conversation_id == conversation_id, T.handoffs.c.status == "claimed"
                    )
                )
            ).one()
            message = await self._append(conn, conversation_id, "system", announce) if announce else None
        return _handoff(row), message

    async def _owned(self, conn: AsyncConnection, conversation_id: str, agent_id: int) -> int:
        row = (
            await conn.execute(
                sa.select(T.handoffs.c.id, T.handoffs.c.agent_id).where(
                    T.handoffs.c.conversation_id == conversation_id, T.handoffs.c.status == "claimed"
                )
            )
        ).first()
        if row is None:
            raise Conflict("the conversation is not claimed")
        if row.agent_id != agent_id:
            raise NotYours("another agent has claimed this conversation")
        return int(row.id)

    async def release(self, conversation_id: str, agent_id: int) -> None:
        """agent → queued, keeping its place by the original queue time."""
        async with self.write() as conn:
            await self._move_claimed_handoff(
                conn, conversation_id, agent_id, {"status": "queued", "agent_id": None, "claimed_at": None}
            )
            await self._transition_or_conflict(conn, conversation_id, State.QUEUED)

    async def transfer(self, conversation_id: str, agent_id: int, to_agent_id: int) -> Handoff:
        """The claimed handoff passes from `agent_id` (who must own it) to `to_agent_id`; the
        conversation stays with a person, and its claim time stays the first claim's (the wait
        the customer had, which the ETA and the metrics count)."""
        async with self.write() as conn:
            handoff_id = await self._move_claimed_handoff(conn, conversation_id, agent_id, {"agent_id": to_agent_id})
            row = (await conn.execute(sa.select(T.handoffs).where(T.handoffs.c.id == handoff_id))).first()
        return _handoff(row)

    async def resolve(self, conversation_id: str, agent_id: int) -> Handoff:
        async with self.write() as conn:
            handoff_id = await self._move_claimed_handoff(
                conn, conversation_id, agent_id, {"status": "resolved", "resolved_at": time.time()}
            )
            await self._transition_or_conflict(conn, conversation_id, State.RESOLVED)
            row = (await conn.execute(sa.select(T.handoffs).where(T.handoffs.c.id == handoff_id))).first()
        return _handoff(row)

    async def transfer_to_team(self, conversation_id: str, agent_id: int, team_id: int) -> Handoff:
        """The claimed handoff goes back to the queue, in `team_id`'s queue (the agent must own it):
        any of that team's members claims it (or auto-assignment gives it to one). Its queue time
        stays, so it keeps its place and its first-response clock."""
        async with self.write() as conn:
            if (await conn.execute(sa.select(T.teams.c.id).where(T.teams.c.id == team_id))).first() is None:
                raise NotFound(f"team {team_id} does not exist")
            handoff_id = await self._move_claimed_handoff(
                conn,
                conversation_id,
                agent_id,
                {"status": "queued", "agent_id": None, "claimed_at": None, "team_id": team_id},
            )
            await self._transition_or_conflict(conn, conversation_id, State.QUEUED)
            row = (await conn.execute(sa.select(T.handoffs).where(T.handoffs.c.id == handoff_id))).first()
        return _handoff(row)

    async def agent_loads(self) -> dict[int, tuple[int, float | None]]:
        """Per agent who ever claimed: (conversations claimed now, when they last claimed one), for
        auto-assignment's free capacity and longest idle."""
        h = T.handoffs
        open_now = sa.func.sum(sa.case((h.c.status == "claimed", 1), else_=0))
        async with self.read() as conn:
            rows = await conn.execute(
                sa.select(h.c.agent_id, open_now.label("open"), sa.func.max(h.c.claimed_at).label("last"))
                .where(h.c.agent_id.is_not(None))
                .group_by(h.c.agent_id)
            )
            return {int(r.agent_id): (int(r.open or 0), r.last) for r in rows}

    async def _move_claimed_handoff(
        self, conn: AsyncConnection, conversation_id: str, agent_id: int, values: dict[str, Any]
    ) -> int:
        """Change the handoff this agent has claimed, in one conditional UPDATE whose row count is
        checked: of a release and a resolve at the same moment (or a double-clicked resolve) one
        wins and the other gets Conflict, and the transaction rolls back whole."""
        handoff_id = await self._owned(conn, conversation_id, agent_id)
        result = await conn.execute(
            T.handoffs.update()
            .where(T.handoffs.c.id == handoff_id, T.handoffs.c.status == "claimed", T.handoffs.c.agent_id == agent_id)
            .values(**values)
        )
        if result.rowcount != 1:
            raise Conflict("the conversation changed at the same moment (released or resolved); reload it")
        return handoff_id

    async def _transition_or_conflict(self, conn: AsyncConnection, conversation_id: str, to: State) -> None:
        if not await self._transition(conn, conversation_id, to):
            raise Conflict(f"the conversation cannot become {to.value} from its current state; reload it")

    async def note_agent_reply(self, conversation_id: str, agent_id: int) -> None:
        """Check ownership and stamp the first response time (once)."""
        async with self.write() as conn:
            handoff_id = await self._owned(conn, conversation_id, agent_id)
            await conn.execute(
                T.handoffs.update()
                .where(T.handoffs.c.id == handoff_id, T.handoffs.c.first_response_at.is_(None))
                .values(first_response_at=time.time())
            )

    async def queue_items(self, team_ids: set[int] | None = None) -> list[QueueItem]:
        """Open handoffs: queued ones by priority then age, then claimed ones; only those of
        `team_ids` when given."""
        query = (
            sa.select(
                T.handoffs,
                T.conversations.c.customer_name,
                T.conversations.c.customer_email,
                T.conversations.c.metadata_json,
                T.conversations.c.emailed_at,
                T.conversations.c.email_read_at,
                T.conversations.c.email_replied_at,
                T.conversations.c.email_bounced_at,
                T.conversations.c.email_bounce_reason,
                T.agents.c.name.label("agent_name"),
                T.teams.c.name.label("team_name"),
            )
            .select_from(
                T.handoffs.join(T.conversations, T.conversations.c.id == T.handoffs.c.conversation_id)
                .outerjoin(T.agents, T.agents.c.id == T.handoffs.c.agent_id)
                .outerjoin(T.teams, T.teams.c.id == T.handoffs.c.team_id)
            )
            .where(T.handoffs.c.status.in_(OPEN_HANDOFF))
            .order_by(T.handoffs.c.status.desc(), T.handoffs.c.priority_rank, T.handoffs.c.queued_at)
        )
        if team_ids is not None:
            query = query.where(T.handoffs.c.team_id.in_(team_ids))
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        now = time.time()
        return [
            QueueItem(
                conversation_id=r.conversation_id,
                handoff_id=r.id,
                state="queued" if r.status == "queued" else "agent",
                reason=r.reason,
                priority=r.priority,
                queued_at=r.queued_at,
                wait_seconds=round(now - r.queued_at, 1),
                headline=r.headline,
                agent_id=r.agent_id,
                agent_name=r.agent_name,
                customer_name=r.customer_name,
                customer_email=r.customer_email,
                customer_verified=signed_by_the_website(r.metadata_json),
                email=_email_markers(r),
                team_id=r.team_id,
                team_name=r.team_name,
                first_response_at=r.first_response_at,
                claimed_at=r.claimed_at,
            )
            for r in rows
        ]

    async def queue_position(self, conversation_id: str) -> int | None:
        """1-based place in the queue, or None when not queued."""
        place = (await self.queue_places([conversation_id])).get(conversation_id)
        return place.position if place else None

    async def queue_places(self, conversation_ids: Collection[str]) -> dict[str, QueuePlace]:
        """The place in the queue of each of `conversation_ids` that is waiting, in one query
        (whatever the queue's length): what a change in the queue tells the customers whose
        sockets are open. Equal priority and queue time share a place."""
        if not conversation_ids:
            return {}
        ranked = (
            sa.select(
                T.handoffs.c.conversation_id,
                T.handoffs.c.reason,
                sa.func.rank().over(order_by=(T.handoffs.c.priority_rank, T.handoffs.c.queued_at)).label("position"),
            )
            .where(T.handoffs.c.status == "queued")
            .subquery()
        )
        query = sa.select(ranked).where(ranked.c.conversation_id.in_(list(conversation_ids)))
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        return {r.conversation_id: QueuePlace(int(r.position), r.reason) for r in rows}

    async def recent_claim_waits(self, limit: int = 20) -> list[float]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.handoffs.c.queued_at, T.handoffs.c.claimed_at)
                    .where(T.handoffs.c.claimed_at.is_not(None))
                    .order_by(T.handoffs.c.claimed_at.desc())
                    .limit(limit)
                )
            ).all()
        return [r.claimed_at - r.queued_at for r in rows]
