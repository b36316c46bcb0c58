"""Who is connected, across every hub: agents online and each conversation's open widget sockets.

Each open socket is a member of a Redis sorted set whose score is when it expires; its hub
pushes that time forward every third of `HUB_PRESENCE_TTL_SECONDS` (a heartbeat). A hub that
closes a socket removes it at once; a hub killed with -9 removes nothing, and its sockets drop out
when their time is up. Agents online are read often (every state frame, every wait estimate), so
each hub keeps the last answer and asks again at every heartbeat and whenever an agent connects or
leaves anywhere (the hub that saw it says so on the agents' channel).

Keys: `PREFIX:presence:agents` (members `AGENT:HUB:SOCKET`) and
`PREFIX:presence:conversation:ID` (members `HUB:SOCKET`), each expiring with its last member.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class RedisPresence:
    def __init__(self, client: aioredis.Redis, prefix: str, hub_id: str, ttl_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.hub_id = hub_id
        self.ttl = ttl_seconds
        self.agents_key = f"{prefix}:presence:agents"
        #: this hub's own sockets: member → key it is in
        self._mine: dict[str, str] = {}
        self._online: set[int] = set()
        self._beat: asyncio.Task[None] | None = None

    def _conversation_key(self, conversation_id: str) -> str:
        return f"{self.prefix}:presence:conversation:{conversation_id}"

    async def start(self) -> None:
        await self.refresh()
        self._beat = asyncio.create_task(self._heartbeat())

    async def close(self) -> None:
        """A clean stop takes this hub's sockets out at once (a killed hub's expire)."""
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
        with contextlib.suppress(RedisError, OSError):
            async with self.client.pipeline(transaction=False) as pipe:
                for member, key in self._mine.items():
                    pipe.zrem(key, member)
                await pipe.execute()
        self._mine.clear()

    # --- this hub's sockets -----------------------------------------------------------------------

    async def agent_connected(self, agent_id: int, socket_id: int) -> None:
        await self._add(f"{agent_id}:{self.hub_id}:{socket_id}", self.agents_key)
        await self.refresh()

    async def agent_left(self, agent_id: int, socket_id: int) -> None:
        await self._remove(f"{agent_id}:{self.hub_id}:{socket_id}")
        await self.refresh()

    async def customer_connected(self, conversation_id: str, socket_id: int) -> None:
        await self._add(f"{self.hub_id}:{socket_id}", self._conversation_key(conversation_id))

    async def customer_left(self, conversation_id: str, socket_id: int) -> None:
        await self._remove(f"{self.hub_id}:{socket_id}")

    async def _add(self, member: str, key: str) -> None:
        self._mine[member] = key
        expires = time.time() + self.ttl
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zadd(key, {member: expires})
            pipe.expire(key, int(self.ttl * 2) + 1)
            await pipe.execute()

    async def _remove(self, member: str) -> None:
        key = self._mine.pop(member, None)
        if key is not None:
            with contextlib.suppress(RedisError, OSError):
                await self.client.zrem(key, member)

    # --- everyone's -------------------------------------------------------------------------------

    def online_agent_ids(self) -> set[int]:
        """Agents with an inbox open on any hub, as of the last refresh."""
        return set(self._online)

    async def customer_sockets(self, conversation_id: str) -> int:
        """Open widget sockets of this conversation on every hub."""
        return int(await self.client.zcount(self._conversation_key(conversation_id), time.time(), "+inf"))

    async def refresh(self) -> None:
        now = time.time()
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self.agents_key, "-inf", now)
            pipe.zrange(self.agents_key, 0, -1)
            _removed, members = await pipe.execute()
        self._online = {int(m.split(b":", 1)[0]) for m in members}

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                expires = time.time() + self.ttl
                async with self.client.pipeline(transaction=False) as pipe:
                    for member, key in list(self._mine.items()):
                        pipe.zadd(key, {member: expires})
                        pipe.expire(key, int(self.ttl * 2) + 1)
                    await pipe.execute()
                await self.refresh()
            except (RedisError, OSError) as exc:
                log.warning("presence: heartbeat failed (%s); trying again in %s s", type(exc).__name__, self.ttl / 3)
