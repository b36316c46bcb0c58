"""The database under every aggregate: engine, migrations at open, read and write transactions.

On SQLite, writes are serialized by one asyncio lock per process (SQLite has one writer anyway;
this avoids "database is locked" on lock upgrades)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from handoff.ownership import State, check_transition
from handoff.store import migrate
from handoff.store import schema as T

#: the PostgreSQL advisory lock that migrations run under ("kestrel" in ASCII, as a number)
MIGRATION_LOCK_KEY = int.from_bytes(b"kestrel", "big")


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> Self:
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
            if not store.is_sqlite:  # several hubs starting at once: one migrates, the others wait and find it done
                await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(migrate.upgrade)
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

    async def _transition(self, conn: AsyncConnection, conversation_id: str, to: State) -> bool:
        """Move ownership if allowed from the current state, in `conn`'s transaction; False if it
        changed under us (the caller decides whether that is a conflict)."""
        allowed_from = check_transition(to)
        result = await conn.execute(
            T.conversations.update()
            .where(
                T.conversations.c.id == conversation_id, T.conversations.c.state.in_([s.value for s in allowed_from])
            )
            .values(state=to.value, updated_at=time.time())
        )
        return bool(result.rowcount == 1)
