"""The customer gateway: conversation creation and the widget's WebSocket (frames in handoff/contract.py)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

from aiohttp import WSMsgType, web

from handoff import contract, identity
from handoff.app_keys import (
    ADDRESS_CONVERSATION_LIMITER,
    ADDRESS_MESSAGE_LIMITER,
    ADDRESS_SOCKET_LIMITER,
    FANOUT,
    MAILER,
    RATE_LIMITER,
    RELAY,
    SETTINGS,
    STORE,
)
from handoff.client_address import client_address
from handoff.contract import error_frame
from handoff.errors import error_response
from handoff.privacy.intake import take_in
from handoff.relay import RESOLVED_INTENT
from handoff.store import Conversation, RatingRefused, Store

log = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 10
CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
LEADING_SLASHES = re.compile(r"^[\s/]+")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")
routes = web.RouteTableDef()


def origin_allowed(request: web.Request) -> bool:
    """Browsers always send Origin on WebSocket upgrades and cross-site POSTs; non-browser
    clients (tests, the bench) may omit it."""
    origin = request.headers.get("Origin")
    return origin is None or origin.rstrip("/") in request.app[SETTINGS].allowed_origins


def cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if origin and origin_allowed(request):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


@routes.options("/api/conversations")
async def conversations_preflight(request: web.Request) -> web.StreamResponse:
    if not origin_allowed(request):
        return error_response(
            403, "origin_not_allowed", "This site may not open conversations; add it to HUB_ALLOWED_ORIGINS."
        )
    response = web.Response(status=204)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
    return cors(request, response)


def _customer_metadata(body: Any, identity_secret: str) -> dict[str, Any]:
    """The website's metadata for a logged-in customer: name and email, checked and trimmed, and
    `verified` when the email carries a valid signature (handoff/identity.py)."""
    if body is None:
        return {}
    if not isinstance(body, dict) or not isinstance(body.get("metadata", {}), dict):
        raise ValueError('the body must be {"metadata": {"name": ..., "email": ...}}')
    metadata = body.get("metadata", {})
    clean: dict[str, Any] = {}
    name = metadata.get("name")
    if isinstance(name, str) and name.strip():
        clean["name"] = " ".join(name.split())[:120]
    email = metadata.get("email")
    if isinstance(email, str) and email.strip():
        if not EMAIL.match(email.strip()):
            raise ValueError("metadata.email is not an email address")
        clean["email"] = email.strip()[:254]
    clean["verified"] = identity.is_verified(identity_secret, clean.get("email"), metadata.get("signature"))
    return clean


@routes.post("/api/conversations")
async def create_conversation(request: web.Request) -> web.StreamResponse:
    if not origin_allowed(request):
        return error_response(
            403, "origin_not_allowed", "This site may not open conversations; add it to HUB_ALLOWED_ORIGINS."
        )
    if not await request.app[ADDRESS_CONVERSATION_LIMITER].allow(client_address(request)):
        return cors(
            request,
            error_response(
                429, "rate_limited", "Too many new conversations from your network; please try again later."
            ),
        )
    raw = await request.read()
    if len(raw) > 8192:
        return cors(request, error_response(413, "too_large", "The request body is over 8 KiB."))
    try:
        body = json.loads(raw) if raw.strip() else None
        metadata = _customer_metadata(body, str(request.app[SETTINGS].identity_secret))
    except ValueError as exc:
        message = str(exc) if not isinstance(exc, json.JSONDecodeError) else "The body is not valid JSON."
        return cors(request, error_response(400, "malformed", message))
    conversation, token = await request.app[STORE].create_conversation(metadata)
    log.info("conversation %s created", conversation.id)
    # retention_days: the widget tells the customer how long the chat is kept before they write
    body = {"conversation_id": conversation.id, "token": token, "retention_days": request.app[SETTINGS].retention_days}
    return cors(request, web.json_response(body, status=201))


async def _hello(ws: web.WebSocketResponse, request: web.Request) -> tuple[Conversation, int] | None:
    try:
        message = await ws.receive(timeout=HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        await ws.send_json(error_frame("unauthorized", "Send a hello frame with your token first."))
        return None
    if message.type != WSMsgType.TEXT:
        return None
    try:
        frame = json.loads(message.data)
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or frame.get("type") != "hello" or not isinstance(frame.get("token"), str):
        await ws.send_json(error_frame("unauthorized", 'The first frame must be {"type": "hello", "token": ...}.'))
        return None
    conversation = await request.app[STORE].conversation_by_token(frame["token"][:200])
    if conversation is None:
        await ws.send_json(error_frame("unauthorized", "Unknown conversation token; start a new conversation."))
        return None
    after = frame.get("after_seq", 0)
    return conversation, after if isinstance(after, int) and after >= 0 else 0


@routes.get("/ws")
async def customer_socket(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not origin_allowed(request):
        return error_response(
            403, "origin_not_allowed", "This site may not open the chat; add it to HUB_ALLOWED_ORIGINS."
        )
    if not await request.app[ADDRESS_SOCKET_LIMITER].allow(client_address(request)):
        return error_response(429, "rate_limited", "Too many chat connections from your network; please wait a minute.")
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat_seconds, max_msg_size=settings.max_frame_bytes)
    await ws.prepare(request)
    hello = await _hello(ws, request)
    if hello is None:
        await ws.close(code=4401, message=b"unauthorized")
        return ws
    conversation, after_seq = hello
    fanout, relay, store = request.app[FANOUT], request.app[RELAY], request.app[STORE]
    if await fanout.customer_sockets(conversation.id) >= settings.sockets_per_conversation:
        await ws.send_json(
            error_frame(
                "too_many_connections", "This conversation is open in too many tabs; close one and reload this page."
            )
        )
        await ws.close(code=4429, message=b"too many connections")
        return ws
    try:
        await fanout.add_customer(conversation.id, ws)  # before the replay: nothing falls in between
        await _seen(store, conversation.id, opened=True)
        await ws.send_json(
            contract.ready_frame(
                conversation.id, conversation.state.value, settings.max_message_chars, settings.ask_ces
            )
        )
        await _replay(ws, store, conversation.id, after_seq)
        await ws.send_json(await relay.state_frame(conversation.id))
        await relay.resume_turns_of(conversation.id)  # a turn another hub stopped answering (killed)
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await _customer_frame(request, ws, conversation, message.data)
            elif message.type == WSMsgType.ERROR:
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        await fanout.remove_customer(conversation.id, ws)
        await _seen(store, conversation.id, opened=False)
    return ws


async def _seen(store: Store, conversation_id: str, opened: bool) -> None:
    """When the customer was last there decides whether an agent's reply is emailed (handoff/mail)."""
    try:
        await store.note_customer_seen(conversation_id, opened)
    except Exception:  # the hub shutting down, the database away: never the customer's problem
        log.warning("conversation %s: could not note the customer's visit", conversation_id)


