"""Replies by email come back: through the authenticated webhook (the common inbound-mail JSON
shape) and the embedded SMTP receiver (aiosmtpd, reached with aiosmtplib), into the same
conversation, with quoted history stripped; refusals are clear and logged without the body;
a bounce marks the conversation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient

from handoff.mail import links
from handoff.mail.inbound import strip_quoted
from handoff.settings import Secret
from tests.integration.stack import free_port
from tests.unit.hub_fixtures import receive_until, sign_in
from tests.unit.mail_fixtures import LINK_SECRET, agent_answers, mail_hub, mail_settings, queued_customer_gone

INBOUND_SECRET = "an-inbound-webhook-secret"
SECRET_WORDS = "my passport number is X1234567"


def signed(body: bytes, secret: str = INBOUND_SECRET) -> dict[str, str]:
    return {
        "X-Inbound-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }


def reply_json(to: str, text: str) -> bytes:
    return json.dumps(
        {
            "From": "Ana <ana@example.com>",
            "FromFull": {"Email": "ana@example.com", "Name": "Ana"},
            "To": to,
            "ToFull": [{"Email": to}],
            "Subject": "Re: Alex from Kestrel answered your question",
            "TextBody": text,
            "Headers": [{"Name": "Message-ID", "Value": "<x@example.com>"}],
        }
    ).encode()


async def handed_over(client: TestClient) -> str:
    conversation = await queued_customer_gone(client, {"email": "ana@example.com"})
    await agent_answers(client, conversation["conversation_id"], "Can you send a photo of the card?")
    return conversation["conversation_id"]


@pytest.mark.parametrize(
    ("email_text", "mine"),
    [
        (
            "Yes, sent!\n\nOn Tue, 1 Dec 2026 at 10:00, Kestrel Support <support@kestrel.example> wrote:\n> Can you",
            "Yes, sent!",
        ),
        (
            "Here it is.\nOn Tue, 1 Dec 2026 at 10:00, Kestrel Support\n<support@kestrel.example> wrote:\n> old",
            "Here it is.",
        ),
        ("Thanks\r\n\r\n-----Original Message-----\r\nFrom: Kestrel\r\nold text", "Thanks"),
        ("Fine\n________________________________\nFrom: Kestrel Support\nSent: Tuesday", "Fine"),
        ("Top\n> quoted\nbottom\n-- \nAna, sent from far away", "Top\nbottom"),
        ("Above\n\n-- Write your reply above this line --\n\nHello Ana,", "Above"),
    ],
)
def test_quoted_history_is_stripped(email_text: str, mine: str) -> None:
    assert strip_quoted(email_text) == mine


async def test_a_reply_by_email_appears_in_the_inbox_in_the_same_conversation(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, inbound_secret=Secret(INBOUND_SECRET)))
    conversation_id = await handed_over(hub)
    inbox = await hub.ws_connect("/api/agent/ws")
    address = links.reply_address(LINK_SECRET, "support@kestrel.example", conversation_id)
    body = reply_json(
        address, "Sent it just now.\n\nOn Tue, 1 Dec 2026, Kestrel Support wrote:\n> Can you send a photo"
    )
    response = await hub.post("/api/mail/inbound", data=body, headers=signed(body))
    assert response.status == 200, await response.text()
    assert (await response.json())["conversation_id"] == conversation_id

    frames = await receive_until(inbox, lambda f: f["type"] == "message" and f["sender"] == "customer")
    assert frames[-1]["conversation_id"] == conversation_id and frames[-1]["text"] == "Sent it just now."
    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    assert details["messages"][-1]["text"] == "Sent it just now." and details["messages"][-1]["sender"] == "customer"
    assert details["conversation"]["email"]["replied_at"]
    await inbox.close()


async def test_a_reply_to_a_resolved_conversation_puts_it_back_in_the_queue(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, inbound_secret=Secret(INBOUND_SECRET)))
    conversation_id = await handed_over(hub)
    assert (await hub.post(f"/api/agent/conversations/{conversation_id}/resolve")).status == 200
    address = links.reply_address(LINK_SECRET, "support@kestrel.example", conversation_id)
    body = reply_json(address, "It happened again.")
    assert (await hub.post("/api/mail/inbound", data=body, headers=signed(body))).status == 200
    queue = (await (await hub.get("/api/agent/queue")).json())["items"]
    assert [(item["conversation_id"], item["reason"], item["state"]) for item in queue] == [
        (conversation_id, "email_reply", "queued")
    ]


async def test_unauthenticated_or_malformed_inbound_mail_is_refused_and_logged_without_its_body(
    aiohttp_client: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, inbound_secret=Secret(INBOUND_SECRET)))
    conversation_id = await handed_over(hub)
    address = links.reply_address(LINK_SECRET, "support@kestrel.example", conversation_id)
    body = reply_json(address, SECRET_WORDS)
    forged_address = address.replace(conversation_id[:4], "ffff") if not conversation_id.startswith("ffff") else address
    caplog.set_level(logging.INFO)
    for data, headers, status, code in (
        (body, {"Content-Type": "application/json"}, 401, "unauthorized"),  # no signature
        (body, signed(body, "a wrong secret"), 401, "unauthorized"),
        (body, {"Authorization": "Basic aW5ib3VuZDp3cm9uZw=="}, 401, "unauthorized"),  # inbound:wrong
        (b"not json " + SECRET_WORDS.encode(), signed(b"not json " + SECRET_WORDS.encode()), 400, "malformed"),
        (b"[1, 2]", signed(b"[1, 2]"), 400, "malformed"),
        (reply_json("support@kestrel.example", SECRET_WORDS), None, 422, "unknown_recipient"),
        (reply_json(forged_address, SECRET_WORDS), None, 422, "unknown_recipient"),
        (reply_json(address, "\n> only quoted history"), None, 422, "empty"),
    ):
        response = await hub.post("/api/mail/inbound", data=data, headers=headers or signed(data))
        refusal = await response.json()
        assert (response.status, refusal["error"]["code"]) == (status, code), refusal
        assert SECRET_WORDS not in json.dumps(refusal)
    assert "inbound mail refused" in caplog.text
    assert SECRET_WORDS not in caplog.text and "ana@example.com" not in caplog.text
    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    assert not any(SECRET_WORDS in m["text"] for m in details["messages"])


async def test_basic_auth_with_the_secret_is_accepted(aiohttp_client: Any, tmp_path: Path) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, inbound_secret=Secret(INBOUND_SECRET)))
    conversation_id = await handed_over(hub)
    body = reply_json(links.reply_address(LINK_SECRET, "support@kestrel.example", conversation_id), "ok")
    credentials = base64.b64encode(f"inbound:{INBOUND_SECRET}".encode()).decode()
    response = await hub.post("/api/mail/inbound", data=body, headers={"Authorization": f"Basic {credentials}"})
    assert response.status == 200, await response.text()


async def test_without_an_inbound_secret_the_webhook_says_what_to_set(aiohttp_client: Any, tmp_path: Path) -> None:
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None))
    body = reply_json("x@example.com", "hi")
    response = await hub.post("/api/mail/inbound", data=body, headers=signed(body))
    assert response.status == 404 and "HUB_INBOUND_SECRET" in (await response.json())["error"]["message"]


async def test_the_embedded_smtp_receiver_takes_replies_and_bounces(aiohttp_client: Any, tmp_path: Path) -> None:
    port = free_port()
    hub = await mail_hub(aiohttp_client, mail_settings(tmp_path, None, inbound_smtp_port=port))
    conversation_id = await handed_over(hub)
    address = links.reply_address(LINK_SECRET, "support@kestrel.example", conversation_id)

    reply = EmailMessage()
    reply["From"], reply["To"], reply["Subject"] = "ana@example.com", address, "Re: your question"
    reply.set_content("Photo attached.\n\nOn Tue, 1 Dec 2026, Kestrel Support wrote:\n> Can you send a photo?")
    await aiosmtplib.send(reply, hostname="127.0.0.1", port=port)
    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    assert details["messages"][-1]["text"] == "Photo attached."

    stranger = EmailMessage()
    stranger["From"], stranger["To"], stranger["Subject"] = "spam@example.com", "support@kestrel.example", "hi"
    stranger.set_content("buy now")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(stranger, hostname="127.0.0.1", port=port)
    assert refused.value.recipients[0].code == 550

    bounce = EmailMessage()
    bounce["From"], bounce["To"], bounce["Subject"] = "MAILER-DAEMON@mx.example.com", address, "Undelivered Mail"
    bounce.set_content(
        "Final-Recipient: rfc822; ana@example.com\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 user unknown"
    )
    await aiosmtplib.send(bounce, hostname="127.0.0.1", port=port, sender="")
    details = await (await hub.get(f"/api/agent/conversations/{conversation_id}")).json()
    markers = details["conversation"]["email"]
    assert markers["bounced_at"] and "550 5.1.1 user unknown" in markers["bounce_reason"]
    assert details["messages"][-1]["text"] == "Photo attached."  # a bounce is no message from the customer
