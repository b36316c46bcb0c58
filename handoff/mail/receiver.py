"""A small SMTP server (aiosmtpd) for the embedded set-up: customers' replies and bounces come
back without an inbound-mail service (HUB_INBOUND_SMTP_PORT; off when 0).

It runs in the hub's own event loop and accepts mail only for the signed reply addresses of
conversations (any other recipient is refused at RCPT with 550, before any body is sent), so it
is not an open relay; put it behind your MX or a forwarding rule for the reply domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from handoff.app_keys import SETTINGS
from handoff.mail import inbound, links

log = logging.getLogger(__name__)
MAX_MESSAGE_BYTES = 1024 * 1024


class InboundHandler:
    """aiosmtpd's handler: RCPT checks the address, DATA delivers (inbound.deliver)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if links.conversation_of_address(str(self.app[SETTINGS].link_secret), address) is None:
            log.warning("inbound SMTP refused a recipient: not a conversation's reply address")
            return "550 5.1.1 This address takes replies to our emails only; reply to the email you received"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content or "").encode()
        try:
            mail = inbound.from_message(content, envelope.mail_from, list(envelope.rcpt_tos))
            await inbound.deliver(self.app, mail)
        except inbound.InboundRefused as exc:
            log.warning("inbound SMTP refused a message: %s (%d bytes)", exc.code, len(content))
            return f"550 5.6.0 {exc}"
        return "250 OK: added to the conversation"


@contextlib.asynccontextmanager
async def listening(app: web.Application, host: str, port: int) -> AsyncIterator[asyncio.Server]:
    handler = InboundHandler(app)
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname=host, data_size_limit=MAX_MESSAGE_BYTES), host, port
    )
    log.info("mail: receiving replies by SMTP on %s:%d", host, port)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()
