"""Signed links and reply addresses (HMAC-SHA256 with HUB_LINK_SECRET).

A reopen link grants one conversation until it expires: `<conversation>.<expires>.<mac>`, in the
URL's fragment (`#kestrel-resume=…`), which browsers never send to a server, so it stays out of
access logs. The widget exchanges it once for a fresh conversation token
(`POST /api/conversations/resume`); the link itself is never a key the widget keeps.

A reply address names the conversation a customer's answer belongs to:
`support+<conversation>.<mac>@kestrel.example` (from HUB_MAIL_REPLY_TO). It has no expiry: a
customer may answer weeks later. Each purpose signs its own message, so a reply address's mac is
no reopen link's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

_CONVERSATION = re.compile(r"^[0-9a-f]{32}$")
_ADDRESS = re.compile(
    r"^(?P<local>[^@+\s]+)\+(?P<conversation>[0-9a-f]{32})\.(?P<mac>[0-9a-f]{20})@(?P<domain>[^@\s]+)$"
)


class LinkRefused(ValueError):
    """A link that is malformed, forged or expired; `code` for the API, the message for the customer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mac(secret: str, message: str, length: int) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()[:length]


def resume_token(secret: str, conversation_id: str, expires_at: int) -> str:
    return f"{conversation_id}.{expires_at}.{_mac(secret, f'resume:{conversation_id}:{expires_at}', 32)}"


def resume_link(
    resume_url: str, secret: str, conversation_id: str, ttl_seconds: float, now: float | None = None
) -> str:
    expires_at = int((time.time() if now is None else now) + ttl_seconds)
    return f"{resume_url.split('#', 1)[0]}#kestrel-resume={resume_token(secret, conversation_id, expires_at)}"


def check_resume_token(secret: str, token: object, now: float | None = None) -> str:
    """The conversation a link opens, or LinkRefused with what to do instead."""
    if not secret:
        raise LinkRefused("links_disabled", "Links from emails are not enabled here; open the chat on our site.")
    parts = token.split(".") if isinstance(token, str) and len(token) < 200 else []
    if len(parts) != 3 or not _CONVERSATION.match(parts[0]) or not parts[1].isdigit():
        raise LinkRefused("malformed", "This link is incomplete; copy the whole link from the email, or open the chat.")
    conversation_id, expires, mac = parts
    if not hmac.compare_digest(_mac(secret, f"resume:{conversation_id}:{expires}", 32), mac):
        raise LinkRefused("link_invalid", "This link is not valid; open the chat to start a new conversation.")
    if int(expires) < (time.time() if now is None else now):
        raise LinkRefused(
            "link_expired",
            "This link has expired. Reply to the email instead, or open the chat to start a new conversation.",
        )
    return conversation_id


def reply_address(secret: str, reply_to: str, conversation_id: str) -> str:
    """The address a customer's reply to this conversation's email goes to (plus addressing)."""
    local, _, domain = bare_address(reply_to).partition("@")
    return f"{local}+{conversation_id}.{_mac(secret, f'reply:{conversation_id}', 20)}@{domain}"


def conversation_of_address(secret: str, address: str) -> str | None:
    """The conversation a signed reply address names, or None (unsigned, forged, malformed)."""
    match = _ADDRESS.match(bare_address(address).lower())
    if not secret or match is None:
        return None
    expected = _mac(secret, f"reply:{match['conversation']}", 20)
    return match["conversation"] if hmac.compare_digest(expected, match["mac"]) else None


def bare_address(address: str) -> str:
    """`Name <a@b>` → `a@b`."""
    address = address.strip()
    if "<" in address and address.endswith(">"):
        address = address[address.rindex("<") + 1 : -1]
    return address.strip()
