"""Replies and bounces that come back by email, whichever way they arrive (the webhook in
api.py, the SMTP receiver in receiver.py), into the conversation they belong to.

The conversation is named by the signed reply address the customer's email program answers to
(links.reply_address): an address whose signature does not verify is refused, so nobody can
write into a conversation by guessing its id. Quoted history is cut off (`strip_quoted`). A
delivery failure report (a DSN: an empty envelope sender, MAILER-DAEMON, multipart/report) sent
back to that address marks the conversation bounced instead.

Nothing here logs a message's body, subject or addresses: only what was refused and why.
"""

from __future__ import annotations

import email
import email.policy
import html
import logging
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiohttp import web

from handoff.app_keys import MAILER, RELAY, SETTINGS, STORE
from handoff.mail import links
from handoff.mail.render import REPLY_ABOVE

log = logging.getLogger(__name__)

_QUOTE_STARTS = [
    re.compile(r"^On\b.{0,300}\bwrote:$"),  # Gmail, Apple Mail, Thunderbird
    re.compile(r"^Le\b.{0,300}\ba écrit\s?:$"),
    re.compile(r"^Am\b.{0,300}\bschrieb\b.{0,120}:$"),
    re.compile(r"^-{2,}\s*Original Message\s*-{2,}$", re.IGNORECASE),  # Outlook
    re.compile(r"^_{10,}$"),  # Outlook's rule above the quoted header block
    re.compile(r"^From:\s.+$"),  # a quoted header block
    re.compile(r"^Sent from my \w+", re.IGNORECASE),
]
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


class InboundRefused(Exception):
    """A message that cannot go into a conversation; `code` and the message for the sender."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class InboundMail:
    sender: str
    recipients: tuple[str, ...]
    text: str
    bounce: bool = False
    bounce_reason: str = ""


def strip_quoted(text: str) -> str:
    """The customer's own words: everything above the quoted history, without `>` lines or a
    signature (after a `-- ` line)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        bare = line.strip()
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if bare == REPLY_ABOVE or line.rstrip() == "--" or line == "-- ":
            break
        if any(pattern.match(bare) for pattern in _QUOTE_STARTS):
            break
        if bare.startswith("On ") and following.endswith("wrote:"):  # the "On … wrote:" line wrapped in two
            break
        if bare.startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def from_webhook(body: Any) -> InboundMail:
    """The common inbound-mail JSON shape (Postmark's: `From`/`FromFull`, `To`/`ToFull`, `Cc`,
    `OriginalRecipient`, `Subject`, `TextBody`, `HtmlBody`, `StrippedTextReply`, `Headers`)."""
    if not isinstance(body, dict):
        raise InboundRefused("malformed", "The body must be a JSON object (From, To, TextBody).", 400)
    sender = _text(body.get("FromFull", {}).get("Email") if isinstance(body.get("FromFull"), dict) else None)
    sender = sender or _text(body.get("From"))
    recipients: list[str] = []
    for key in ("ToFull", "CcFull"):
        if isinstance(body.get(key), list):
            recipients += [_text(item.get("Email")) for item in body[key] if isinstance(item, dict)]
    for key in ("OriginalRecipient", "To", "Cc"):
        recipients += [part.strip() for part in _text(body.get(key)).split(",")]
    text = (
        _text(body.get("StrippedTextReply"))
        or _text(body.get("TextBody"))
        or _html_to_text(_text(body.get("HtmlBody")))
    )
    headers = (
        {_text(h.get("Name")).lower(): _text(h.get("Value")) for h in body.get("Headers") or [] if isinstance(h, dict)}
        if isinstance(body.get("Headers"), list)
        else {}
    )
    if not sender and not text:
        raise InboundRefused("malformed", "The message has no sender and no text (From, TextBody).", 400)
    bounce = bool(_BOUNCE_SENDERS.match(links.bare_address(sender))) or "multipart/report" in headers.get(
        "content-type", ""
    )
    return InboundMail(sender, tuple(r for r in recipients if r), text, bounce, _diagnostic(text) if bounce else "")


def from_message(raw: bytes, envelope_sender: str | None, envelope_recipients: list[str]) -> InboundMail:
    """A message the SMTP receiver accepted."""
    try:
        message = email.message_from_bytes(raw, _class=EmailMessage, policy=email.policy.default)
        sender = str(message.get("From", ""))
        body = message.get_body(("plain", "html"))
        content = body.get_content() if body is not None else ""
        text = content if body is None or body.get_content_type() == "text/plain" else _html_to_text(content)
    except (ValueError, LookupError, TypeError) as exc:
        raise InboundRefused("malformed", f"The message could not be read ({type(exc).__name__}).", 400) from None
    bounce = (
        envelope_sender in (None, "", "<>")
        or bool(_BOUNCE_SENDERS.match(links.bare_address(sender)))
        or message.get_content_type() == "multipart/report"
    )
    report = raw.decode("utf-8", "replace") if bounce else ""
    return InboundMail(sender, tuple(envelope_recipients), text or "", bounce, _diagnostic(report) if bounce else "")


def conversation_of(secret: str, mail: InboundMail) -> str:
    for address in mail.recipients:
        conversation_id = links.conversation_of_address(secret, address)
        if conversation_id is not None:
            return conversation_id
    raise InboundRefused(
        "unknown_recipient",
        "This address takes replies to our emails only; reply to the email you received from us.",
        422,
    )


async def deliver(app: web.Application, mail: InboundMail) -> str:
    """Put `mail` into its conversation (a reply) or mark it (a bounce); the conversation id."""
    settings = app[SETTINGS]
    if not settings.link_secret:
        raise InboundRefused(
            "not_configured", "Replies by email are not set up here: set HUB_LINK_SECRET on the hub.", 404
        )
    conversation_id = conversation_of(str(settings.link_secret), mail)
    if mail.bounce:
        await app[STORE].mark_email(conversation_id, "bounced", mail.bounce_reason)
        await app[MAILER].tell_agents(conversation_id)
        log.info("conversation %s: a bounce came back; marked", conversation_id)
        return conversation_id
    text = strip_quoted(mail.text)
    if not text:
        raise InboundRefused("empty", "The reply has no text above the quoted email; write above it and send again.")
    limit = settings.max_message_chars
    if len(text) > limit:
        text = text[: limit - 40].rstrip() + "\n[… the rest of the email was cut]"
    await app[RELAY].email_reply(conversation_id, text, links.bare_address(mail.sender))
    log.info("conversation %s: a reply by email arrived", conversation_id)
    return conversation_id


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _diagnostic(report: str) -> str:
    """The reason a delivery report gives ("Diagnostic-Code: smtp; 550 5.1.1 …"), short."""
    match = re.search(r"(?im)^Diagnostic-Code:\s*(?:smtp;\s*)?(.+)$", report) or re.search(
        r"(?im)^Status:\s*(\d\.\d+\.\d+)", report
    )
    found = match.group(1).strip() if match else "the address refused the email"
    return f"Email not delivered: {found}"[:300]
