"""A per-conversation lock shared by every hub (Redis), so two hubs never send two turns of one
conversation to Rasa at once: a customer may reconnect to another hub mid-turn, and a hub that
starts, or finds a turn a killed hub left, resends pending turns.

The lock is a key set with NX and a lease (`HUB_TURN_LOCK_LEASE_SECONDS`) that its holder renews
every third of the lease while it holds it, so it outlives no process: a hub killed with -9
stops renewing and the lock is free within one lease. Only the holder's token releases or renews
it (a check-and-delete script). Within one hub, `relay.ConversationLocks` queues a
conversation's turns in order first, so only one task per hub waits on this lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
)
#: how long a waiting hub sleeps between tries: doubling from the first to the last
WAIT_FIRST_SECONDS, WAIT_MAX_SECONDS = 0.02, 0.25


class RedisTurnLocks:
    def __init__(self, client: aioredis.Redis, prefix: str, lease_seconds: float) -> None:
        self.client = client
        self.prefix = prefix
        self.lease_ms = max(1000, int(lease_seconds * 1000))
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def key(self, conversation_id: str) -> str:
        return f"{self.prefix}:turn-lock:{conversation_id}"

    async def acquire(self, conversation_id: str) -> str:
        """Wait until this hub holds the conversation's lock; the token that releases it."""
        token, wait = secrets.token_hex(16), WAIT_FIRST_SECONDS
        while not await self.client.set(self.key(conversation_id), token, nx=True, px=self.lease_ms):
            await asyncio.sleep(wait)
            wait = min(WAIT_MAX_SECONDS, wait * 2)
        return token

    async def release(self, conversation_id: str, token: str) -> None:
        await self._release(keys=[self.key(conversation_id)], args=[token])

    async def renew(self, conversation_id: str, token: str) -> bool:
        return bool(await self._renew(keys=[self.key(conversation_id)], args=[token, self.lease_ms]))

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        token = await self.acquire(conversation_id)
        renewing = asyncio.create_task(self._keep(conversation_id, token))
        try:
            yield
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            try:
                await self.release(conversation_id, token)
            except (RedisError, OSError) as exc:  # it expires by itself within a lease
                log.warning("conversation %s: turn lock not released (%s)", conversation_id, type(exc).__name__)

    async def _keep(self, conversation_id: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                if not await self.renew(conversation_id, token):
                    log.error("conversation %s: the turn lock's lease ran out while held", conversation_id)
                    return
            except (RedisError, OSError) as exc:
                log.warning("conversation %s: turn lock not renewed (%s)", conversation_id, type(exc).__name__)
