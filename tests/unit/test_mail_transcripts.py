"""Transcripts by email, through a real SMTP server (aiosmtpd): on request from the widget
("Email me this conversation"), and when an agent resolves a conversation whose customer gave
an email."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from handoff.app_keys import STORE
from handoff.settings import Secret
from tests.unit.hub_fixtures import receive_until, start_conversation
from tests.unit.mail_fixtures import SmtpSink, agent_answers, mail_hub, mail_settings, queued_customer_gone, smtp_sink


async def test_email_me_this_conversation(aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    await ws.send_json({"type": "message", "client_id": "m1", "text": "Is <b>this</b> & that safe?"})
    await receive_until(ws, lambda f: f["type"] == "state" and f["state"] == "queued")

    await ws.send_json({"type": "email_transcript"})  # no address given, none known
    assert (await receive_until(ws, lambda f: f["type"] == "transcript_sent"))[-1]["email"] is None
    await ws.send_json({"type": "email_transcript", "email": "not an address"})
    refused = (await receive_until(ws, lambda f: f["type"] == "error"))[-1]
    assert refused["code"] == "malformed" and "email address" in refused["message"]
    await ws.send_json({"type": "email_transcript", "email": "sam@example.com"})
    assert (await receive_until(ws, lambda f: f["type"] == "transcript_sent"))[-1]["email"] == "sam@example.com"

    envelope, message = await smtp_sink.message()
    assert envelope.rcpt_tos == ["sam@example.com"] and message["Subject"] == "Your conversation with Kestrel support"
    assert "Is <b>this</b> & that safe?" in message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "<b>this</b>" not in html and "Is &lt;b&gt;this&lt;/b&gt; &amp; that safe?" in html
    assert "#kestrel-resume=" in html  # it can be continued
    await ws.close()


async def test_a_resolved_conversation_is_emailed_to_a_customer_who_gave_an_email(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port, email_after_seconds=3600.0))
    conversation = await queued_customer_gone(hub, {"email": "ana@example.com"})
    conversation_id = conversation["conversation_id"]
    await agent_answers(hub, conversation_id, "Done: your card is unblocked.")
    assert (await hub.post(f"/api/agent/conversations/{conversation_id}/resolve")).status == 200

    envelope, message = await smtp_sink.message()
    assert envelope.rcpt_tos == ["ana@example.com"] and "Your conversation" in message["Subject"]
    assert "Done: your card is unblocked." in message.get_body(("plain",)).get_content()
    kinds = [(m.kind, m.status) for m in await hub.app[STORE].outbox(conversation_id)]
    assert ("transcript", "sent") in kinds or ("transcript", "pending") in kinds


async def test_a_resolved_conversation_without_an_email_sends_nothing(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await queued_customer_gone(hub, {})
    await agent_answers(hub, conversation["conversation_id"], "Done.")
    assert (await hub.post(f"/api/agent/conversations/{conversation['conversation_id']}/resolve")).status == 200
    assert await hub.app[STORE].outbox() == []


async def test_without_customer_email_the_widget_is_told_so(aiohttp_client: Any, tmp_path: Path) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, link_secret=Secret("")))
    conversation = await start_conversation(hub)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    await ws.send_json({"type": "email_transcript", "email": "sam@example.com"})
    refused = (await receive_until(ws, lambda f: f["type"] == "error"))[-1]
    assert refused["code"] == "email_unavailable"
    await ws.close()
