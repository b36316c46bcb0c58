"""The mail feature's HTTP routes: a signed link from an email exchanged for a conversation
token (the widget calls it), and the inbound-mail webhook."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

from aiohttp import web

from handoff.app_keys import ADDRESS_CONVERSATION_LIMITER, MAILER, SETTINGS, STORE
from handoff.client_address import client_address
from handoff.errors import error_response
from handoff.gateway import conversations_preflight, cors, origin_allowed
from handoff.mail import inbound, links
from handoff.store import NotFound

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@routes.options("/api/conversations/resume")
async def resume_preflight(request: web.Request) -> web.StreamResponse:
    return await conversations_preflight(request)


@routes.post("/api/conversations/resume")
async def resume(request: web.Request) -> web.StreamResponse:
    """`{"link": "<what follows #kestrel-resume=>"}` → `{"conversation_id", "token"}`: a fresh key
    to the one conversation the link names, while the link has not expired. The link is never
    logged; the conversation id is."""
    if not origin_allowed(request):
        return error_response(
            403, "origin_not_allowed", "This site may not open conversations; add it to HUB_ALLOWED_ORIGINS."
        )
    if not await request.app[ADDRESS_CONVERSATION_LIMITER].allow(client_address(request)):
        return cors(
            request, error_response(429, "rate_limited", "Too many attempts from your network; please try again later.")
        )
    raw = await request.read()
    try:
        body = json.loads(raw) if len(raw) <= 2048 else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("link"), str):
        return cors(request, error_response(400, "malformed", 'Send {"link": ...} with the link from the email.'))
    try:
        conversation_id = links.check_resume_token(str(request.app[SETTINGS].link_secret), body["link"])
        await request.app[STORE].get_conversation(conversation_id)
    except links.LinkRefused as exc:
        log.info("a link from an email was refused: %s", exc.code)
        status = {"link_expired": 410, "links_disabled": 404}.get(exc.code, 400 if exc.code == "malformed" else 403)
        return cors(request, error_response(status, exc.code, str(exc)))
    except NotFound:
        return cors(
            request,
            error_response(404, "not_found", "This conversation no longer exists; open the chat to start a new one."),
        )
    store = request.app[STORE]
    token = await store.add_conversation_token(conversation_id)
    await store.mark_email(conversation_id, "read")
    await request.app[MAILER].tell_agents(conversation_id)
    log.info("conversation %s reopened from an email link", conversation_id)
    return cors(request, web.json_response({"conversation_id": conversation_id, "token": token}))


#: an email with its HTML part can be larger than the hub's 64 KiB for other requests
MAX_INBOUND_BYTES = 1024 * 1024


def _authenticated(request: web.Request, secret: str, raw: bytes) -> bool:
    """`X-Inbound-Signature: sha256=<hex HMAC-SHA256 of the body>`, or HTTP Basic with the
    secret as password (for services that can only put credentials in the webhook's URL)."""
    signature = request.headers.get("X-Inbound-Signature", "")
    if signature.startswith("sha256="):
        expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature[7:].strip().lower())
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        try:
            _user, _, password = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(password.encode(), secret.encode())
    return False


@routes.post("/api/mail/inbound")
async def inbound_mail(request: web.Request) -> web.StreamResponse:
    """A customer's reply (or a bounce) from an inbound-mail service, in the common JSON shape.
    Refusals are logged with their reason and size, never with the body."""
    settings = request.app[SETTINGS]
    if not settings.inbound_secret:
        log.warning("inbound mail refused: HUB_INBOUND_SECRET is not set")
        return error_response(
            404,
            "not_configured",
            "Replies by email are not set up: set HUB_INBOUND_SECRET on the hub and in the webhook.",
        )
    raw = await request.content.read(MAX_INBOUND_BYTES + 1)
    if len(raw) > MAX_INBOUND_BYTES:
        log.warning("inbound mail refused: over %d bytes", MAX_INBOUND_BYTES)
        return error_response(413, "too_large", "The message is over 1 MiB; send it without attachments.")
    if not _authenticated(request, str(settings.inbound_secret), raw):
        log.warning("inbound mail refused: no valid signature (%d bytes)", len(raw))
        return error_response(
            401,
            "unauthorized",
            "Sign the body (X-Inbound-Signature: sha256=HMAC of the body with HUB_INBOUND_SECRET) or use Basic auth.",
        )
    try:
        body = json.loads(raw)
    except ValueError:
        log.warning("inbound mail refused: not JSON (%d bytes)", len(raw))
        return error_response(
            400, "malformed", "The body is not JSON; send the inbound-mail JSON (From, To, TextBody)."
        )
    try:
        conversation_id = await inbound.deliver(request.app, inbound.from_webhook(body))
    except inbound.InboundRefused as exc:
        log.warning("inbound mail refused: %s (%d bytes)", exc.code, len(raw))
        return error_response(exc.status, exc.code, str(exc))
    return web.json_response({"ok": True, "conversation_id": conversation_id})
