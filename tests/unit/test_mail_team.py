"""What agents receive: a new high-priority handoff while nobody is signed in mails the team
address (HUB_TEAM_EMAIL), through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handoff.app_keys import RELAY, STORE
from handoff.contract import HandoffPayload
from tests.unit.hub_fixtures import sign_in, start_conversation
from tests.unit.mail_fixtures import SmtpSink, mail_hub, mail_settings, smtp_sink, wait_until

STOLEN = HandoffPayload(
    "sensitive_topic",
    "high",
    "Card stolen\nBcc: everyone@example.com",
    "Customer: <b>Ana</b>\nTheir card was stolen an hour ago.",
)


async def test_a_high_priority_handoff_while_nobody_is_online_mails_the_team(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port, team_email="team@kestrel.example"))
    conversation = await start_conversation(hub)
    await hub.app[RELAY].enqueue(conversation["conversation_id"], STOLEN)

    envelope, message = await smtp_sink.message()
    assert envelope.rcpt_tos == ["team@kestrel.example"] and message["Bcc"] is None  # no header injection
    assert message["Subject"].startswith("[Kestrel] High priority, no one online: Card stolen")
    text = message.get_body(("plain",)).get_content()
    assert "Security matter" in text and "Their card was stolen" in text and "/inbox" in text
    html = message.get_body(("html",)).get_content()
    assert "<b>Ana</b>" not in html and "&lt;b&gt;Ana&lt;/b&gt;" in html


async def test_no_team_mail_when_an_agent_is_online_or_the_case_is_not_urgent(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port, team_email="team@kestrel.example"))
    routine = HandoffPayload("customer_request", "normal", "Wants a person", "")
    await hub.app[RELAY].enqueue((await start_conversation(hub))["conversation_id"], routine)
    await sign_in(hub)
    inbox = await hub.ws_connect("/api/agent/ws")

    async def online() -> bool:
        return (await (await hub.get("/health")).json())["agents_online"] == 1

    await wait_until(online)
    await hub.app[RELAY].enqueue((await start_conversation(hub))["conversation_id"], STOLEN)
    assert await hub.app[STORE].outbox() == []
    await inbox.close()
