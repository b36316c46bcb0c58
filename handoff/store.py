"""The hub's store: conversations, messages, handoffs, agents, ratings (SQLite or PostgreSQL).

Every ownership change is one transaction with a conditional UPDATE, so two agents never claim
the same conversation and the bot never answers while a person owns it. On SQLite, writes are
serialized by one asyncio lock per process (SQLite has one writer anyway; this avoids
"database is locked" on lock upgrades).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from handoff import contract, schema
from handoff.ownership import OPEN_HANDOFF, PRIORITY_RANK, State, check_transition

T = schema


class StoreError(Exception):
    """Base of the store's refusals; `code` is what the API reports."""

    code = "store_error"


class NotFound(StoreError):
    code = "not_found"


class Conflict(StoreError):
    code = "conflict"


class AlreadyClaimed(Conflict):
    code = "already_claimed"


class NotYours(StoreError):
    code = "not_yours"


class RatingRefused(StoreError):
    code = "rating_refused"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Conversation:
    id: str
    state: State
    last_seq: int
    customer_name: str | None
    customer_email: str | None
    metadata: dict[str, Any]
    created_at: float

    @property
    def customer_verified(self) -> bool:
        """The website signed this customer's email (handoff/identity.py)."""
        return self.metadata.get("verified") is True


@dataclass(frozen=True)
class StoredMessage:
    conversation_id: str
    seq: int
    sender: str
    text: str
    payload: dict[str, Any] | None
    client_id: str | None
    created_at: float
    agent_name: str | None = None

    def to_frame(self) -> dict[str, Any]:
        """The customer wire contract's message frame."""
        payload = self.payload or {}
        return contract.message_frame(
            self.seq,
            self.sender,
            self.text,
            self.created_at,
            self.client_id,
            payload.get("buttons", []),
            payload.get("article"),
            self.agent_name,
        )


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    status: str
    reason: str
    priority: str
    headline: str
    summary: str
    details: dict[str, Any]
    agent_id: int | None
    queued_at: float
    claimed_at: float | None
    resolved_at: float | None

    def to_json(self, agent: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "priority": self.priority,
            "status": self.status,
            "headline": self.headline,
            "summary": self.summary,
            "details": self.details,
            "queued_at": self.queued_at,
            "claimed_at": self.claimed_at,
            "resolved_at": self.resolved_at,
            "agent": agent,
        }


#: What each role may do, from least to most: an agent works the inbox, an editor also edits
#: help-center articles, an admin also reads the content-gap report and every metric.
ROLES = ("agent", "editor", "admin")


@dataclass(frozen=True)
class Agent:
    id: int
    email: str
    name: str
    password_hash: str = field(repr=False)
    role: str = "agent"
    disabled: bool = False

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "role": self.role}

    def may(self, role: str) -> bool:
        """True when this agent's role is `role` or above it."""
        return ROLES.index(self.role if self.role in ROLES else "agent") >= ROLES.index(role)


def _agent(row: Any) -> Agent:
    return Agent(row.id, row.email, row.name, row.password_hash, row.role, row.disabled_at is not None)


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def _conversation(row: Any) -> Conversation:
    return Conversation(
        row.id,
        State(row.state),
        row.last_seq,
        row.customer_name,
        row.customer_email,
        dict(row.metadata_json or {}),
        row.created_at,
    )


