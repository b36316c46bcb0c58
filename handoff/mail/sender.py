"""Transports: where an email goes. With no SMTP_URL, `.eml` files in a folder (HUB_MAIL_DIR,
var/mail/ by default: open them with any mail program); with SMTP_URL, that server.

SMTP_URL: `smtp://user:password@host:587` (STARTTLS when the server offers it, which a server on
the internet does), `smtp+starttls://…` (STARTTLS required), `smtps://…:465` (TLS from the first
byte). User and password are URL-encoded. A refusal is sorted into temporary (4xx, connection
trouble: try again later) and permanent (5xx: the address or the message is refused).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from knowledge_base.environment import SettingsError

log = logging.getLogger(__name__)
SMTP_TIMEOUT_SECONDS = 30


class SendFailed(Exception):
    """The email did not go out; `permanent` when trying again cannot help (a refused address)."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, message: EmailMessage, envelope_from: str, recipient: str) -> None: ...

    def describe(self) -> str: ...


@dataclass
class EmlDirectory:
    """The embedded default: each email a file `<time>-<n>.eml`, written whole (temporary name,
    then rename), so a reader never sees half a message."""

    folder: Path

    def describe(self) -> str:
        return f"no SMTP_URL: emails are written as .eml files to {self.folder}/"

    async def send(self, message: EmailMessage, envelope_from: str, recipient: str) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        path = self.folder / f"{stamp}-{time.time_ns() % 1_000_000_000:09d}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(message.as_bytes())
        os.replace(temporary, path)
        log.info("email to %s written to %s", _masked(str(message["To"])), path)


@dataclass
class SmtpServer:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # None: when the server offers it

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        schemes = {"smtp": (False, None, 587), "smtp+starttls": (False, True, 587), "smtps": (True, False, 465)}
        if parts.scheme not in schemes or not parts.hostname:
            raise SettingsError(
                "SMTP_URL must look like smtp://user:password@host:587, smtp+starttls://… or smtps://host:465 "
                "(or be empty to write .eml files to var/mail/)"
            )
        use_tls, start_tls, default_port = schemes[parts.scheme]
        try:
            port = parts.port or default_port
        except ValueError:
            raise SettingsError("SMTP_URL has a port that is not a number; fix it in .env") from None
        return cls(
            parts.hostname,
            port,
            unquote(parts.username) if parts.username else None,
            unquote(parts.password) if parts.password else None,
            use_tls,
            start_tls,
        )

    def describe(self) -> str:
        return f"emails go to the SMTP server {self.host}:{self.port}"

    async def send(self, message: EmailMessage, envelope_from: str, recipient: str) -> None:
        try:
            await aiosmtplib.send(
                message,
                sender=envelope_from,
                recipients=[recipient],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=SMTP_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise SendFailed(
                f"the mail server refused the address ({', '.join(map(str, codes))})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"the mail server answered {exc.code} {exc.message[:120]}", exc.code >= 500) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendFailed(f"could not reach the mail server: {type(exc).__name__}", permanent=False) from None


def transport_for(smtp_url: str, mail_dir: Path) -> Transport:
    return SmtpServer.from_url(smtp_url) if smtp_url else EmlDirectory(mail_dir)


def _masked(address: str) -> str:
    """`ana@example.com` → `a***@example.com`: logs say which mail went where, not whose address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
