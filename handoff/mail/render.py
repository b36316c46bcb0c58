"""What customers and agents receive: each email as plain text and HTML.

Everything a customer (or an agent, or the bot quoting a customer) wrote is escaped with
`html.escape` before it goes into the HTML part; the plain-text part is text. No tracking pixel,
no unsubscribe link: these are transactional emails about one conversation.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from handoff.store import StoredMessage

#: a line a customer's email program quotes under their answer; inbound.strip_quoted cuts there
REPLY_ABOVE = "-- Write your reply above this line --"
SUBJECT_CHARS = 70


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _who(message: StoredMessage, company: str) -> str:
    if message.sender == "customer":
        return "You"
    if message.sender == "agent":
        return message.agent_name or f"{company} support"
    if message.sender == "bot":
        return f"{company} assistant"
    return company


def _when(at: float) -> str:
    return time.strftime("%d %b %Y %H:%M UTC", time.gmtime(at))


def _transcript_text(messages: Sequence[StoredMessage], company: str) -> str:
    return "\n\n".join(f"{_who(m, company)} ({_when(m.created_at)}):\n{m.text}" for m in messages)


def _transcript_html(messages: Sequence[StoredMessage], company: str) -> str:
    rows = "".join(
        '<tr><td style="padding:6px 0;vertical-align:top"><strong>{who}</strong>'
        ' <span style="color:#777">{when}</span><br>{text}</td></tr>'.format(
            who=html.escape(_who(m, company)),
            when=html.escape(_when(m.created_at)),
            text=html.escape(m.text).replace("\n", "<br>"),
        )
        for m in messages
    )
    return f'<table role="presentation" style="border-collapse:collapse;width:100%">{rows}</table>'


def _page(company: str, body: str) -> str:
    return (
        '<!doctype html><html><body style="font-family:Arial,sans-serif;color:#1a1a1a;max-width:640px">'
        f"{body}"
        f'<p style="color:#777;font-size:12px">{html.escape(company)} support. You receive this email because '
        "you asked us for help; it is about your conversation only.</p></body></html>"
    )


def agent_reply(
    company: str,
    customer_name: str | None,
    replies: Sequence[StoredMessage],
    transcript: Sequence[StoredMessage],
    link: str,
    link_expires_at: float,
) -> Rendered:
    """An agent answered while the customer was away: the reply, the recent transcript, the link."""
    hello = f"Hello {customer_name}," if customer_name else "Hello,"
    who = replies[-1].agent_name if replies and replies[-1].agent_name else f"{company} support"
    said = "\n\n".join(m.text for m in replies)
    text = (
        f"{REPLY_ABOVE}\n\n{hello}\n\n{who} answered your question:\n\n{said}\n\n"
        f"Continue the conversation in the chat (the link is yours alone; it works until {_when(link_expires_at)}):\n"
        f"{link}\n\n"
        f"Or reply to this email.\n\nThe conversation so far:\n\n{_transcript_text(transcript, company)}\n"
    )
    body = (
        f'<p style="color:#777;font-size:12px">{html.escape(REPLY_ABOVE)}</p>'
        f"<p>{html.escape(hello)}</p>"
        f"<p>{html.escape(who)} answered your question:</p>"
        f'<blockquote style="border-left:3px solid #0b5e4f;margin:0;padding-left:12px">'
        f"{'<br><br>'.join(html.escape(m.text).replace(chr(10), '<br>') for m in replies)}</blockquote>"
        f'<p><a href="{html.escape(link, quote=True)}" style="background:#0b5e4f;color:#fff;padding:10px 16px;'
        'text-decoration:none;border-radius:6px;display:inline-block">Continue the conversation</a></p>'
        "<p>Or reply to this email.</p><h3>The conversation so far</h3>"
        f"{_transcript_html(transcript, company)}"
    )
    return Rendered(f"{who} from {company} answered your question", text, _page(company, body))


def transcript(
    company: str, customer_name: str | None, messages: Sequence[StoredMessage], link: str | None
) -> Rendered:
    """The whole conversation, on request or when it is resolved."""
    hello = f"Hello {customer_name}," if customer_name else "Hello,"
    more = f"\n\nContinue it in the chat:\n{link}" if link else ""
    text = (
        f"{REPLY_ABOVE}\n\n{hello}\n\nHere is your conversation with {company} support.{more}\n\n"
        f"{_transcript_text(messages, company)}\n"
    )
    button = f'<p><a href="{html.escape(link, quote=True)}">Continue it in the chat</a></p>' if link else ""
    body = (
        f'<p style="color:#777;font-size:12px">{html.escape(REPLY_ABOVE)}</p><p>{html.escape(hello)}</p>'
        f"<p>Here is your conversation with {html.escape(company)} support.</p>{button}"
        f"{_transcript_html(messages, company)}"
    )
    return Rendered(f"Your conversation with {company} support", text, _page(company, body))


def team_alert(company: str, headline: str, reason: str, summary: str, inbox_url: str) -> Rendered:
    """A high-priority handoff while nobody is signed in to the inbox."""
    text = (
        f"A high-priority conversation is waiting and no one is signed in to the inbox.\n\n"
        f"{reason}: {headline}\n\n{summary}\n\nOpen it: {inbox_url}\n"
    )
    body = (
        "<p>A high-priority conversation is waiting and no one is signed in to the inbox.</p>"
        f"<p><strong>{html.escape(reason)}</strong>: {html.escape(headline)}</p>"
        f'<pre style="white-space:pre-wrap;font-family:inherit">{html.escape(summary)}</pre>'
        f'<p><a href="{html.escape(inbox_url, quote=True)}">Open it in the inbox</a></p>'
    )
    return Rendered(f"[{company}] High priority, no one online: {headline}"[:200], text, _page(company, body))


def build(rendered: Rendered, sender: str, recipient: str, reply_to: str | None) -> EmailMessage:
    """One RFC 5322 message with a plain-text and an HTML alternative."""
    message = EmailMessage()
    subject = " ".join(rendered.subject.split())  # no header injection through a newline
    # Short enough for one line: Python folds a longer one right after "Subject:".
    message["Subject"] = subject if len(subject) <= SUBJECT_CHARS else subject[: SUBJECT_CHARS - 1] + "…"
    message["From"] = sender
    message["To"] = recipient
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = formatdate(usegmt=True)
    domain = sender.rsplit("@", 1)[-1].rstrip(">").strip() or None
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message
