"""A real hub (aiohttp test server, real SQLite) whose Rasa address answers nothing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.app_keys import STORE
from handoff.auth import hash_password
from handoff.settings import HubSettings, sqlite_url

AGENT_PASSWORD = "correct horse battery staple"


def closed_port() -> int:
    """A port nothing listens on (Rasa is 'down')."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hub_settings(tmp_path: Path, **overrides: Any) -> HubSettings:
    settings = HubSettings(
        database_url=sqlite_url(tmp_path / "hub.sqlite3"),
        rasa_urls=(f"http://127.0.0.1:{closed_port()}",),
        rasa_timeout_seconds=2.0,
        # Rasa is down in these tests: hand off at once instead of waiting for it to come up
        # (tests/unit/test_bot_turns.py waits)
        rasa_wait_seconds=0.0,
        allowed_origins=("http://shop.example",),
        max_message_chars=100,
        rate_limit_messages=5,
        rate_limit_window_seconds=60,
        # Rasa's tracker store as erasure and retention see it: a file of this test's own
        rasa_tracker_url=sqlite_url(tmp_path / "rasa-tracker.sqlite3"),
    )
    return replace(settings, **overrides)


@pytest.fixture
async def hub(aiohttp_client: Any, tmp_path: Path) -> TestClient:
    client = await aiohttp_client(create_app(hub_settings(tmp_path)))
    await client.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    await client.app[STORE].create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    return client


async def sign_in(client: TestClient, email: str = "alex@kestrel.example") -> None:
    response = await client.post("/api/agent/login", json={"email": email, "password": AGENT_PASSWORD})
    assert response.status == 200, await response.text()


async def start_conversation(client: TestClient, metadata: dict[str, str] | None = None) -> dict[str, str]:
    response = await client.post("/api/conversations", json={"metadata": metadata or {}})
    assert response.status == 201
    return dict(await response.json())


def run_cli(
    module: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A real command (`python -m module args…`) in its own process, on the test hub's database,
    as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, "DATABASE_URL": sqlite_url(tmp_path / "hub.sqlite3"), **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


async def receive_until(ws: Any, predicate: Any, limit: int = 50, timeout: float = 10) -> list[dict[str, Any]]:
    """Frames up to and including the first that matches; a closed socket or `timeout` seconds of
    silence fails."""
    frames = []
    for _ in range(limit):
        message = await ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, f"the hub closed the socket: {message} after {frames}"
        frame = json.loads(message.data)
        frames.append(frame)
        if predicate(frame):
            return frames
    raise AssertionError(f"no matching frame in {frames}")
