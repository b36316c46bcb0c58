"""The audit log: who read, exported, erased, claimed, released, transferred or resolved what, and when."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from handoff.store import schema as T
from handoff.store.db import Database

#: what the log records (README, "Privacy"; publish, restore and delete: the content studio)
AUDIT_ACTIONS = (
    "read",
    "export",
    "erase",
    "claim",
    "release",
    "transfer",
    "resolve",
    "retention",
    "publish",
    "restore",
    "delete",
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    agent_id: int | None
    action: str
    conversation_id: str | None
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "agent_id": self.agent_id,
            "action": self.action,
            "conversation_id": self.conversation_id,
            "detail": self.detail,
        }


class AuditStore(Database):
    async def audit(
        self,
        actor: str,
        action: str,
        conversation_id: str | None = None,
        detail: dict[str, Any] | None = None,
        agent_id: int | None = None,
    ) -> None:
        if action not in AUDIT_ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        async with self.write() as conn:
            await conn.execute(
                T.audit_log.insert().values(
                    at=time.time(),
                    actor=actor[:300],
                    agent_id=agent_id,
                    action=action,
                    conversation_id=conversation_id,
                    detail=detail or {},
                )
            )

    async def audit_entries(
        self,
        action: str | None = None,
        agent_id: int | None = None,
        conversation_id: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; page with `before_id` (the last id of the previous page)."""
        a = T.audit_log
        query = sa.select(a).order_by(a.c.id.desc()).limit(limit)
        if action:
            query = query.where(a.c.action == action)
        if agent_id is not None:
            query = query.where(a.c.agent_id == agent_id)
        if conversation_id:
            query = query.where(a.c.conversation_id == conversation_id)
        if before_id is not None:
            query = query.where(a.c.id < before_id)
        async with self.read() as conn:
            rows = await conn.execute(query)
            return [
                AuditEntry(r.id, r.at, r.actor, r.agent_id, r.action, r.conversation_id, dict(r.detail or {}))
                for r in rows
            ]

    async def prune_audit(self, older_than: float) -> int:
        async with self.write() as conn:
            result = await conn.execute(T.audit_log.delete().where(T.audit_log.c.at < older_than))
            return int(result.rowcount or 0)
