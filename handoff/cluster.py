"""Several hubs behind a load balancer (`REDIS_URL`): what each hub shares through Redis, wired
into the app in one place. Without `REDIS_URL` none of it exists and the hub is the embedded
one-process default.

| what | one hub | several hubs |
| --- | --- | --- |
| frames to other sockets | `Fanout` in process | also published on the bus (handoff/bus.py) |
| agents online, a conversation's open sockets | `Fanout` in process | presence with a TTL heartbeat (handoff/presence.py) |
| rate limits | in process | sliding windows in Redis (handoff/rate_limit.py) |
| a conversation's turns, one at a time | an asyncio lock | plus a lock with a lease in Redis (handoff/turn_lock.py) |
| a turn a killed hub left unanswered | resumed at the next start | also resumed when the customer reconnects, and by any hub's sweep |
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

import redis.asyncio as aioredis
from aiohttp import web

from handoff import background
from handoff.app_keys import FANOUT, RELAY, SETTINGS
from handoff.bus import RedisBus
from handoff.fanout import Fanout
from handoff.presence import RedisPresence
from handoff.relay import ConversationLocks
from handoff.settings import HubSettings
from handoff.turn_lock import RedisTurnLocks

log = logging.getLogger(__name__)

REDIS: web.AppKey[aioredis.Redis | None] = web.AppKey("redis")
#: this hub process's name on the bus and in presence
HUB_ID: web.AppKey[str] = web.AppKey("hub_id")


def redis_client(settings: HubSettings) -> aioredis.Redis | None:
    """The Redis the hubs share, or None for one hub (no connection is made until first use)."""
    if not settings.redis_url:
        return None
    return aioredis.from_url(str(settings.redis_url), socket_timeout=5, socket_connect_timeout=5)


def fanout(settings: HubSettings, redis: aioredis.Redis | None, hub_id: str) -> Fanout:
    if redis is None:
        return Fanout()
    prefix = settings.redis_prefix
    return Fanout(RedisBus(redis, prefix, hub_id), RedisPresence(redis, prefix, hub_id, settings.presence_ttl_seconds))


def conversation_locks(settings: HubSettings, redis: aioredis.Redis | None) -> ConversationLocks:
    if redis is None:
        return ConversationLocks()
    return ConversationLocks(RedisTurnLocks(redis, settings.redis_prefix, settings.turn_lock_lease_seconds))


def setup(app: web.Application, settings: HubSettings) -> None:
    """The Redis client (or None) and this hub's id; before the fan-out and limiters are made."""
    app[REDIS] = redis_client(settings)
    app[HUB_ID] = uuid.uuid4().hex[:12]


async def joined(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context, first of all: join the other hubs (bus and presence) and leave them last."""
    redis = app[REDIS]
    if redis is not None:
        log.info("several hubs: this is hub %s (Redis bus, presence, limits and turn locks)", app[HUB_ID])
    await app[FANOUT].start()
    yield
    await app[FANOUT].close()
    if redis is not None:
        await redis.aclose()


async def sweeping(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context, after the relay's: with several hubs, every lease each hub resumes turns
    stored two leases ago and still pending (a hub killed mid-turn left them, and their customer
    has not come back to another hub). A live hub's turn holds its lock, so the sweep waits for
    it and then finds it answered."""
    if app[REDIS] is None:
        yield
        return
    lease = app[SETTINGS].turn_lock_lease_seconds

    async def sweep() -> None:
        await app[RELAY].resume_bot_turns(stored_before=time.time() - 2 * lease)

    async with background.every(lease, sweep, "resume of orphaned bot turns"):
        yield


def bus_up(app: web.Application) -> bool | None:
    """For /health: whether this hub hears the others (None with one hub)."""
    bus = app[FANOUT].bus
    return None if bus is None else bus.connected
