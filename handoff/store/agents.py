"""Agents, roles and sessions."""

from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa

from handoff.store import schema as T
from handoff.store.db import Database
from handoff.store.errors import NotFound
from handoff.store.records import (
    Agent,
    _agent,
    _checked_role,
    hash_token,
)


class AgentStore(Database):
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
        return Agent(
            existing.id,
            existing.email,
            existing.name,
            existing.password_hash,
            existing.role,
            disabled,
            existing.capacity,
        )

    async def set_agent_capacity(self, email: str, capacity: int | None) -> Agent:
        """How many open conversations auto-assignment gives this agent at once (None: the
        setting's default); NotFound for an unknown email."""
        existing = await self.agent_by_email(email)
        if existing is None:
            raise NotFound(f"no agent has the email {email}")
        async with self.write() as conn:
            await conn.execute(T.agents.update().where(T.agents.c.id == existing.id).values(capacity=capacity))
        updated = await self.agent_by_id(existing.id)
        assert updated is not None
        return updated

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
