"""`Mailer`: what the hub emails, and the outbox that sends it.

Every email is a row in `mail_outbox` before anything is sent, so nothing is lost when the mail
server is down or the hub stops; a background task (`run`, started in handoff/app.py) sends what
is due, one at a time, and on a temporary failure tries again after
`HUB_MAIL_RETRY_BASE_SECONDS × 2^(attempt − 1)` (at most `HUB_MAIL_RETRY_MAX_SECONDS`), up to
`HUB_MAIL_MAX_ATTEMPTS`. Nothing on a customer's or an agent's path waits for a mail server:
they only add a row and wake the task.

A reply notice (an agent answered a customer who is away) is added without its text and rendered
at each attempt: by then the customer may have come back (then it is skipped), or the agent may
have written more (then one email carries every reply; one pending notice per conversation).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import re
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage

from handoff import contract
from handoff.fanout import Fanout
from handoff.mail import links, render
from handoff.mail.sender import SendFailed, Transport, transport_for
from handoff.settings import HubSettings
from handoff.store import Handoff, OutboxMail, Store

log = logging.getLogger(__name__)
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")
#: the longest the sender sleeps without looking at the outbox (rows added by another process)
POLL_SECONDS = 30.0
TRANSCRIPT_MESSAGES = 12


def email_address(value: str | None) -> str | None:
    """The value when it looks like an email address (what a form collected may be "not given")."""
    value = (value or "").strip()
    return value if EMAIL.match(value) else None


class Mailer:
    def __init__(self, settings: HubSettings, store: Store, fanout: Fanout, transport: Transport | None = None) -> None:
        self.settings = settings
        self.store = store
        self.fanout = fanout
        self.transport = transport or transport_for(str(settings.smtp_url), settings.mail_dir)
        self._wake = asyncio.Event()

    @property
    def customer_mail_enabled(self) -> bool:
        """Customer emails carry a signed link and a signed reply address: no secret, no email."""
        return bool(self.settings.link_secret)

    # --- what the hub emails ----------------------------------------------------------------------

    async def agent_replied(self, conversation_id: str) -> None:
        """An agent wrote to the customer: if no widget of theirs is open, email them once they
        have been away `HUB_EMAIL_AFTER_SECONDS` (one pending notice per conversation)."""
        if not self.customer_mail_enabled or await self.fanout.customer_sockets(conversation_id):
            return
        conversation = await self.store.get_conversation(conversation_id)
        recipient = email_address(conversation.customer_email)
        if recipient is None or await self.store.pending_mail(conversation_id, "reply") is not None:
            return
        seen = conversation.customer_seen_at or conversation.created_at
        due = max(time.time(), seen + self.settings.email_after_seconds)
        await self.store.enqueue_mail("reply", recipient, conversation_id=conversation_id, due_at=due)
        self._wake.set()

    async def send_transcript(self, conversation_id: str, address: str | None = None) -> str | None:
        """Email the conversation to `address` (or the customer's own); the address used, or None
        when there is none or customer email is off."""
        conversation = await self.store.get_conversation(conversation_id)
        recipient = email_address(address) or email_address(conversation.customer_email)
        if not self.customer_mail_enabled or recipient is None:
            return None
        messages = [m for m in await self.store.messages_after(conversation_id, 0, 1000) if m.sender != "system"]
        rendered = render.transcript(
            self.settings.company_name, conversation.customer_name, messages, self._link(conversation_id)
        )
        message = self._customer_message(rendered, recipient, conversation_id)
        await self.store.enqueue_mail(
            "transcript", recipient, conversation_id=conversation_id, message=message.as_string()
        )
        self._wake.set()
        return recipient

    async def handoff_queued(self, handoff: Handoff, agents_online: int) -> None:
        """A high-priority handoff while nobody is signed in: tell the team (HUB_TEAM_EMAIL)."""
        team = email_address(self.settings.team_email)
        if team is None or agents_online > 0 or handoff.priority != "high":
            return
        rendered = render.team_alert(
            self.settings.company_name,
            handoff.headline,
            contract.reason(handoff.reason).label,
            handoff.summary,
            f"{self.settings.public_url}/inbox",
        )
        message = render.build(rendered, self.settings.mail_from, team, None)
        await self.store.enqueue_mail(
            "team", team, conversation_id=handoff.conversation_id, message=message.as_string()
        )
        self._wake.set()

    # --- the sender ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Send what is due, then sleep until the next row is due, a new row wakes us, or POLL_SECONDS."""
        log.info("mail: %s", self.transport.describe())
        while True:
            self._wake.clear()
            try:
                await self.send_due()
                due = await self.store.next_mail_due_at()
            except Exception:  # a database hiccup must not end the sender
                log.exception("mail: the outbox could not be read; trying again shortly")
                due = None
            wait = POLL_SECONDS if due is None else min(POLL_SECONDS, max(0.0, due - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def send_due(self) -> int:
        """One pass over the due rows; how many were handled."""
        due = await self.store.due_mail(time.time())
        for mail in due:
            await self._send(mail)
        return len(due)

    def retry_delay(self, failures: int) -> float:
        base, cap = self.settings.mail_retry_base_seconds, self.settings.mail_retry_max_seconds
        return float(min(cap, base * 2 ** max(0, failures - 1)))

    async def _send(self, mail: OutboxMail) -> None:
        text = mail.message
        if mail.kind == "reply":  # rendered at each attempt: it carries every reply written until then
            text = await self._render_reply(mail)
            if text is None:
                await self.store.update_mail(mail.id, status="skipped", last_error="the customer came back to the chat")
                return
        assert text is not None
        message = email.message_from_string(text, _class=EmailMessage, policy=email.policy.default)
        envelope_from = self._envelope_from(mail)
        attempts = mail.attempts + 1
        try:
            await self.transport.send(message, envelope_from, mail.recipient)
        except SendFailed as exc:
            await self._failed(mail, attempts, str(exc), exc.permanent)
            return
        await self.store.update_mail(
            mail.id, status="sent", message=text, attempts=attempts, sent_at=time.time(), last_error=None
        )
        log.info("mail %d (%s) sent after %d attempt(s)", mail.id, mail.kind, attempts)
        if mail.conversation_id and mail.kind != "team":
            await self.store.mark_email(mail.conversation_id, "emailed")
            await self.tell_agents(mail.conversation_id)

    async def _failed(self, mail: OutboxMail, attempts: int, error: str, permanent: bool) -> None:
        if permanent or attempts >= self.settings.mail_max_attempts:
            await self.store.update_mail(mail.id, status="failed", attempts=attempts, last_error=error[:300])
            log.warning("mail %d (%s) given up after %d attempt(s): %s", mail.id, mail.kind, attempts, error)
            if mail.conversation_id and mail.kind != "team":
                await self.store.mark_email(mail.conversation_id, "bounced", f"Email not delivered: {error}")
                await self.tell_agents(mail.conversation_id)
            return
        delay = self.retry_delay(attempts)
        await self.store.update_mail(
            mail.id, attempts=attempts, next_attempt_at=time.time() + delay, last_error=error[:300]
        )
        log.info(
            "mail %d (%s) not sent (%s); attempt %d again in %.0f s", mail.id, mail.kind, error, attempts + 1, delay
        )

    async def _render_reply(self, mail: OutboxMail) -> str | None:
        """The reply notice as it is now, or None when the customer came back since it was added."""
        assert mail.conversation_id is not None
        conversation = await self.store.get_conversation(mail.conversation_id)
        if (
            await self.fanout.customer_sockets(conversation.id)
            or (conversation.customer_seen_at or 0) > mail.created_at
        ):
            return None
        recent = [m for m in await self.store.messages_before(conversation.id, None, 200) if m.sender != "system"]
        seen = conversation.customer_seen_at or 0
        replies = [m for m in recent if m.sender == "agent" and m.created_at > seen] or [
            m for m in recent if m.sender == "agent"
        ][-1:]
        expires_at = time.time() + self.settings.link_ttl_hours * 3600
        rendered = render.agent_reply(
            self.settings.company_name,
            conversation.customer_name,
            replies,
            recent[-TRANSCRIPT_MESSAGES:],
            self._link(conversation.id),
            expires_at,
        )
        return self._customer_message(rendered, mail.recipient, conversation.id).as_string()

    def _link(self, conversation_id: str) -> str:
        return links.resume_link(
            self.settings.resume_url,
            str(self.settings.link_secret),
            conversation_id,
            self.settings.link_ttl_hours * 3600,
        )

    def _customer_message(self, rendered: render.Rendered, recipient: str, conversation_id: str) -> EmailMessage:
        reply_to = links.reply_address(str(self.settings.link_secret), self.settings.mail_reply_to, conversation_id)
        return render.build(rendered, self.settings.mail_from, recipient, reply_to)

    def _envelope_from(self, mail: OutboxMail) -> str:
        """Bounces go to the envelope sender: the conversation's signed address, so a bounce that
        comes back marks the right conversation (inbound.py)."""
        if mail.conversation_id and mail.kind != "team" and self.customer_mail_enabled:
            return links.reply_address(
                str(self.settings.link_secret), self.settings.mail_reply_to, mail.conversation_id
            )
        return links.bare_address(self.settings.mail_reply_to)

    async def tell_agents(self, conversation_id: str) -> None:
        conversation = await self.store.get_conversation(conversation_id)
        await self.fanout.to_agents(contract.email_status_frame(conversation_id, conversation.email.to_json()))


@contextlib.asynccontextmanager
async def running(mailer: Mailer) -> AsyncIterator[None]:
    """The sender task for as long as the hub runs."""
    task = asyncio.create_task(mailer.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
