"""Who may do what in the inbox, and for how long: roles, the end of a session (sign-out, expiry,
password reset, disable) closing the open inbox socket, and the sign-in throttle.

Real hub (aiohttp test server, real SQLite); the password reset and disable go through the real
`supportbot-agent` command in another process, as an operator would run them.
"""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from handoff import auth
from handoff.agent_sessions import SESSION_ENDED
from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.rate_limit import PRUNE_EVERY, RateLimiter
from handoff.settings import sqlite_url
from handoff.store import Store, schema
from tests.unit.db_fixtures import database_url
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub, hub_settings, run_cli, sign_in, start_conversation

T = schema
ROOT = Path(__file__).resolve().parents[2]


async def _agent_hub(aiohttp_client: Any, tmp_path: Path, **overrides: Any) -> TestClient:
    client = await aiohttp_client(create_app(hub_settings(tmp_path, **overrides)))
    await client.app[STORE].create_agent("bea@kestrel.example", "Bea", auth.hash_password(AGENT_PASSWORD))
    return client


def supportbot_agent(tmp_path: Path, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    return run_cli("handoff.agents_cli", tmp_path, *args, env={"NEW_PASSWORD": password})


async def _closed_code(ws: aiohttp.ClientWebSocketResponse, timeout: float = 15) -> int | None:
    """Read until the hub closes the socket; its close code."""
    while True:
        message = await ws.receive(timeout=timeout)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code


async def test_sign_out_closes_the_open_inbox_socket_at_once(aiohttp_client: Any, tmp_path: Path) -> None:
    # The periodic session check is an hour away: only sign-out itself can close the socket in time.
    client = await _agent_hub(aiohttp_client, tmp_path, agent_session_check_seconds=3600)
    await sign_in(client, "bea@kestrel.example")
    ws = await client.ws_connect("/api/agent/ws")
    assert (await ws.receive_json(timeout=5))["type"] == "agents_online"
    await client.post("/api/agent/logout")
    assert await _closed_code(ws, timeout=2) == SESSION_ENDED
    # Nothing is fanned out to it any more: the hub counts no agent online.
    assert (await (await client.get("/health")).json())["agents_online"] == 0


async def test_a_password_reset_then_disable_end_every_session(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _agent_hub(aiohttp_client, tmp_path, agent_session_check_seconds=0.2)
    await sign_in(client, "bea@kestrel.example")
    ws = await client.ws_connect("/api/agent/ws")
    reset = supportbot_agent(
        tmp_path, "add", "bea@kestrel.example", "Bea", "--password-env", "NEW_PASSWORD", password="a brand new password"
    )
    assert reset.returncode == 0, reset.stderr
    assert await _closed_code(ws) == SESSION_ENDED
    assert (await client.get("/api/agent/me")).status == 401

    disabled = supportbot_agent(tmp_path, "disable", "bea@kestrel.example")
    assert disabled.returncode == 0, disabled.stderr
    refused = await client.post(
        "/api/agent/login", json={"email": "bea@kestrel.example", "password": "a brand new password"}
    )
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "agent_disabled"
    listing = supportbot_agent(tmp_path, "list")
    assert "bea@kestrel.example" in listing.stdout and "disabled" in listing.stdout
    assert supportbot_agent(tmp_path, "enable", "bea@kestrel.example").returncode == 0
    again = await client.post(
        "/api/agent/login", json={"email": "bea@kestrel.example", "password": "a brand new password"}
    )
    assert again.status == 200
    unknown = supportbot_agent(tmp_path, "disable", "nobody@kestrel.example")
    assert unknown.returncode == 1 and "no agent has the email" in unknown.stderr


async def test_an_expired_session_closes_its_socket(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _agent_hub(aiohttp_client, tmp_path, agent_session_check_seconds=0.2, agent_session_hours=1.5 / 3600)
    await sign_in(client, "bea@kestrel.example")
    ws = await client.ws_connect("/api/agent/ws")
    assert await _closed_code(ws) == SESSION_ENDED


async def test_roles_are_checked_on_each_route(hub: TestClient) -> None:
    await sign_in(hub, "bea@kestrel.example")  # role: agent
    assert (await hub.get("/api/agent/queue")).status == 200
    for path in ("/api/metrics", "/api/metrics.csv", "/api/metrics/gaps"):
        refused = await hub.get(path)
        assert refused.status == 403, path
        assert "role" in (await refused.json())["error"]["message"]
    dashboard = await hub.get("/dashboard")
    assert dashboard.status == 403 and "for admins" in await dashboard.text()
    assert (await hub.post("/api/articles", json={"markdown": "x"})).status == 403
    assert (await hub.delete("/api/articles/card-delivery")).status == 403
    await hub.post("/api/agent/logout")
    await sign_in(hub, "alex@kestrel.example")  # role: admin
    assert (await hub.get("/api/metrics")).status == 200
    assert (await hub.get("/api/metrics/gaps")).status == 200


async def test_sign_in_is_throttled_per_account_and_per_address(aiohttp_client: Any, tmp_path: Path) -> None:
    client = await _agent_hub(aiohttp_client, tmp_path, login_failures_per_account=3, login_attempts_per_address=6)
    await client.app[STORE].create_agent("cy@kestrel.example", "Cy", auth.hash_password(AGENT_PASSWORD))
    for _ in range(3):
        wrong = await client.post("/api/agent/login", json={"email": "bea@kestrel.example", "password": "guess"})
        assert wrong.status == 401
    locked = await client.post("/api/agent/login", json={"email": "BEA@kestrel.example", "password": AGENT_PASSWORD})
    assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
    assert "Try again in" in (await locked.json())["error"]["message"]
    # Another account from the same address still signs in, until the address uses its attempts.
    assert (
        await client.post("/api/agent/login", json={"email": "cy@kestrel.example", "password": AGENT_PASSWORD})
    ).status == 200
    for _ in range(2):
        await client.post("/api/agent/login", json={"email": "cy@kestrel.example", "password": "guess"})
    flooded = await client.post("/api/agent/login", json={"email": "cy@kestrel.example", "password": AGENT_PASSWORD})
    assert flooded.status == 429 and "network" in (await flooded.json())["error"]["message"]


async def test_password_checks_run_off_the_event_loop(hub: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []
    real = auth.verify_password

    def watched(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread())
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", watched)
    await sign_in(hub)
    await hub.post("/api/agent/login", json={"email": "nobody@kestrel.example", "password": "whatever"})
    assert len(threads) == 2 and threading.main_thread() not in threads


async def test_an_older_database_keeps_its_agents_as_admins_and_its_first_ratings(database_url: str) -> None:
    """Migrations 4 and 5 on a database from before them (SQLite and PostgreSQL): its agents
    keep every right they had, and of the ratings a customer stuffed only each handoff's first stays."""
    opened = await Store.open(database_url)
    agent = await opened.create_agent("old@kestrel.example", "Old", "hash")
    conversation, _ = await opened.create_conversation({})
    handoff = await opened.enqueue_handoff(conversation.id, "customer_request", "normal", "h", "s", {})
    assert handoff is not None
    async with opened.write() as conn:  # make it look like a database from before migration 4
        await conn.execute(sa.text("DROP INDEX uq_ratings_handoff"))
        await conn.execute(sa.text("ALTER TABLE agents DROP COLUMN role"))
        await conn.execute(sa.text("ALTER TABLE agents DROP COLUMN disabled_at"))
        await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0003'"))
        for score in (5, 1, 1):
            await conn.execute(
                T.ratings.insert().values(
                    conversation_id=conversation.id, handoff_id=handoff.id, score=score, comment="", created_at=0.0
                )
            )
    await opened.close()
    upgraded = await Store.open(database_url)
    try:
        old = await upgraded.agent_by_email("old@kestrel.example")
        assert old is not None and old.id == agent.id and old.role == "admin" and not old.disabled
        assert (await upgraded.create_agent("new@kestrel.example", "New", "hash")).role == "agent"
        assert [r.score for r in await upgraded.ratings_for(conversation.id)] == [5]
    finally:
        await upgraded.close()


def test_quiet_rate_limit_buckets_are_pruned() -> None:
    limiter = RateLimiter(limit=3, window_seconds=10)
    for n in range(PRUNE_EVERY):
        limiter.allow(f"address-{n}", now=0.0)
    assert len(limiter) == PRUNE_EVERY
    for _ in range(PRUNE_EVERY):
        limiter.allow("still-active", now=100.0)
    assert len(limiter) == 1
