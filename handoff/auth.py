"""Agent authentication: argon2 password hashes and server-side sessions in an HttpOnly cookie."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from handoff.agent_sessions import LOGIN_GUARD
from handoff.app_keys import SETTINGS, STORE
from handoff.errors import error_response
from handoff.store import Agent

COOKIE = "kestrel_agent"
AGENT = web.RequestKey("agent", Agent)
_hasher = PasswordHasher()
# A real hash to verify against when the email is unknown, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash("not-a-real-password")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(request: web.Request, email: str, password: str) -> Agent | None:
    """The agent whose email and password these are (disabled or not), else None.

    argon2 runs in a worker thread, at most two at a time: a flood of sign-ins queues here
    instead of stalling every customer's socket on the event loop."""
    agent = await request.app[STORE].agent_by_email(email)
    async with request.app[LOGIN_GUARD].hashing:
        # An unknown email is checked against a real hash too, so timing does not reveal accounts.
        matches = await asyncio.to_thread(verify_password, agent.password_hash if agent else _DUMMY_HASH, password)
    return agent if agent is not None and matches else None


def session_token(request: web.Request) -> str:
    """The agent's session token from its cookie ("" when there is none), cut to a sane length."""
    return request.cookies.get(COOKIE, "")[:200]


async def current_agent(request: web.Request) -> Agent | None:
    token = session_token(request)
    if not token:
        return None
    return await request.app[STORE].agent_for_session(token)


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    settings = request.app[SETTINGS]
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=settings.cookie_secure,
        max_age=int(settings.agent_session_hours * 3600),
        path="/",
    )


def same_origin(request: web.Request) -> bool:
    """State-changing agent requests must come from the hub's own pages (CSRF defence on top of
    SameSite=Strict): an Origin header, when sent, must be one of ours."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    settings = request.app[SETTINGS]
    own = {settings.public_url, f"{request.scheme}://{request.host}"}
    return origin.rstrip("/") in own


def role_required(role: str) -> Callable[[Handler], Handler]:
    """A route for signed-in agents whose role is `role` or above (store.ROLES)."""

    def decorate(handler: Handler) -> Handler:
        async def wrapper(request: web.Request) -> web.StreamResponse:
            if request.method not in ("GET", "HEAD") and not same_origin(request):
                return error_response(403, "origin_not_allowed", "Agent actions must come from the inbox page.")
            agent = await current_agent(request)
            if agent is None:
                return error_response(401, "unauthorized", "Sign in to the agent inbox first.")
            if not agent.may(role):
                return error_response(
                    403, "forbidden", f"This needs the {role} role; ask an admin (supportbot-agent add --role {role})."
                )
            request[AGENT] = agent
            return await handler(request)

        wrapper.__name__ = handler.__name__
        wrapper.__doc__ = handler.__doc__
        return wrapper

    return decorate


agent_required = role_required("agent")
