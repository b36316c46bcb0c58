"""Fan-out of frames to open customer and agent WebSockets.

One hub (the embedded default): a dict of sets in this process. Several hubs (`REDIS_URL`): the
same methods also publish each frame on the Redis bus (handoff/bus.py), and every other hub hands
it to its own sockets; agents online and each conversation's open sockets are counted across hubs
(handoff/presence.py). A hub delivers to its own sockets first, without the round trip.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from typing import Any

from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from handoff import contract
from handoff.bus import RedisBus
from handoff.presence import RedisPresence

log = logging.getLogger(__name__)


class Fanout:
    def __init__(self, bus: RedisBus | None = None, presence: RedisPresence | None = None) -> None:
        self._customers: dict[str, weakref.WeakSet[web.WebSocketResponse]] = {}
        #: each open inbox socket → (agent id, the hash of the session token it was opened with)
        self._agents: dict[web.WebSocketResponse, tuple[int, str]] = {}
        self.all_sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.bus = bus
        self.presence = presence
        #: a number per socket, its name in presence
        self._socket_ids: weakref.WeakKeyDictionary[web.WebSocketResponse, int] = weakref.WeakKeyDictionary()
        #: each customer socket that joined its conversation's channel and presence, until it leaves
        self._joined: weakref.WeakKeyDictionary[web.WebSocketResponse, str] = weakref.WeakKeyDictionary()
        self._numbers = itertools.count(1)

    # --- several hubs -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the other hubs (a no-op for one hub)."""
        if self.bus is not None:
            await self.bus.start(self._from_bus, self._bus_recovered)
        if self.presence is not None:
            await self.presence.start()

    async def close(self) -> None:
        if self.presence is not None:
            await self.presence.close()
        if self.bus is not None:
            await self.bus.close()

    async def _from_bus(self, channel: str, message: dict[str, Any]) -> None:
        """A frame another hub published: to this hub's sockets."""
        frame, close = message.get("frame"), message.get("close")
        if channel == self._agents_channel():
            if isinstance(frame, dict):
                if frame.get("type") == "agents_online" and self.presence is not None:
                    await self.presence.refresh()  # someone came or left on another hub
                await self._send(list(self._agents), frame)
            return
        conversation_id = channel.rsplit(":", 1)[-1]
        if isinstance(frame, dict):
            await self._to_local_conversation(conversation_id, frame)
        elif isinstance(close, list) and len(close) == 2:
            await self._close_local(conversation_id, int(close[0]), str(close[1]).encode())

    async def _bus_recovered(self) -> None:
        """Frames may have been lost while Redis was away: every socket of this hub reconnects
        (to any hub) and replays from its last seq."""
        for ws in list(self.all_sockets):
            await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"reconnect to catch up")

    def _agents_channel(self) -> str:
        return self.bus.agents_channel if self.bus is not None else ""

    async def _publish(self, channel: str, message: dict[str, Any]) -> None:
        """To the other hubs; a failure is logged (the message is stored: sockets catch up by replay)."""
        if self.bus is None:
            return
        try:
            await self.bus.publish(channel, message)
        except (RedisError, OSError) as exc:
            log.warning("bus: could not publish (%s); other hubs' sockets catch up on reconnect", type(exc).__name__)

    def _socket_id(self, ws: web.WebSocketResponse) -> int:
        if ws not in self._socket_ids:
            self._socket_ids[ws] = next(self._numbers)
        return self._socket_ids[ws]

    # --- sockets of this hub ----------------------------------------------------------------------

    async def add_customer(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        """Once this returns, every frame of the conversation reaches `ws` (replay after it)."""
        self._customers.setdefault(conversation_id, weakref.WeakSet()).add(ws)
        self.all_sockets.add(ws)
        self._joined[ws] = conversation_id
        if self.bus is not None:
            await self.bus.subscribe(self.bus.conversation_channel(conversation_id))
        if self.presence is not None:
            await self.presence.customer_connected(conversation_id, self._socket_id(ws))

    async def remove_customer(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        sockets = self._customers.get(conversation_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                self._customers.pop(conversation_id, None)
        if self._joined.pop(ws, None) is None:
            return
        if self.bus is not None:
            await self.bus.unsubscribe(self.bus.conversation_channel(conversation_id))
        if self.presence is not None:
            await self.presence.customer_left(conversation_id, self._socket_id(ws))

    async def add_agent(self, agent_id: int, session_hash: str, ws: web.WebSocketResponse) -> None:
        self._agents[ws] = (agent_id, session_hash)
        self.all_sockets.add(ws)
        if self.presence is not None:
            await self.presence.agent_connected(agent_id, self._socket_id(ws))

    async def remove_agent(self, ws: web.WebSocketResponse) -> None:
        agent = self._agents.pop(ws, None)
        if agent is not None and self.presence is not None:
            await self.presence.agent_left(agent[0], self._socket_id(ws))

    def agent_session_hashes(self) -> set[str]:
        return {session for _agent, session in self._agents.values()}

    def agent_sockets_of(self, session_hashes: set[str]) -> list[web.WebSocketResponse]:
        return [ws for ws, (_agent, session) in self._agents.items() if session in session_hashes]

    def online_agent_ids(self) -> set[int]:
        """Agents with an inbox open (on any hub)."""
        local = {agent for agent, _session in self._agents.values()}
        return local | self.presence.online_agent_ids() if self.presence is not None else local

    def agents_online(self) -> int:
        return len(self.online_agent_ids())

    def sockets_of(self, conversation_id: str) -> int:
        """This hub's open sockets of the conversation."""
        return len(self._customers.get(conversation_id, ()))

    async def customer_sockets(self, conversation_id: str) -> int:
        """The conversation's open sockets on every hub (is the customer here?)."""
        if self.presence is None:
            return self.sockets_of(conversation_id)
        try:
            return await self.presence.customer_sockets(conversation_id)
        except (RedisError, OSError):
            return self.sockets_of(conversation_id)

    def customer_conversation_ids(self) -> set[str]:
        return set(self._customers)

    def customer_connections(self) -> int:
        """This hub's open widget sockets."""
        return sum(len(s) for s in self._customers.values())

    # --- sending ----------------------------------------------------------------------------------

    async def close_conversation(self, conversation_id: str, code: int, reason: bytes) -> int:
        """Close every customer socket of a conversation, on every hub (it was erased); how many here."""
        if self.bus is not None:
            await self._publish(
                self.bus.conversation_channel(conversation_id), {"close": [code, reason.decode(errors="replace")]}
            )
        return await self._close_local(conversation_id, code, reason)

    async def _close_local(self, conversation_id: str, code: int, reason: bytes) -> int:
        sockets = list(self._customers.pop(conversation_id, ()))
        for ws in sockets:
            await ws.close(code=code, message=reason)
        return len(sockets)

    async def to_conversation(self, conversation_id: str, frame: dict[str, Any]) -> None:
        """To the customer's sockets; a private note never (the last guard, whatever the caller)."""
        if contract.is_private(frame):
            log.error("conversation %s: refused to send a private note to the customer", conversation_id)
            return
        await self._to_local_conversation(conversation_id, frame)
        if self.bus is not None:
            await self._publish(self.bus.conversation_channel(conversation_id), {"frame": frame})

    async def _to_local_conversation(self, conversation_id: str, frame: dict[str, Any]) -> None:
        if contract.is_private(frame):  # a frame from another hub passes the same guard
            return
        await self._send(list(self._customers.get(conversation_id, ())), frame)

    async def to_agents(self, frame: dict[str, Any]) -> None:
        await self._send(list(self._agents), frame)
        if self.bus is not None:
            await self._publish(self.bus.agents_channel, {"frame": frame})

    async def _send(self, sockets: list[web.WebSocketResponse], frame: dict[str, Any]) -> None:
        if not sockets:
            return
        results = await asyncio.gather(
            *(ws.send_json(frame) for ws in sockets if not ws.closed), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.debug("dropped a frame to a closing socket: %s", type(result).__name__)
