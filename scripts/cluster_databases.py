"""Create the PostgreSQL databases `make run-cluster` needs (the hubs' and Rasa's trackers) when
they are missing: `cluster_databases.py URL [URL ...]`."""

from __future__ import annotations

import asyncio
import sys
from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def ensure(url: str) -> None:
    parts = urlsplit(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    name = parts.path.lstrip("/")
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    conn = await asyncpg.connect(admin)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"[cluster] created the PostgreSQL database {name}")
    finally:
        await conn.close()


async def main(urls: list[str]) -> None:
    for url in urls:
        await ensure(url)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
