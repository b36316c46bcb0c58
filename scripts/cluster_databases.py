"""Create the PostgreSQL databases several hubs need when they are missing: the hubs' store, and
Rasa's tracker store with its `events` table already made, so that two Rasa processes starting at
once do not race to create it (README, "Scale-out: several Rasa processes").

`cluster_databases.py --hub URL --rasa URL` (scripts/run_cluster.sh, tests/integration/cluster_stack.py).
"""

from __future__ import annotations

import argparse
import asyncio
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# Rasa 3.6's SQLTrackerStore table, as it creates it itself
EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS events (
    id SERIAL PRIMARY KEY,
    sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL,
    timestamp FLOAT,
    intent_name VARCHAR(255),
    action_name VARCHAR(255),
    data TEXT
);
CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id);
"""


async def ensure(url: str, ddl: str = "") -> None:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"[cluster] created the PostgreSQL database {name}")
    finally:
        await conn.close()
    if ddl:
        conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", "")))
        try:
            await conn.execute(ddl)
        finally:
            await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", required=True, help="the hubs' DATABASE_URL")
    parser.add_argument("--rasa", required=True, help="Rasa's tracker database, postgresql://user@host:port/db")
    args = parser.parse_args()
    await ensure(args.hub)
    await ensure(args.rasa, EVENTS_DDL)


if __name__ == "__main__":
    asyncio.run(main())
