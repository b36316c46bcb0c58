"""At most N requests in flight per Rasa process; the rest wait in the hub, first come first served.

One Rasa process answers only so many messages a second on this machine whatever the number of
requests it is sent: past about eight in flight, more only lengthens every turn until some pass
the hub's timeout and are handed to a person as `bot_unavailable` (6 to 12 of 100 conversations
at 50 concurrent, without this limit). Waiting here instead costs no throughput, keeps Rasa's own
queue short (so a sent request is answered well within `HUB_RASA_TIMEOUT_SECONDS`), and lets the
hub bound the wait itself (`HUB_RASA_WAIT_SECONDS`). Too few starve Rasa, which overlaps one
message's NLU with another's action-server call. `make bench` (the overload part, `--in-flight`)
measures the limit; README, "Latest figures".

This is one hub's limiter, in memory. Several hubs in front of one Rasa would each hold their
own share, or put a Redis-backed limiter with the same `slot` behind `RasaClient`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class SlotTimeout(Exception):
    """No slot came free before the caller's deadline."""


class InFlightLimiter:
    """`limit` requests at a time per Rasa URL (0: no limit, only counted)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(0, limit)
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._in_flight: dict[str, int] = {}
        self._waiting: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def slot(self, url: str, timeout: float) -> AsyncIterator[None]:
        """Hold one of `url`'s slots for the body; SlotTimeout after waiting `timeout` seconds
        for one (a free slot is taken at once, whatever the timeout)."""
        semaphore = self._slots.setdefault(url, asyncio.Semaphore(self.limit)) if self.limit else None
        if semaphore is not None:
            if semaphore.locked():
                self._waiting[url] = self._waiting.get(url, 0) + 1
                try:
                    async with asyncio.timeout(max(0.0, timeout)):
                        await semaphore.acquire()
                except TimeoutError:
                    raise SlotTimeout(f"no free slot at {url} within {timeout:.1f}s") from None
                finally:
                    self._waiting[url] -= 1
            else:
                await semaphore.acquire()
        self._in_flight[url] = self._in_flight.get(url, 0) + 1
        try:
            yield
        finally:
            self._in_flight[url] -= 1
            if semaphore is not None:
                semaphore.release()

    def load(self) -> dict[str, dict[str, int]]:
        """Per Rasa URL: requests in flight, and turns waiting for a slot (the hub's /health)."""
        return {
            url: {"in_flight": self._in_flight.get(url, 0), "waiting": self._waiting.get(url, 0)}
            for url in sorted(set(self._in_flight) | set(self._waiting))
        }