def _handoff(row: Any) -> Handoff:
    return Handoff(
        row.id,
        row.conversation_id,
        row.status,
        row.reason,
        row.priority,
        row.headline,
        row.summary,
        dict(row.details or {}),
        row.agent_id,
        row.queued_at,
        row.claimed_at,
        row.resolved_at,
    )


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> Store:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                import pathlib

                pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_async_engine(url, connect_args={"timeout": 30})

            @event.listens_for(engine.sync_engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        store = cls(engine)
        async with store.write() as conn:
            await schema.migrate(conn, time.time())
        return store

    async def close(self) -> None:
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction (serialized per process on SQLite)."""
        lock = self._write_lock if self.is_sqlite else contextlib.nullcontext()
        async with lock, self.engine.begin() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

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
        async with self.read() as conn:
            row = (
                await conn.execute(sa.select(T.conversations).where(T.conversations.c.token_hash == hash_token(token)))
            ).first()
        return _conversation(row) if row else None

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
        bot turn (see `pending_bot_turns`) in the same transaction, so a crash cannot lose it."""
        if client_id:
            existing = await self._by_client_id(conversation_id, client_id)
            if existing is not None:
                return existing, False
        now = time.time()
        try:
            async with self.write() as conn:
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
        except IntegrityError:
            if client_id:
                existing = await self._by_client_id(conversation_id, client_id)
                if existing is not None:
                    return existing, False
            raise
        return StoredMessage(conversation_id, seq, sender, text, payload, client_id, now, agent_name), True

    async def _by_client_id(self, conversation_id: str, client_id: str) -> StoredMessage | None:
        rows = await self._messages(
            sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.client_id == client_id)
        )
        return rows[0] if rows else None

    async def messages_after(self, conversation_id: str, after_seq: int = 0, limit: int = 1000) -> list[StoredMessage]:
        """Up to `limit` messages after `after_seq`, oldest first (page through longer ones)."""
        return await self._messages(
            sa.and_(T.messages.c.conversation_id == conversation_id, T.messages.c.seq > after_seq), limit
        )

    async def messages_before(self, conversation_id: str, before_seq: int | None, limit: int) -> list[StoredMessage]:
        """The `limit` messages just before `before_seq` (None: the latest ones), oldest first."""
        where = T.messages.c.conversation_id == conversation_id
        if before_seq is not None:
            where = sa.and_(where, T.messages.c.seq < before_seq)
        return list(reversed(await self._messages(where, limit, newest_first=True)))

    async def pending_bot_text(self, conversation_id: str, seq: int) -> str | None:
        """What Rasa should get for this customer message, or None once its turn is handled."""
        async with self.read() as conn:
            return (
                await conn.execute(
                    sa.select(T.messages.c.bot_text).where(
                        T.messages.c.conversation_id == conversation_id,
                        T.messages.c.seq == seq,
                        T.messages.c.bot_pending.is_(True),
                    )
                )
            ).scalar_one_or_none()

    async def finish_bot_turn(self, conversation_id: str, seq: int) -> None:
        async with self.write() as conn:
            await conn.execute(
                T.messages.update()
                .where(T.messages.c.conversation_id == conversation_id, T.messages.c.seq == seq)
                .values(bot_pending=False)
            )

    async def pending_bot_turns(self) -> dict[str, list[int]]:
        """Customer messages stored and acked but never handled (the hub stopped before Rasa
        answered): each conversation's, in order."""
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.messages.c.conversation_id, T.messages.c.seq)
                    .where(T.messages.c.bot_pending.is_(True))
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

    async def _transition(self, conn: AsyncConnection, conversation_id: str, to: State) -> bool:
        allowed_from = check_transition(to)
        result = await conn.execute(
            T.conversations.update()
            .where(
                T.conversations.c.id == conversation_id, T.conversations.c.state.in_([s.value for s in allowed_from])
            )
            .values(state=to.value, updated_at=time.time())
        )
        return result.rowcount == 1

    # --- handoffs and the queue -------------------------------------------------------------

    async def enqueue_handoff(
        self,
        conversation_id: str,
        reason: str,
        priority: str,
        headline: str,
        summary: str,
        details: dict[str, Any],
    ) -> Handoff | None:
        """bot → queued with a new handoff row, in one transaction; None if not owned by the bot."""
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
                )
            )
            name, email = details.get("customer_name"), details.get("customer_email")
            values = {k: v for k, v in (("customer_name", name), ("customer_email", email)) if v and v != "not given"}
            metadata = (
                await conn.execute(
                    sa.select(T.conversations.c.metadata_json).where(T.conversations.c.id == conversation_id)
                )
            ).scalar_one()
            if values and (metadata or {}).get("verified") is not True:
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
        handoff = await self.open_handoff(conversation_id)
        assert handoff is not None
        return handoff

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

    async def resolve(self, conversation_id: str, agent_id: int) -> Handoff:
        async with self.write() as conn:
            handoff_id = await self._move_claimed_handoff(
                conn, conversation_id, agent_id, {"status": "resolved", "resolved_at": time.time()}
            )
            await self._transition_or_conflict(conn, conversation_id, State.RESOLVED)
            row = (await conn.execute(sa.select(T.handoffs).where(T.handoffs.c.id == handoff_id))).first()
        return _handoff(row)

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

    async def queue_items(self) -> list[dict[str, Any]]:
        """Open handoffs: queued ones by priority then age, then claimed ones."""
        query = (
            sa.select(
                T.handoffs,
                T.conversations.c.customer_name,
                T.conversations.c.customer_email,
                T.conversations.c.metadata_json,
                T.agents.c.name.label("agent_name"),
            )
            .select_from(
                T.handoffs.join(T.conversations, T.conversations.c.id == T.handoffs.c.conversation_id).outerjoin(
                    T.agents, T.agents.c.id == T.handoffs.c.agent_id
                )
            )
            .where(T.handoffs.c.status.in_(OPEN_HANDOFF))
            .order_by(T.handoffs.c.status.desc(), T.handoffs.c.priority_rank, T.handoffs.c.queued_at)
        )
        async with self.read() as conn:
            rows = (await conn.execute(query)).all()
        now = time.time()
        return [
            {
                "conversation_id": r.conversation_id,
                "handoff_id": r.id,
                "state": "queued" if r.status == "queued" else "agent",
                "reason": r.reason,
                "priority": r.priority,
                "queued_at": r.queued_at,
                "wait_seconds": round(now - r.queued_at, 1),
                "headline": r.headline,
                "agent": {"id": r.agent_id, "name": r.agent_name} if r.agent_id else None,
                "customer": {
                    "name": r.customer_name,
                    "email": r.customer_email,
                    "verified": (r.metadata_json or {}).get("verified") is True,
                },
            }
            for r in rows
        ]

    async def queue_position(self, conversation_id: str) -> int | None:
        """1-based place in the queue, or None when not queued."""
        async with self.read() as conn:
            mine = (
                await conn.execute(
                    sa.select(T.handoffs.c.priority_rank, T.handoffs.c.queued_at).where(
                        T.handoffs.c.conversation_id == conversation_id, T.handoffs.c.status == "queued"
                    )
                )
            ).first()
            if mine is None:
                return None
            ahead = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(T.handoffs)
                    .where(
                        T.handoffs.c.status == "queued",
                        sa.or_(
                            T.handoffs.c.priority_rank < mine.priority_rank,
                            sa.and_(
                                T.handoffs.c.priority_rank == mine.priority_rank,
                                T.handoffs.c.queued_at < mine.queued_at,
                            ),
                        ),
                    )
                )
            ).scalar_one()
        return int(ahead) + 1

    async def queued_conversation_ids(self) -> list[str]:
        async with self.read() as conn:
            return list(
                (
                    await conn.execute(sa.select(T.handoffs.c.conversation_id).where(T.handoffs.c.status == "queued"))
                ).scalars()
            )

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
        return [str(q) for q in rows]

    async def ratings_for(self, conversation_id: str) -> list[dict[str, Any]]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.ratings).where(T.ratings.c.conversation_id == conversation_id).order_by(T.ratings.c.id)
                )
            ).all()
        return [{"score": r.score, "comment": r.comment, "created_at": r.created_at} for r in rows]

    # --- agents and sessions ----------------------------------------------------------------

    async def create_agent(self, email: str, name: str, password_hash: str, role: str = "agent") -> Agent:
        async with self.write() as conn:
            agent_id = (
                await conn.execute(
                    T.agents.insert()
                    .values(
                        email=email.lower(),
                        name=name,
                        password_hash=password_hash,
                        role=_checked_role(role),
                        created_at=time.time(),
                    )
                    .returning(T.agents.c.id)
                )
            ).scalar_one()
        return Agent(agent_id, email.lower(), name, password_hash, role)

    async def set_agent_password(self, email: str, name: str, password_hash: str, role: str | None = None) -> Agent:
        """Create the agent, or reset an existing agent's name, password (and role, when given).
        A reset signs the agent out everywhere: every session ends, and the hub closes their
        open inbox sockets at its next session check."""
        existing = await self.agent_by_email(email)
        if existing is None:
            return await self.create_agent(email, name, password_hash, role or "agent")
        values: dict[str, Any] = {"name": name, "password_hash": password_hash}
        if role is not None:
            values["role"] = _checked_role(role)
        async with self.write() as conn:
            await conn.execute(T.agents.update().where(T.agents.c.id == existing.id).values(**values))
            await conn.execute(T.agent_sessions.delete().where(T.agent_sessions.c.agent_id == existing.id))
        return Agent(
            existing.id, existing.email, name, password_hash, values.get("role", existing.role), existing.disabled
        )

    async def set_agent_disabled(self, email: str, disabled: bool) -> Agent:
        """Disable (every session ends) or enable an agent; NotFound for an unknown email."""
        existing = await self.agent_by_email(email)
        if existing is None:
            raise NotFound(f"no agent has the email {email}")
        async with self.write() as conn:
            await conn.execute(
                T.agents.update()
                .where(T.agents.c.id == existing.id)
                .values(disabled_at=time.time() if disabled else None)
            )
            if disabled:
                await conn.execute(T.agent_sessions.delete().where(T.agent_sessions.c.agent_id == existing.id))
        return Agent(existing.id, existing.email, existing.name, existing.password_hash, existing.role, disabled)

    async def agents(self) -> list[tuple[Agent, int]]:
        """Every agent, by email, with how many live sessions they have."""
        now = time.time()
        live = (
            sa.select(sa.func.count())
            .select_from(T.agent_sessions)
            .where(T.agent_sessions.c.agent_id == T.agents.c.id, T.agent_sessions.c.expires_at > now)
            .scalar_subquery()
        )
        async with self.read() as conn:
            rows = (await conn.execute(sa.select(T.agents, live.label("sessions")).order_by(T.agents.c.email))).all()
        return [(_agent(row), int(row.sessions)) for row in rows]

    async def agent_by_email(self, email: str) -> Agent | None:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(T.agents).where(T.agents.c.email == email.lower()))).first()
        return _agent(row) if row else None

    async def agent_by_id(self, agent_id: int) -> Agent | None:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(T.agents).where(T.agents.c.id == agent_id))).first()
        return _agent(row) if row else None

    async def create_session(self, agent_id: int, ttl_seconds: float) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        async with self.write() as conn:
            await conn.execute(
                T.agent_sessions.insert().values(
                    token_hash=hash_token(token), agent_id=agent_id, created_at=now, expires_at=now + ttl_seconds
                )
            )
        return token

    def _live_sessions(self) -> Any:
        """Sessions that have not expired, of agents who are not disabled."""
        return (
            sa.select(T.agents, T.agent_sessions.c.token_hash)
            .join(T.agent_sessions, T.agent_sessions.c.agent_id == T.agents.c.id)
            .where(T.agent_sessions.c.expires_at > time.time(), T.agents.c.disabled_at.is_(None))
        )

    async def agent_for_session(self, token: str) -> Agent | None:
        async with self.read() as conn:
            row = (
                await conn.execute(self._live_sessions().where(T.agent_sessions.c.token_hash == hash_token(token)))
            ).first()
        return _agent(row) if row else None

    async def live_session_hashes(self, token_hashes: set[str]) -> set[str]:
        """Which of these session token hashes still sign someone in (one query for every open
        inbox socket: the hub closes the sockets of the others)."""
        if not token_hashes:
            return set()
        async with self.read() as conn:
            rows = await conn.execute(self._live_sessions().where(T.agent_sessions.c.token_hash.in_(token_hashes)))
            return {str(row.token_hash) for row in rows}

    async def delete_session(self, token: str) -> None:
        async with self.write() as conn:
            await conn.execute(T.agent_sessions.delete().where(T.agent_sessions.c.token_hash == hash_token(token)))

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
                c.c.created_at.label("conversation_created_at"),
                c.c.customer_email,
            )
            .select_from(h.join(c, c.c.id == h.c.conversation_id))
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