REPLAY_PAGE = 100


async def _replay(ws: web.WebSocketResponse, store: Store, conversation_id: str, after_seq: int) -> None:
    """Everything after `after_seq`, a page at a time: a hello costs one page of memory however
    long the conversation is (before, one hello loaded the whole conversation, and cut it at 1,000)."""
    while True:
        page = await store.messages_after(conversation_id, after_seq, REPLAY_PAGE)
        for stored in page:
            await ws.send_json(stored.to_frame())
        if len(page) < REPLAY_PAGE:
            return
        after_seq = page[-1].seq


def typed_text_for_rasa(text: str) -> str | None:
    """What Rasa gets for typed text, or None when the text goes as it is.

    Rasa reads a message whose stripped text starts with "/" as an intent with slots
    ("/handoff_resolved" would reset the bot, '/provide_reference{"transaction_ref": …}' set a
    slot). Typed text is never that: every leading slash, and the whitespace around it (tabs,
    no-break spaces: whatever `str.strip` removes), is dropped.
    """
    if not text.strip().startswith("/"):
        return None
    return LEADING_SLASHES.sub("", text) or "?"


@dataclass(frozen=True)
class FrameContext:
    """What a customer frame handler needs: the request (app state, client address), the socket
    it came on and the conversation that socket is signed in to."""

    request: web.Request
    ws: web.WebSocketResponse
    conversation: Conversation


async def _customer_frame(
    request: web.Request, ws: web.WebSocketResponse, conversation: Conversation, data: str
) -> None:
    try:
        frame = json.loads(data)
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        await ws.send_json(error_frame("malformed", "Frames are JSON objects with a 'type'."))
        return
    handler = FRAME_HANDLERS.get(frame["type"])
    if handler is None:
        await ws.send_json(error_frame("malformed", f"Unknown frame type; use {', '.join(FRAME_HANDLERS)}."))
        return
    await handler(FrameContext(request, ws, conversation), frame)


async def _rating(ctx: FrameContext, frame: dict[str, Any]) -> None:
    """`{"type": "rating", "score": 1..5, "comment"?, "ces"?: 1..5}`: one per resolved handoff."""
    score, comment, ces = frame.get("score"), frame.get("comment") or "", frame.get("ces")
    if not _whole_number_from_1_to_5(score) or not isinstance(comment, str):
        await ctx.ws.send_json(error_frame("malformed", "A rating is a score from 1 to 5 and an optional comment."))
        return
    if ces is not None and not _whole_number_from_1_to_5(ces):
        await ctx.ws.send_json(
            error_frame("malformed", "The effort score (ces) is optional, and a whole number from 1 to 5.")
        )
        return
    try:
        comment = take_in(comment.strip()[:1000], None, False, ctx.request.app[SETTINGS].redact_secrets).text
        await ctx.request.app[STORE].add_rating(ctx.conversation.id, score, comment, ces)
    except RatingRefused as exc:
        await ctx.ws.send_json(error_frame(exc.code, str(exc)))
        return
    await ctx.ws.send_json(contract.rating_saved_frame(score, ces))


