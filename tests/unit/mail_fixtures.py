"""A real SMTP server in the test's event loop (aiosmtpd), and a hub that mails through it.

`SmtpSink` keeps every message it accepted; `refuse_data` makes it answer 451 to the next N
messages (a mail server that is down for a while), `refuse_recipients` answers 550 to every
recipient (an address that does not exist).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session

from handoff.app import create_app
from handoff.app_keys import FANOUT, STORE
from handoff.auth import hash_password
from handoff.settings import HubSettings, Secret
from tests.unit.hub_fixtures import AGENT_PASSWORD, hub_settings, receive_until, sign_in, start_conversation

LINK_SECRET = "a-test-link-secret-of-some-length"


class SmtpSink:
    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, EmailMessage]] = []
        self.refused = 0
        self.refuse_data = 0
        self.refuse_recipients = False
        self.arrived = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_data > 0:
            self.refuse_data -= 1
            self.refused += 1
            return "451 4.3.0 Mail server busy, try again later"
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, _class=EmailMessage, policy=email.policy.default)
        self.messages.append((envelope, message))
        self.arrived.set()
        return "250 Message accepted for delivery"

    async def start(self, port: int = 0) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def message(self, index: int = 0, timeout: float = 15) -> tuple[Envelope, EmailMessage]:
        """The `index`-th message accepted, once it has arrived (the timeout guards against
        hanging; it is not a measured threshold)."""
        while len(self.messages) <= index:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), timeout)
        return self.messages[index]


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    yield sink
    await sink.stop()


def mail_settings(tmp_path: Path, smtp_port: int | None, **overrides: Any) -> HubSettings:
    settings = hub_settings(
        tmp_path,
        smtp_url=Secret(f"smtp://127.0.0.1:{smtp_port}" if smtp_port else ""),
        mail_dir=tmp_path / "mail",
        link_secret=Secret(LINK_SECRET),
        email_after_seconds=0.0,
        resume_url="http://shop.example/help-me",
        mail_retry_base_seconds=0.05,
        mail_retry_max_seconds=0.2,
        company_name="Kestrel",
    )
    return replace(settings, **overrides)


async def mail_hub(aiohttp_client: Any, settings: HubSettings) -> TestClient:
    client = await aiohttp_client(create_app(settings))
    await client.app[STORE].create_agent("alex@kestrel.example", "Alex", hash_password(AGENT_PASSWORD), "admin")
    await client.app[STORE].create_agent("bea@kestrel.example", "Bea", hash_password(AGENT_PASSWORD))
    return client


async def wait_until(condition: Any, timeout: float = 15) -> None:
    """Poll an async condition until it holds (a guard against hanging, never a measured time)."""

    async def poll() -> None:
        while not await condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(poll(), timeout)


async def queued_customer_gone(client: TestClient, metadata: dict[str, str]) -> dict[str, str]:
    """A customer who wrote (Rasa is down: queued as bot_unavailable), then closed the tab."""
    conversation = await start_conversation(client, metadata)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    await ws.send_json({"type": "message", "client_id": "m1", "text": "Where is my card?"})
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")
    await ws.close()
    conversation_id = conversation["conversation_id"]

    async def gone() -> bool:
        return client.app[FANOUT].sockets_of(conversation_id) == 0

    await wait_until(gone)
    return conversation


async def agent_answers(client: TestClient, conversation_id: str, text: str) -> None:
    await sign_in(client)
    response = await client.post(f"/api/agent/conversations/{conversation_id}/claim")
    assert response.status == 200, await response.text()
    response = await client.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": text})
    assert response.status == 201, await response.text()
