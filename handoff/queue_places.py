"""Telling waiting customers their place in the queue, at the cost of one query per change.

Every change to the queue (a handoff queued, a claim, a release, a resolve) may move everyone
behind it. Before, each change asked the store for each waiting customer's place (several
queries each), so a claim cost O(queue length) and draining a queue of 200 took 79 s. Now a
change only marks the places stale; one task per hub recomputes them in one query, for the
customers whose sockets are open on this hub, and sends each its state frame. Changes that come
while it works are folded into its next round, so 50 claims at once cost a few rounds, and
the last frame each customer gets was computed after the last change (never a stale place).

A hub with its own sockets is all this needs to know: with several hubs, each hub runs one and
tells its own sockets (the queue itself is in the shared database).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


class QueuePlaces:
    """Coalesces "the queue changed" into rounds of `publish()`, one round at a time, in its own
    task (a claim's HTTP answer never waits for the customers' frames)."""

    def __init__(self, publish: Callable[[], Awaitable[None]]) -> None:
        self._publish = publish
        self._stale = False
        self._task: asyncio.Task[None] | None = None
        self._round = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def between_rounds(self) -> AsyncIterator[None]:
        """For a state frame sent outside the rounds (a claimed customer's "agent"): it goes after
        any round that read the places before the caller's change, so a stale "queued" frame
        never arrives last."""
        async with self._round:
            yield

    def changed(self) -> None:
        """The queue changed: publish again (now, or after the round in progress)."""
        self._stale = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._rounds())

    async def _rounds(self) -> None:
        while self._stale:
            self._stale = False
            try:
                async with self._round:
                    await self._publish()
            except Exception:  # a database hiccup: the next change publishes again
                log.exception("could not publish queue places")

    async def settled(self) -> None:
        """Wait until every change so far is published (shutdown, tests)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