async def _email_transcript(ctx: FrameContext, frame: dict[str, Any]) -> None:
    """`{"type": "email_transcript", "email"?}`: "Email me this conversation", to the address
    given (or the one the customer gave before). The answer says where it goes (None: nowhere)."""
    address = frame.get("email")
    if address is not None and (not isinstance(address, str) or not EMAIL.match(address.strip())):
        await ctx.ws.send_json(
            error_frame("malformed", "That email address does not look right; check it and try again.")
        )
        return
    mailer = ctx.request.app[MAILER]
    if not mailer.customer_mail_enabled:
        await ctx.ws.send_json(
            error_frame("email_unavailable", "We can't email conversations from this site; please copy what you need.")
        )
        return
    sent_to = await mailer.send_transcript(ctx.conversation.id, address)
    await ctx.ws.send_json(contract.transcript_sent_frame(sent_to))


def _whole_number_from_1_to_5(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


async def _typed_message(ctx: FrameContext, frame: dict[str, Any]) -> None:
    """`{"type": "message", "client_id", "text"}`: what the customer typed; never an intent."""
    text = frame.get("text")
    rasa_text = typed_text_for_rasa(text) if isinstance(text, str) else None
    await _customer_message(ctx, frame, text, rasa_text, None)


async def _button(ctx: FrameContext, frame: dict[str, Any]) -> None:
    """`{"type": "button", "client_id", "payload", "title"}`: the payload goes to Rasa only when the
    bot offered that button in its latest message; otherwise the title is what the customer "said"
    (nothing a customer sends is an intent, a slot or a priority: "/sensitive_topic",
    '/provide_reference{...}')."""
    title, button_payload = frame.get("title"), frame.get("payload")
    if (
        not isinstance(button_payload, str)
        or not button_payload.strip()
        or len(button_payload) > 200
        or button_payload.strip().startswith(RESOLVED_INTENT)
    ):
        await ctx.ws.send_json(error_frame("malformed", "A button frame needs its payload."))
        return
    text = title if isinstance(title, str) and title.strip() else button_payload
    offered = await ctx.request.app[STORE].offered_buttons(ctx.conversation.id)
    if any(button.get("payload") == button_payload for button in offered):
        await _customer_message(ctx, frame, text, button_payload, {"button_payload": button_payload})
    else:
        await _customer_message(ctx, frame, text, typed_text_for_rasa(text), None)


async def _customer_message(
    ctx: FrameContext, frame: dict[str, Any], text: Any, rasa_text: str | None, payload: dict[str, Any] | None
) -> None:
    """The checks every customer message passes (client_id, empty, length, rate), then store and ack."""
    settings, ws = ctx.request.app[SETTINGS], ctx.ws
    client_id = frame.get("client_id")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        await ws.send_json(error_frame("malformed", "Each message needs a client_id (1-64 letters, digits, - _ . :)."))
        return
    if not isinstance(text, str) or not text.strip():
        await ws.send_json(error_frame("malformed", "The message is empty.", client_id))
        return
    if len(text) > settings.max_message_chars:
        await ws.send_json(
            error_frame(
                "too_long",
                f"Messages can be up to {settings.max_message_chars} characters; please shorten it or split it in two.",
                client_id,
            )
        )
        return
    app = ctx.request.app
    if not await app[RATE_LIMITER].allow(ctx.conversation.id) or not await app[ADDRESS_MESSAGE_LIMITER].allow(
        client_address(ctx.request)
    ):
        await ws.send_json(
            error_frame("rate_limited", "You're sending messages very quickly; please wait a few seconds.", client_id)
        )
        return
    stored, _created = await ctx.request.app[RELAY].customer_message(
        ctx.conversation, text.strip(), client_id, rasa_text, payload
    )
    await ws.send_json(contract.ack_frame(client_id, stored.seq))


FrameHandler = Callable[[FrameContext, dict[str, Any]], Awaitable[None]]
#: what a customer may send after hello, by frame type (README, "The customer wire contract")
FRAME_HANDLERS: dict[str, FrameHandler] = {
    "message": _typed_message,
    "button": _button,
    "rating": _rating,
    "email_transcript": _email_transcript,
}
