"""Frames between hub processes: Redis pub/sub, one channel per conversation and one for agents.

Each hub subscribes to the agents' channel for as long as it runs, and to a conversation's
channel while it holds a socket of that conversation; the subscription is confirmed before the
socket's replay from the database starts, so a frame is either in the replay or arrives on the
channel (or both: the widget and the inbox keep one message per seq). Pub/sub delivers at most
once: when the connection to Redis drops, the hub closes its own sockets once it is back (see
`Fanout`), and every socket replays from its last seq on reconnect, so a frame lost on the bus is
never a message lost.

A message on the bus is `{"hub": <sender>, "frame": {...}}` or `{"hub", "close": [code, reason]}`;
a hub has delivered its own frames to its own sockets already and skips them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: what the bus hands its owner: (channel, message)
Handler = Callable[[str, dict[str, Any]], Awaitable[None]]
#: called after the connection to Redis came back (frames may have been lost meanwhile)
Recovered = Callable[[], Awaitable[None]]
RECONNECT_SECONDS = 0.5
#: a subscription Redis has not confirmed by then fails (the socket closes and reconnects)
CONFIRM_SECONDS = 5.0


class RedisBus:
    def __init__(self, client: aioredis.Redis, prefix: str, hub_id: str) -> None:
        self.client = client
        self.prefix = prefix
        self.hub_id = hub_id
        self.agents_channel = f"{prefix}:agents"
        self._pubsub = client.pubsub()
        self._users: dict[str, int] = {}
        #: futures waiting for Redis to confirm a (un)subscription, by (kind, channel), oldest first
        self._confirmations: dict[tuple[str, str], list[asyncio.Future[None]]] = {}
        self._changes = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._handler: Handler | None = None
        self._recovered: Recovered | None = None
        self.connected = False

    def conversation_channel(self, conversation_id: str) -> str:
        return f"{self.prefix}:conversation:{conversation_id}"

    async def start(self, handler: Handler, recovered: Recovered) -> None:
        """Subscribe to the agents' channel and deliver what arrives to `handler`."""
        self._handler, self._recovered = handler, recovered
        self._reader = asyncio.create_task(self._read())
        await self.subscribe(self.agents_channel)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.aclose()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.client.publish(channel, json.dumps({"hub": self.hub_id, **message}, separators=(",", ":")))

    async def subscribe(self, channel: str) -> None:
        """Count one more user of `channel`; the first one subscribes and waits for Redis's word."""
        async with self._changes:
            self._users[channel] = self._users.get(channel, 0) + 1
            if self._users[channel] > 1:
                return
            confirmed = self._expect("subscribe", channel)
            await self._pubsub.subscribe(channel)
        await asyncio.wait_for(confirmed, CONFIRM_SECONDS)

    async def unsubscribe(self, channel: str) -> None:
        async with self._changes:
            users = self._users.get(channel, 0) - 1
            if users > 0:
                self._users[channel] = users
                return
            self._users.pop(channel, None)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(channel)

    def subscriptions(self) -> int:
        return len(self._users)

    def _expect(self, kind: str, channel: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault((kind, channel), []).append(future)
        return future

    def _confirm(self, kind: str, channel: str) -> None:
        waiting = self._confirmations.get((kind, channel))
        if waiting:
            future = waiting.pop(0)
            if not waiting:
                del self._confirmations[(kind, channel)]
            if not future.done():
                future.set_result(None)

    async def _read(self) -> None:
        """Read the subscription connection until cancelled; after a lost connection, subscribe
        again (redis-py resubscribes what it knows) and tell the owner frames may be missing."""
        lost = False
        while True:
            try:
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                if lost:
                    lost = False
                    log.warning("bus: connection to Redis is back; sockets of this hub reconnect to replay")
                    if self._recovered is not None:
                        await self._recovered()
                self.connected = True
                if message is not None:
                    await self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not lost:
                    log.warning("bus: lost Redis (%s); retrying every %s s", type(exc).__name__, RECONNECT_SECONDS)
                lost, self.connected = True, False
                await asyncio.sleep(RECONNECT_SECONDS)
            except Exception:
                log.exception("bus: a message could not be handled")

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message["channel"].decode() if isinstance(message["channel"], bytes) else str(message["channel"])
        if kind in ("subscribe", "unsubscribe"):
            self._confirm(kind, channel)
            return
        if kind != "message" or self._handler is None:
            return
        data = json.loads(message["data"])
        if isinstance(data, dict) and data.get("hub") != self.hub_id:
            await self._handler(channel, data)
