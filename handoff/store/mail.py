"""The mail outbox and the email markers of conversations (handoff/mail/ sends and reads them)."""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from handoff.store import schema as T
from handoff.store.conversations import ConversationStore
from handoff.store.records import OutboxMail, _outbox_mail

#: the conversation columns each marker sets (the inbox shows them)
MARKERS = {
    "emailed": "emailed_at",
    "read": "email_read_at",
    "replied": "email_replied_at",
    "bounced": "email_bounced_at",
}


class MailStore(ConversationStore):
    async def enqueue_mail(
        self,
        kind: str,
        recipient: str,
        *,
        conversation_id: str | None = None,
        message: str | None = None,
        due_at: float | None = None,
    ) -> int:
        """Add an email to the outbox; it goes out at `due_at` (now by default). A message left
        None is rendered when it is due (a reply notice shows every reply written until then)."""
        now = time.time()
        async with self.write() as conn:
            return int(
                (
                    await conn.execute(
                        T.mail_outbox.insert()
                        .values(
                            conversation_id=conversation_id,
                            kind=kind,
                            recipient=recipient,
                            message=message,
                            status="pending",
                            attempts=0,
                            next_attempt_at=now if due_at is None else due_at,
                            created_at=now,
                        )
                        .returning(T.mail_outbox.c.id)
                    )
                ).scalar_one()
            )

    async def pending_mail(self, conversation_id: str, kind: str) -> OutboxMail | None:
        async with self.read() as conn:
            row = (
                await conn.execute(
                    sa.select(T.mail_outbox)
                    .where(
                        T.mail_outbox.c.conversation_id == conversation_id,
                        T.mail_outbox.c.kind == kind,
                        T.mail_outbox.c.status == "pending",
                    )
                    .limit(1)
                )
            ).first()
        return _outbox_mail(row) if row else None

    async def due_mail(self, now: float, limit: int = 20) -> list[OutboxMail]:
        async with self.read() as conn:
            rows = (
                await conn.execute(
                    sa.select(T.mail_outbox)
                    .where(T.mail_outbox.c.status == "pending", T.mail_outbox.c.next_attempt_at <= now)
                    .order_by(T.mail_outbox.c.next_attempt_at, T.mail_outbox.c.id)
                    .limit(limit)
                )
            ).all()
        return [_outbox_mail(row) for row in rows]

    async def next_mail_due_at(self) -> float | None:
        async with self.read() as conn:
            due = (
                await conn.execute(
                    sa.select(sa.func.min(T.mail_outbox.c.next_attempt_at)).where(T.mail_outbox.c.status == "pending")
                )
            ).scalar_one_or_none()
        return float(due) if due is not None else None

    async def outbox(self, conversation_id: str | None = None) -> list[OutboxMail]:
        """Every email (of one conversation), oldest first: tests and the operator's view."""
        query = sa.select(T.mail_outbox).order_by(T.mail_outbox.c.id)
        if conversation_id is not None:
            query = query.where(T.mail_outbox.c.conversation_id == conversation_id)
        async with self.read() as conn:
            return [_outbox_mail(row) for row in (await conn.execute(query)).all()]

    async def update_mail(self, mail_id: int, **values: object) -> None:
        """Change an outbox row: rendered message, status, attempts, next attempt, last error."""
        async with self.write() as conn:
            await conn.execute(T.mail_outbox.update().where(T.mail_outbox.c.id == mail_id).values(**values))

    async def note_customer_seen(self, conversation_id: str, opened: bool) -> None:
        """The widget opened (or closed) a socket: the customer is, or just was, there. Coming
        back after an email counts as having read it."""
        now = time.time()
        values: dict[str, object] = {"customer_seen_at": now}
        async with self.write() as conn:
            await conn.execute(T.conversations.update().where(T.conversations.c.id == conversation_id).values(**values))
            if opened:
                await self._mark_read(conn, conversation_id, now)

    async def mark_email(self, conversation_id: str, marker: str, reason: str | None = None) -> None:
        """Set one email marker (`MARKERS`) to now; a bounce keeps its reason, a new email
        clears an earlier bounce and read mark."""
        now = time.time()
        values: dict[str, object] = {MARKERS[marker]: now}
        if marker == "bounced":
            values["email_bounce_reason"] = (reason or "the email could not be delivered")[:300]
        if marker == "emailed":
            values.update(email_bounced_at=None, email_bounce_reason=None, email_read_at=None)
        async with self.write() as conn:
            if marker == "read":
                await self._mark_read(conn, conversation_id, now)
                return
            await conn.execute(T.conversations.update().where(T.conversations.c.id == conversation_id).values(**values))

    async def _mark_read(self, conn: AsyncConnection, conversation_id: str, now: float) -> None:
        await conn.execute(
            T.conversations.update()
            .where(
                T.conversations.c.id == conversation_id,
                T.conversations.c.emailed_at.is_not(None),
                sa.or_(
                    T.conversations.c.email_read_at.is_(None),
                    T.conversations.c.email_read_at < T.conversations.c.emailed_at,
                ),
            )
            .values(email_read_at=now)
        )
