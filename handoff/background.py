"""Periodic work in the hub (the session check, the erased-conversation check, retention): a
task that runs for as long as the app does, logs a failed round and tries again next round."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

log = logging.getLogger(__name__)


async def _every(seconds: float, work: Callable[[], Awaitable[object]], what: str, first_after: float) -> None:
    await asyncio.sleep(first_after)
    while True:
        try:
            await work()
        except Exception:
            log.warning("%s failed; it runs again in %s s", what, seconds, exc_info=True)
        await asyncio.sleep(seconds)


@contextlib.asynccontextmanager
async def every(
    seconds: float, work: Callable[[], Awaitable[object]], what: str, first_after: float | None = None
) -> AsyncIterator[None]:
    """Run `work` every `seconds` (first after `first_after`, default one interval) while the
    `async with` body runs: wrap a cleanup context's `yield` in it."""
    task = asyncio.create_task(_every(seconds, work, what, seconds if first_after is None else first_after))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
