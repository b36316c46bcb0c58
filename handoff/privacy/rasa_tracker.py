"""Rasa's tracker store, seen from the hub: the events Rasa keeps per conversation (`sender_id` is
the hub's conversation id), read for an export and deleted by erasure and retention.

Rasa's SQL tracker store keeps one table, `events` (rasa/core/tracker_store.py, SQLTrackerStore);
the hub reads and deletes rows of it and never writes one. A store Rasa has not created yet (a
SQLite file that does not exist, or no `events` table) holds nothing, and is not created here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("intent_name", sa.String(255)),
    sa.Column("action_name", sa.String(255)),
    sa.Column("data", sa.Text),
)
ID_CHUNK = 500


class TrackerStoreUnavailable(RuntimeError):
    """Rasa's tracker store could not be reached; the message says which and what to check."""


class RasaTrackerStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: AsyncEngine | None = None

    def _sqlite_missing(self) -> bool:
        return self.url.startswith("sqlite") and not Path(self.url.split("///", 1)[-1]).exists()

    def _connect(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self.url, pool_pre_ping=True)
        return self._engine

    async def _has_events(self) -> bool:
        if self._sqlite_missing():
            return False
        try:
            async with self._connect().connect() as conn:
                return bool(await conn.run_sync(lambda sync: sa.inspect(sync).has_table("events")))
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            raise TrackerStoreUnavailable(
                f"Rasa's tracker store ({self.where}) cannot be reached: {exc.__class__.__name__}. "
                "Check RASA_TRACKER_DIALECT and RASA_TRACKER_* in .env; nothing was deleted from it."
            ) from exc

    @property
    def where(self) -> str:
        """The store without its password, for messages."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    async def delete_conversations(self, conversation_ids: Sequence[str]) -> int:
        """Delete every event of these conversations; how many were deleted."""
        if not conversation_ids or not await self._has_events():
            return 0
        deleted = 0
        async with self._connect().begin() as conn:
            for start in range(0, len(conversation_ids), ID_CHUNK):
                chunk = list(conversation_ids[start : start + ID_CHUNK])
                result = await conn.execute(events.delete().where(events.c.sender_id.in_(chunk)))
                deleted += int(result.rowcount or 0)
        return deleted

    async def count_events(self, conversation_ids: Sequence[str]) -> int:
        if not conversation_ids or not await self._has_events():
            return 0
        async with self._connect().connect() as conn:
            query = sa.select(sa.func.count()).select_from(events).where(events.c.sender_id.in_(list(conversation_ids)))
            return int((await conn.execute(query)).scalar_one())

    async def export_conversation(self, conversation_id: str) -> list[dict[str, Any]]:
        """What the bot remembers of one conversation: each event's type, time and its data
        (what the customer said, what the bot answered, each slot it filled)."""
        if not await self._has_events():
            return []
        async with self._connect().connect() as conn:
            rows = await conn.execute(
                sa.select(events.c.type_name, events.c.timestamp, events.c.data)
                .where(events.c.sender_id == conversation_id)
                .order_by(events.c.id)
            )
            return [_exported_event(row.type_name, row.timestamp, row.data) for row in rows]

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def _exported_event(type_name: str, timestamp: float, data: str | None) -> dict[str, Any]:
    try:
        body = json.loads(data or "{}")
    except ValueError:
        body = {}
    event: dict[str, Any] = {"type": type_name, "timestamp": timestamp}
    if type_name in ("user", "bot"):
        event["text"] = body.get("text")
    elif type_name == "slot":
        event["slot"], event["value"] = body.get("name"), body.get("value")
    return event
