"""Auto-assignment (`HUB_AUTO_ASSIGN`): a new handoff goes to the online member of its team (any
online agent, for the general queue) with the most free capacity, ties to the one idle longest;
an agent's unanswered conversations go back to the queue when they have been offline for
`HUB_OFFLINE_GRACE_SECONDS` (a page reload is not going offline) or when a claim has waited
`HUB_CLAIM_TIMEOUT_SECONDS` without a reply. Claiming by hand works as before.

Capacity: each agent's own (`supportbot-agent capacity EMAIL N`), else `HUB_AGENT_CAPACITY`;
free capacity is that minus the conversations they hold. Idle: since their last claim (never
claimed counts as idle longest). Online: an inbox socket open on this hub process.

An assignment is a claim (the store's atomic claim: a hand claim at the same moment wins or loses
cleanly), announced like one, and in the audit log as a claim by "auto-assignment".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from handoff.fanout import Fanout
from handoff.relay import Relay
from handoff.settings import HubSettings
from handoff.store import AlreadyClaimed, Conflict, NotYours, QueueItem, Store

log = logging.getLogger(__name__)
#: how often the queue is checked for offline agents, timed-out claims and unassigned handoffs
SWEEP_SECONDS = 5.0
ACTOR = "auto-assignment"


@dataclass(frozen=True)
class Candidate:
    agent_id: int
    free: int  # capacity left
    last_claimed_at: float | None  # None: never claimed (idle longest)


def pick(candidates: Iterable[Candidate]) -> int | None:
    """The agent with the most free capacity; ties: idle longest. None when nobody has room."""
    open_ones = [c for c in candidates if c.free > 0]
    if not open_ones:
        return None
    best = max(open_ones, key=lambda c: (c.free, -(c.last_claimed_at or 0.0), -c.agent_id))
    return best.agent_id


class Assigner:
    def __init__(
        self, settings: HubSettings, store: Store, fanout: Fanout, relay: Relay, clock: Callable[[], float] = time.time
    ) -> None:
        self.settings, self.store, self.fanout, self.relay, self.clock = settings, store, fanout, relay, clock
        self.offline_since: dict[int, float] = {}
        self._lock = asyncio.Lock()  # one assignment at a time, so loads are never read stale

    async def assign(self, conversation_id: str) -> int | None:
        """Give this queued conversation to an agent now, if one has room; their id, or None."""
        async with self._lock:
            item = next((i for i in await self.store.queue_items() if i.conversation_id == conversation_id), None)
            return await self._assign(item) if item and item.state == "queued" else None

    async def _assign(self, item: QueueItem, not_to: int | None = None) -> int | None:
        online = self.fanout.online_agent_ids() - {not_to}
        if item.team_id is not None:
            team = next((t for t in await self.store.teams() if t.id == item.team_id), None)
            online &= set(team.member_ids) if team else set()
        agents = {a.id: a for a, _sessions in await self.store.agents() if a.id in online and not a.disabled}
        loads = await self.store.agent_loads()
        chosen = pick(
            Candidate(
                agent.id,
                (agent.capacity or self.settings.agent_capacity) - loads.get(agent.id, (0, None))[0],
                loads.get(agent.id, (0, None))[1],
            )
            for agent in agents.values()
        )
        if chosen is None:
            return None
        try:
            await self.relay.claim(item.conversation_id, agents[chosen])
        except (AlreadyClaimed, Conflict):  # claimed by hand meanwhile
            return None
        await self.store.audit(ACTOR, "claim", item.conversation_id, {"assigned": True}, agent_id=chosen)
        log.info("conversation %s assigned to agent %s", item.conversation_id, chosen)
        return chosen

    async def sweep(self) -> None:
        """Return the unanswered conversations of agents offline past the grace and of claims past
        the timeout, then assign what waits, in queue order."""
        async with self._lock:
            now, online = self.clock(), self.fanout.online_agent_ids()
            for agent_id in online:
                self.offline_since.pop(agent_id, None)
            items, returned = await self.store.queue_items(), {}
            for item in items:
                if item.state != "agent" or item.agent_id is None or item.first_response_at is not None:
                    continue
                if item.agent_id not in online:
                    self.offline_since.setdefault(item.agent_id, now)
                offline = item.agent_id not in online and now - self.offline_since[item.agent_id] >= (
                    self.settings.offline_grace_seconds
                )
                timeout = self.settings.claim_timeout_seconds
                timed_out = bool(timeout) and item.claimed_at is not None and now - item.claimed_at >= timeout
                if offline or timed_out:
                    await self._return(item, "offline" if offline else "claim_timeout")
                    returned[item.conversation_id] = item.agent_id
            for item in await self.store.queue_items():
                if item.state == "queued":  # not straight back to whoever let it time out
                    await self._assign(item, not_to=returned.get(item.conversation_id))

    async def _return(self, item: QueueItem, why: str) -> None:
        agent = await self.store.agent_by_id(item.agent_id or 0)
        if agent is None:
            return
        try:
            await self.relay.release(item.conversation_id, agent)
        except (Conflict, NotYours):  # answered, released or resolved meanwhile
            return
        await self.store.audit(ACTOR, "release", item.conversation_id, {"why": why}, agent_id=agent.id)
        log.info("conversation %s back in the queue from agent %s: %s", item.conversation_id, agent.id, why)


ASSIGNER = web.AppKey("assigner", Assigner)


@contextlib.asynccontextmanager
async def running(app: web.Application, assigner: Assigner) -> AsyncIterator[None]:
    """The sweep every SWEEP_SECONDS while the hub runs, and an assignment at every new handoff."""
    app[ASSIGNER] = assigner
    assigner.relay.after_queued.append(assigner.assign)

    async def loop() -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await assigner.sweep()
            except Exception:  # the next sweep tries again
                log.exception("auto-assignment sweep failed")

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
