"""Saved replies: canned answers an agent inserts by typing /shortcut in the reply box.

A shared reply (`agent_id` None) is everyone's and only editors and admins change it; a personal
one is its agent's alone. An agent sees the shared ones and their own; where a personal reply has
the same shortcut as a shared one, both are listed (personal first) and the agent picks.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from handoff.store import schema as T
from handoff.store.db import Database
from handoff.store.errors import Conflict, NotFound

#: what a shortcut may be: typed after "/" in the reply box, so lowercase words joined by hyphens
SHORTCUT = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


@dataclass(frozen=True)
class SavedReply:
    id: int
    shortcut: str
    title: str
    body: str
    agent_id: int | None  # None: shared
    updated_at: float

    @property
    def shared(self) -> bool:
        return self.agent_id is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "shortcut": self.shortcut,
            "title": self.title,
            "body": self.body,
            "shared": self.shared,
            "updated_at": self.updated_at,
        }


def _reply(row: Any) -> SavedReply:
    return SavedReply(row.id, row.shortcut, row.title, row.body, row.agent_id, row.updated_at)


class ReplyStore(Database):
    async def saved_replies(self, agent_id: int) -> list[SavedReply]:
        """The shared replies and this agent's own, by shortcut (personal first on a tie)."""
        r = T.saved_replies
        query = (
            sa.select(r)
            .where(sa.or_(r.c.agent_id.is_(None), r.c.agent_id == agent_id))
            .order_by(r.c.shortcut, r.c.agent_id.is_(None), r.c.id)
        )
        async with self.read() as conn:
            return [_reply(row) for row in (await conn.execute(query)).all()]

    async def saved_reply(self, reply_id: int) -> SavedReply:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(T.saved_replies).where(T.saved_replies.c.id == reply_id))).first()
        if row is None:
            raise NotFound(f"saved reply {reply_id} does not exist")
        return _reply(row)

    async def save_reply(
        self, shortcut: str, title: str, body: str, agent_id: int | None, reply_id: int | None = None
    ) -> SavedReply:
        """Create (no `reply_id`) or change a reply; a shortcut is unique among the shared replies
        and among each agent's own (Conflict otherwise)."""
        r, now = T.saved_replies, time.time()
        owner = r.c.agent_id.is_(None) if agent_id is None else r.c.agent_id == agent_id
        async with self.write() as conn:
            taken = sa.select(r.c.id).where(r.c.shortcut == shortcut, owner)
            if reply_id is not None:
                taken = taken.where(r.c.id != reply_id)
            if (await conn.execute(taken.limit(1))).first() is not None:
                raise Conflict(f"/{shortcut} is already a saved reply; choose another shortcut")
            values = {"shortcut": shortcut, "title": title, "body": body, "updated_at": now}
            if reply_id is None:
                reply_id = (
                    await conn.execute(r.insert().values(agent_id=agent_id, created_at=now, **values).returning(r.c.id))
                ).scalar_one()
            else:
                changed = await conn.execute(r.update().where(r.c.id == reply_id, owner).values(**values))
                if changed.rowcount != 1:
                    raise NotFound(f"saved reply {reply_id} does not exist")
        return await self.saved_reply(reply_id)

    async def delete_reply(self, reply_id: int) -> None:
        async with self.write() as conn:
            result = await conn.execute(T.saved_replies.delete().where(T.saved_replies.c.id == reply_id))
        if result.rowcount != 1:
            raise NotFound(f"saved reply {reply_id} does not exist")
