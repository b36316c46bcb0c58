"""Agent sessions after sign-in: sign-in throttling, hashing off the event loop, and closing the
inbox sockets of sessions that have ended.

An inbox socket is authorised once, when it opens. Its session can end later: sign-out, expiry,
a password reset or `supportbot-agent disable` (from another process). Sign-out in this hub
closes the socket at once; every other ending is caught by a check of all open sockets'
sessions every `HUB_AGENT_SESSION_CHECK_SECONDS` (one query), and the socket is closed with
code 4401, which the inbox answers by showing the sign-in screen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp import web

from handoff import background
from handoff.app_keys import FANOUT, SETTINGS, STORE
from handoff.rate_limit import Limiter, limiter
from handoff.store import hash_token

log = logging.getLogger(__name__)

SESSION_ENDED = 4401
LOGIN_WINDOW_SECONDS = 15 * 60


@dataclass
class LoginGuard:
    """Limits on sign-in: attempts per address, failures per account, and how many argon2
    checks run at once (each takes ~50 ms of CPU in a worker thread, never on the event loop)."""

    per_address: Limiter
    per_account: Limiter
    hashing: asyncio.Semaphore

    @classmethod
    def create(
        cls, attempts_per_address: int, failures_per_account: int, redis: aioredis.Redis | None = None, prefix: str = ""
    ) -> LoginGuard:
        """In this process, or with `redis` shared by every hub (a guess per hub would multiply the limits)."""
        return cls(
            limiter(redis, prefix, "login-address", attempts_per_address, LOGIN_WINDOW_SECONDS),
            limiter(redis, prefix, "login-account", failures_per_account, LOGIN_WINDOW_SECONDS),
            asyncio.Semaphore(2),
        )

    async def refusal(self, address: str, email: str) -> tuple[str, int] | None:
        """Why this sign-in may not be tried now, with the seconds to wait; None when it may."""
        if await self.per_address.full(address):
            return "Too many sign-in attempts from your network.", await self.per_address.retry_after(address)
        if await self.per_account.full(email):
            return ("Too many wrong passwords for this account.", await self.per_account.retry_after(email))
        return None

    async def attempted(self, address: str) -> None:
        await self.per_address.hit(address)

    async def failed(self, email: str) -> None:
        await self.per_account.hit(email)


LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)


async def close_sockets_of(app: web.Application, session_hashes: set[str]) -> int:
    sockets = app[FANOUT].agent_sockets_of(session_hashes)
    for ws in sockets:
        await ws.close(code=SESSION_ENDED, message=b"session ended: sign in again")
    return len(sockets)


async def end_session(app: web.Application, token: str) -> None:
    """Sign-out: the session is deleted and its open sockets closed now."""
    await app[STORE].delete_session(token)
    await close_sockets_of(app, {hash_token(token)})


async def close_ended_sessions(app: web.Application) -> int:
    """Close every open inbox socket whose session no longer signs anyone in."""
    open_sessions = app[FANOUT].agent_session_hashes()
    if not open_sessions:
        return 0
    ended = open_sessions - await app[STORE].live_session_hashes(open_sessions)
    closed = await close_sockets_of(app, ended) if ended else 0
    if closed:
        log.info("closed %d inbox socket(s) whose session ended", closed)
    return closed


async def watch_sessions(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: the periodic session check runs for as long as the hub does."""
    async with background.every(
        app[SETTINGS].agent_session_check_seconds, lambda: close_ended_sessions(app), "agent session check"
    ):
        yield
