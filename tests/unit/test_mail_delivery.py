"""Email out, on real parts: a hub (real SQLite) mails through a real SMTP server in the test's
event loop (aiosmtpd); the .eml default; a signed link that reopens exactly one conversation; a
mail server that refuses for a while delays but loses nothing; a refused address marks the
conversation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from handoff.app import create_app
from handoff.app_keys import FANOUT, STORE
from handoff.mail import links
from handoff.settings import Secret
from tests.unit.hub_fixtures import closed_port, receive_until, sign_in
from tests.unit.mail_fixtures import (
    LINK_SECRET,
    SmtpSink,
    agent_answers,
    mail_hub,
    mail_settings,
    queued_customer_gone,
    smtp_sink,
    wait_until,
)

ANA = {"name": "Ana <script>", "email": "ana@example.com"}
REPLY = 'Your card left today. <img src=x onerror="alert(1)"> & see you'


async def sent(hub: Any, conversation_id: str) -> bool:
    return all(mail.status == "sent" for mail in await hub.app[STORE].outbox(conversation_id))


def link_of(text: str) -> str:
    match = re.search(r"http://shop\.example/help-me#kestrel-resume=(\S+)", text)
    assert match, text
    return match.group(1)


async def test_an_agent_reply_to_an_offline_customer_arrives_with_a_link_that_reopens_the_conversation(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await queued_customer_gone(hub, ANA)
    conversation_id = conversation["conversation_id"]
    await agent_answers(hub, conversation_id, REPLY)

    envelope, message = await smtp_sink.message()
    assert envelope.rcpt_tos == ["ana@example.com"] and message["To"] == "ana@example.com"
    assert links.conversation_of_address(LINK_SECRET, message["Reply-To"]) == conversation_id
    assert links.conversation_of_address(LINK_SECRET, envelope.mail_from) == conversation_id  # bounces come back here
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert REPLY in text and "Where is my card?" in text  # the reply and the transcript
    assert "<img" not in html and "&lt;img src=x" in html and "&amp; see you" in html
    assert "<script>" not in html and "Ana &lt;script&gt;" in html
    token = link_of(text)
    assert token in html

    resumed = await hub.post("/api/conversations/resume", json={"link": token})
    assert resumed.status == 200, await resumed.text()
    key = await resumed.json()
    assert key["conversation_id"] == conversation_id and key["token"] != conversation["token"]
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": key["token"], "after_seq": 0})
    frames = await receive_until(ws, lambda f: f["type"] == "state")
    assert REPLY in [f["text"] for f in frames if f["type"] == "message" and f["sender"] == "agent"]
    await ws.close()

    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    markers = details["conversation"]["email"]
    assert markers["emailed_at"] and markers["read_at"] and markers["bounced_at"] is None
    items = (await (await hub.get("/api/agent/queue")).json())["items"]
    assert [item["email"]["read_at"] is not None for item in items] == [True]


async def test_a_link_grants_its_own_conversation_only_and_expires(aiohttp_client: Any, tmp_path: Path) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None))
    mine = (await (await hub.post("/api/conversations", json={})).json())["conversation_id"]
    other = (await (await hub.post("/api/conversations", json={})).json())["conversation_id"]
    good = links.resume_token(LINK_SECRET, mine, 2_000_000_000)
    forged = good.replace(mine, other)
    expired = links.resume_token(LINK_SECRET, mine, 1_000)
    wrong_key = links.resume_token("another secret", mine, 2_000_000_000)
    for link, status, code in (
        (forged, 403, "link_invalid"),
        (wrong_key, 403, "link_invalid"),
        (expired, 410, "link_expired"),
        ("nonsense", 400, "malformed"),
    ):
        response = await hub.post("/api/conversations/resume", json={"link": link})
        body = await response.json()
        assert (response.status, body["error"]["code"]) == (status, code)
        assert "chat" in body["error"]["message"]  # says what to do next
    assert (await hub.post("/api/conversations/resume", json={"link": good})).status == 200


async def test_no_smtp_url_writes_eml_files(aiohttp_client: Any, tmp_path: Path) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None))
    conversation = await queued_customer_gone(hub, ANA)
    await agent_answers(hub, conversation["conversation_id"], "Here is your answer.")

    async def written() -> bool:
        return any((tmp_path / "mail").glob("*.eml"))

    await wait_until(written)
    (path,) = (tmp_path / "mail").glob("*.eml")
    assert "Here is your answer." in path.read_text() and not list((tmp_path / "mail").glob("*.tmp"))


async def test_a_customer_with_the_chat_open_gets_no_email(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await queued_customer_gone(hub, ANA)
    ws = await hub.ws_connect("/ws")
    await ws.send_json({"type": "hello", "token": conversation["token"], "after_seq": 0})
    await receive_until(ws, lambda f: f["type"] == "state")
    await agent_answers(hub, conversation["conversation_id"], "Still there?")
    await receive_until(ws, lambda f: f["type"] == "message" and f["sender"] == "agent")
    assert await hub.app[STORE].outbox(conversation["conversation_id"]) == []
    await ws.close()


async def test_a_mail_server_that_refuses_for_a_while_delays_but_loses_nothing(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse_data = 3
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await queued_customer_gone(hub, ANA)
    conversation_id = conversation["conversation_id"]
    await agent_answers(hub, conversation_id, "First answer")  # answered at once, whatever the mail server does
    await hub.post(f"/api/agent/conversations/{conversation_id}/messages", json={"text": "Second answer"})

    _envelope, message = await smtp_sink.message()
    assert smtp_sink.refused == 3 and len(smtp_sink.messages) == 1
    text = message.get_body(("plain",)).get_content()
    assert "First answer" in text and "Second answer" in text  # one email carries both replies
    await wait_until(lambda: sent(hub, conversation_id))
    (mail,) = await hub.app[STORE].outbox(conversation_id)
    assert (mail.status, mail.attempts) == ("sent", 4)


async def test_a_mail_server_that_is_not_there_at_first_gets_the_mail_when_it_starts(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    port = closed_port()
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, port))
    conversation = await queued_customer_gone(hub, ANA)
    conversation_id = conversation["conversation_id"]
    await agent_answers(hub, conversation_id, "Answer while the mail server is down")

    async def tried_twice() -> bool:
        return any(m.attempts >= 2 and m.status == "pending" for m in await hub.app[STORE].outbox(conversation_id))

    await wait_until(tried_twice)
    late = SmtpSink()
    await late.start(port)
    try:
        _envelope, message = await late.message()
        assert "Answer while the mail server is down" in message.get_body(("plain",)).get_content()
        await wait_until(lambda: sent(hub, conversation_id))
        (mail,) = await hub.app[STORE].outbox(conversation_id)
        assert mail.status == "sent" and mail.attempts >= 3
    finally:
        await late.stop()


async def test_a_refused_address_marks_the_conversation_for_agents(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    smtp_sink.refuse_recipients = True
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port))
    conversation = await queued_customer_gone(hub, {"email": "nobody@example.com"})
    conversation_id = conversation["conversation_id"]
    await sign_in(hub)
    inbox = await hub.ws_connect("/api/agent/ws")
    await agent_answers(hub, conversation_id, "Hello?")
    frames = await receive_until(inbox, lambda f: f["type"] == "email_status" and (f["email"] or {}).get("bounced_at"))
    assert "550" in frames[-1]["email"]["bounce_reason"]
    (mail,) = await hub.app[STORE].outbox(conversation_id)
    assert (mail.status, mail.attempts) == ("failed", 1)  # a permanent refusal is not retried
    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    assert details["conversation"]["email"]["bounced_at"] and smtp_sink.messages == []
    await inbox.close()


async def test_without_a_link_secret_customers_get_no_email(
    aiohttp_client: Any, tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, smtp_sink.port, link_secret=Secret("")))
    conversation = await queued_customer_gone(hub, ANA)
    await agent_answers(hub, conversation["conversation_id"], "Hello?")
    assert await hub.app[STORE].outbox() == [] and hub.app[FANOUT].sockets_of(conversation["conversation_id"]) == 0
    response = await hub.post("/api/conversations/resume", json={"link": "x.1.y"})
    assert response.status == 404 and "not enabled" in (await response.json())["error"]["message"]


async def test_mail_waiting_when_the_hub_stops_goes_out_after_a_restart(aiohttp_client: Any, tmp_path: Path) -> None:
    port = closed_port()
    settings = mail_settings(tmp_path, port)
    first = await mail_hub(aiohttp_client, settings)
    conversation = await queued_customer_gone(first, ANA)
    conversation_id = conversation["conversation_id"]
    await agent_answers(first, conversation_id, "Written before the restart")

    async def tried() -> bool:
        return any(m.attempts >= 1 for m in await first.app[STORE].outbox(conversation_id))

    await wait_until(tried)
    await first.close()  # the hub stops with the email unsent
    sink = SmtpSink()
    await sink.start(port)
    try:
        second = await aiohttp_client(create_app(settings))  # the same database
        _envelope, message = await sink.message()
        assert "Written before the restart" in message.get_body(("plain",)).get_content()
        await wait_until(lambda: sent(second, conversation_id))
        assert len(sink.messages) == 1
    finally:
        await sink.stop()
