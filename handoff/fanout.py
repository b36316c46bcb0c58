"""In-process fan-out of frames to open customer and agent WebSockets.

One hub process: a dict of sets. Several hub processes would put Redis pub/sub behind the
same three methods (README, "Scaling out").
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from aiohttp import web

from handoff import contract

log = logging.getLogger(__name__)


class Fanout:
    def __init__(self) -> None:
        self._customers: dict[str, weakref.WeakSet[web.WebSocketResponse]] = {}
        #: each open inbox socket → (agent id, the hash of the session token it was opened with)
        self._agents: dict[web.WebSocketResponse, tuple[int, str]] = {}
        self.all_sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()

    def add_customer(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        self._customers.setdefault(conversation_id, weakref.WeakSet()).add(ws)
        self.all_sockets.add(ws)

    def remove_customer(self, conversation_id: str, ws: web.WebSocketResponse) -> None:
        sockets = self._customers.get(conversation_id)
        if sockets is not None:
            sockets.discard(ws)
            if not sockets:
                self._customers.pop(conversation_id, None)

    def add_agent(self, agent_id: int, session_hash: str, ws: web.WebSocketResponse) -> None:
        self._agents[ws] = (agent_id, session_hash)
        self.all_sockets.add(ws)

    def agent_session_hashes(self) -> set[str]:
        return {session for _agent, session in self._agents.values()}

    def agent_sockets_of(self, session_hashes: set[str]) -> list[web.WebSocketResponse]:
        return [ws for ws, (_agent, session) in self._agents.items() if session in session_hashes]

    def remove_agent(self, ws: web.WebSocketResponse) -> None:
        self._agents.pop(ws, None)

    def online_agent_ids(self) -> set[int]:
        return {agent for agent, _session in self._agents.values()}

    def agents_online(self) -> int:
        return len({agent for agent, _session in self._agents.values()})

    def sockets_of(self, conversation_id: str) -> int:
        return len(self._customers.get(conversation_id, ()))

    def customer_conversation_ids(self) -> set[str]:
        return set(self._customers)

    async def close_conversation(self, conversation_id: str, code: int, reason: bytes) -> int:
        """Close every customer socket of a conversation (it was erased); how many."""
        sockets = list(self._customers.pop(conversation_id, ()))
        for ws in sockets:
            await ws.close(code=code, message=reason)
        return len(sockets)

    def customer_connections(self) -> int:
        return sum(len(s) for s in self._customers.values())

    async def to_conversation(self, conversation_id: str, frame: dict[str, Any]) -> None:
        """To the customer's sockets; a private note never (the last guard, whatever the caller)."""
        if contract.is_private(frame):
            log.error("conversation %s: refused to send a private note to the customer", conversation_id)
            return
        await self._send(list(self._customers.get(conversation_id, ())), frame)

    async def to_agents(self, frame: dict[str, Any]) -> None:
        await self._send(list(self._agents), frame)

    async def _send(self, sockets: list[web.WebSocketResponse], frame: dict[str, Any]) -> None:
        if not sockets:
            return
        results = await asyncio.gather(
            *(ws.send_json(frame) for ws in sockets if not ws.closed), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Exception):
                log.debug("dropped a frame to a closing socket: %s", type(result).__name__)
