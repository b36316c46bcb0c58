"""Rasa's real tracker store in store tests: conversations written by Rasa's own SQLTrackerStore
(tests/rasa_tracker_writer.py, in the Rasa environment), on SQLite or on the test's PostgreSQL
database, and read back with a plain query."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from handoff.settings import sqlite_url

ROOT = Path(__file__).resolve().parents[2]
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"


def tracker_store_for(database_url: str, tmp_path: Path) -> tuple[str, dict[str, object]]:
    """(the URL the hub reads the tracker store at, the settings Rasa writes it with): a file of
    the test's own with SQLite, the test's own database with PostgreSQL."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "rasa-tracker.sqlite3"
        return sqlite_url(path), {"dialect": "sqlite", "db": str(path)}
    url = sa.engine.make_url(database_url)
    return database_url, {
        "dialect": "postgresql",
        "host": url.host,
        "port": url.port or 5432,
        "db": url.database,
        "username": url.username,
    }


def write_with_rasa(rasa_store: dict[str, object], conversations: dict[str, list[str]], email: str) -> None:
    spec = {"store": rasa_store, "conversations": conversations, "email": email}
    done = subprocess.run(
        [str(RASA_PYTHON), str(ROOT / "tests" / "rasa_tracker_writer.py"), json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]


async def events_of(tracker_url: str, conversation_ids: list[str]) -> list[tuple[str, str]]:
    """(sender_id, data) of every event of these conversations, by a direct query."""
    engine = create_async_engine(tracker_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT sender_id, data FROM events WHERE sender_id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": conversation_ids},
            )
            return [(str(r.sender_id), str(r.data)) for r in rows]
    finally:
        await engine.dispose()
