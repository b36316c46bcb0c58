"""The agent inbox's HTTP API and live WebSocket (every route needs a signed-in agent)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

from handoff import auth, contract
from handoff.agent_sessions import LOGIN_GUARD, end_session
from handoff.app_keys import FANOUT, RELAY, SETTINGS, STORE
from handoff.client_address import client_address
from handoff.errors import error_response
from handoff.privacy.service import Actor
from handoff.sla import SlaTargets, sla_status
from handoff.store import Agent, Conflict, NotFound, NotYours, StoredMessage, StoreError, hash_token

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
STATUS_OF = {NotFound: 404, NotYours: 403, Conflict: 409}
#: messages per transcript page: a conversation of any length opens at its latest page
TRANSCRIPT_PAGE = 500


def _agent(request: web.Request) -> Agent:
    return request[auth.AGENT]


def _signed_in(request: web.Request, agent: Agent) -> dict[str, Any]:
    """The agent and the limits the inbox enforces as they type (the hub's own settings)."""
    return {"agent": agent.public(), "limits": {"max_message_chars": request.app[SETTINGS].max_message_chars}}


def _store_error(exc: StoreError) -> web.Response:
    status = next((code for kind, code in STATUS_OF.items() if isinstance(exc, kind)), 400)
    return error_response(status, exc.code, str(exc))


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


@routes.post("/api/agent/login")
async def login(request: web.Request) -> web.StreamResponse:
    if not auth.same_origin(request):
        return error_response(403, "origin_not_allowed", "Sign in from the inbox page.")
    body = await _json_body(request)
    if body is None or not isinstance(body.get("email"), str) or not isinstance(body.get("password"), str):
        return error_response(400, "malformed", 'Send {"email": ..., "password": ...}.')
    email, address, guard = body["email"][:254].strip().lower(), client_address(request), request.app[LOGIN_GUARD]
    refusal = await guard.refusal(address, email)
    if refusal is not None:
        why, wait = refusal
        log.warning("agent sign-in throttled: %s", why)
        response = error_response(
            429,
            "too_many_attempts",
            f"{why} Try again in {max(1, round(wait / 60))} "
            "minute(s), or ask an admin to reset the password (supportbot-agent add).",
        )
        response.headers["Retry-After"] = str(wait)
        return response
    await guard.attempted(address)
    agent = await auth.authenticate(request, email, body["password"][:1024])
    if agent is None:
        await guard.failed(email)
        log.info("agent sign-in refused")
        return error_response(401, "invalid_credentials", "Wrong email or password.")
    if agent.disabled:
        log.info("disabled agent %s tried to sign in", agent.id)
        return error_response(
            403, "agent_disabled", "This account is disabled; ask an admin to enable it (supportbot-agent enable)."
        )
    token = await request.app[STORE].create_session(agent.id, request.app[SETTINGS].agent_session_hours * 3600)
    response = web.json_response(_signed_in(request, agent))
    auth.set_session_cookie(request, response, token)
    log.info("agent %s signed in", agent.id)
    return response


@routes.post("/api/agent/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    token = auth.session_token(request)
    if token:
        await end_session(request.app, token)
    response = web.json_response({"ok": True})
    response.del_cookie(auth.COOKIE, path="/")
    return response


@routes.get("/api/agent/me")
@auth.agent_required
async def me(request: web.Request) -> web.StreamResponse:
    return web.json_response(_signed_in(request, _agent(request)))


@routes.get("/api/agent/queue")
@auth.agent_required
async def queue(request: web.Request) -> web.StreamResponse:
    """The open handoffs; `?team=mine` only my teams', `?team=N` only team N's, `?team=none` the
    general queue's. `my_teams` lists my teams (the inbox shows their items first)."""
    store, wanted = request.app[STORE], request.query.get("team", "")
    mine = await store.team_ids_of(_agent(request).id)
    items = await store.queue_items(mine if wanted == "mine" else None)
    if wanted.isascii() and wanted.isdigit() and len(wanted) < 10:
        items = [item for item in items if item.team_id == int(wanted)]
    elif wanted == "none":
        items = [item for item in items if item.team_id is None]
    elif wanted not in ("", "mine"):
        return error_response(400, "malformed", "?team is mine, none or a team's id.")
    teams = [team for team in await store.teams() if team.id in mine]
    targets, now = request.app[SETTINGS].sla_targets, time.time()
    return web.json_response(
        {
            "items": [_with_sla(item.to_json(), targets, now) for item in items],
            "agents_online": request.app[FANOUT].agents_online(),
            "my_teams": [{"id": team.id, "name": team.name} for team in teams],
        }
    )


def _with_sla(item: dict[str, Any], targets: SlaTargets, now: float) -> dict[str, Any]:
    """A queue item with where it stands against its first-response target (`sla`, or null)."""
    status = sla_status(targets, item["priority"], item["queued_at"], item["first_response_at"], now)
    return {**item, "sla": status.to_json() if status else None}


@routes.get("/api/agent/conversations/{conversation_id}")
@auth.agent_required
async def conversation(request: web.Request) -> web.StreamResponse:
    store = request.app[STORE]
    conversation_id = request.match_info["conversation_id"]
    try:
        found = await store.get_conversation(conversation_id)
    except NotFound as exc:
        return _store_error(exc)
    reader = Actor.of_agent(_agent(request))
    await store.audit(reader.label, "read", conversation_id, agent_id=reader.agent_id)
    handoff = await store.latest_handoff(conversation_id)
    agent_json = None
    if handoff and handoff.agent_id:
        agent = await store.agent_by_id(handoff.agent_id)
        agent_json = {"id": agent.id, "name": agent.name} if agent else None
    messages = await store.messages_before(conversation_id, None, TRANSCRIPT_PAGE, include_notes=True)
    return web.json_response(
        {
            "conversation": {
                "id": found.id,
                "state": found.state.value,
                "created_at": found.created_at,
                "metadata": found.metadata,
                "customer": {
                    "name": found.customer_name,
                    "email": found.customer_email,
                    "verified": found.customer_verified,
                },
                "email": found.email.to_json(),
            },
            "handoff": handoff.to_json(agent_json) if handoff else None,
            "transfer": await _transfer_for(request, handoff.agent_id if handoff else None),
            **_transcript_page(messages),
            "ratings": [rating.to_json() for rating in await store.ratings_for(conversation_id)],
        }
    )


async def _transfer_for(request: web.Request, owner_id: int | None) -> dict[str, Any] | None:
    """The note of the latest transfer, when it passed the conversation to its current owner:
    what the receiver reads first (the inbox shows it above the summary)."""
    if owner_id is None:
        return None
    note = await request.app[STORE].latest_transfer_note(request.match_info["conversation_id"])
    transfer = (note.payload or {}).get("transfer") if note else None
    if note is None or not isinstance(transfer, dict):
        return None
    # to an agent: that agent; to a team: whoever of it claimed the conversation since
    if (transfer.get("to") or {}).get("id") != owner_id and not isinstance(transfer.get("team"), dict):
        return None
    return {
        "from": transfer.get("from"),
        "to": transfer.get("to"),
        "team": transfer.get("team"),
        "note": note.text,
        "created_at": note.created_at,
    }


def _transcript_page(messages: list[StoredMessage]) -> dict[str, Any]:
    """A page of the transcript and whether there is more before it (`earlier`)."""
    return {
        "messages": [
            {
                "seq": m.seq,
                "sender": m.sender,
                "text": m.text,
                "created_at": m.created_at,
                "agent": {"name": m.agent_name} if m.agent_name else None,
                "article": (m.payload or {}).get("article"),
                "via": (m.payload or {}).get("via"),  # "email": a customer's reply by email (handoff/mail)
                "transfer": (m.payload or {}).get("transfer") if m.sender == contract.NOTE_SENDER else None,
            }
            for m in messages
        ],
        "earlier": bool(messages) and messages[0].seq > 1,
    }


@routes.get("/api/agent/conversations/{conversation_id}/messages")
@auth.agent_required
async def earlier_messages(request: web.Request) -> web.StreamResponse:
    """`?before_seq=N`: the page of the transcript before message N (the inbox's "Load earlier")."""
    try:
        before_seq = int(request.query.get("before_seq", ""))
    except ValueError:
        return error_response(400, "malformed", "Add ?before_seq=N, the seq of the earliest message you have.")
    store, conversation_id = request.app[STORE], request.match_info["conversation_id"]
    try:
        await store.get_conversation(conversation_id)
    except NotFound as exc:
        return _store_error(exc)
    return web.json_response(
        _transcript_page(await store.messages_before(conversation_id, before_seq, TRANSCRIPT_PAGE, include_notes=True))
    )


def _action(name: str) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        relay, conversation_id = request.app[RELAY], request.match_info["conversation_id"]
        try:
            await request.app[STORE].get_conversation(conversation_id)
            await getattr(relay, name)(conversation_id, _agent(request))
        except StoreError as exc:
            return _store_error(exc)
        actor = Actor.of_agent(_agent(request))
        await request.app[STORE].audit(actor.label, name, conversation_id, agent_id=actor.agent_id)
        log.info("agent %s %s conversation %s", _agent(request).id, name, conversation_id)
        return web.json_response({"ok": True})

    handler.__name__ = name
    return auth.agent_required(handler)


routes.post("/api/agent/conversations/{conversation_id}/claim")(_action("claim"))
routes.post("/api/agent/conversations/{conversation_id}/release")(_action("release"))
routes.post("/api/agent/conversations/{conversation_id}/resolve")(_action("resolve"))


@routes.post("/api/agent/conversations/{conversation_id}/messages")
@auth.agent_required
async def reply(request: web.Request) -> web.StreamResponse:
    body = await _json_body(request)
    text = body.get("text") if body else None
    limit = request.app[SETTINGS].max_message_chars
    if not isinstance(text, str) or not text.strip():
        return error_response(400, "malformed", 'Send {"text": ...} with some text.')
    if len(text) > limit:
        return error_response(413, "too_long", f"Replies can be up to {limit} characters.")
    try:
        stored = await request.app[RELAY].agent_message(
            request.match_info["conversation_id"], _agent(request), text.strip()
        )
    except StoreError as exc:
        return _store_error(exc)
    return web.json_response({"seq": stored.seq}, status=201)


def _text_of(body: dict[str, Any] | None, key: str, limit: int, required: bool = True) -> str | web.Response:
    """The trimmed text under `key`, or the 4xx that says what is wrong with it."""
    text = body.get(key, None if required else "") if body else None
    if not isinstance(text, str) or (required and not text.strip()):
        return error_response(400, "malformed", f'Send {{"{key}": ...}} with some text.')
    if len(text) > limit:
        return error_response(413, "too_long", f"A {key} can be up to {limit} characters.")
    return text.strip()


@routes.post("/api/agent/conversations/{conversation_id}/notes")
@auth.agent_required
async def note(request: web.Request) -> web.StreamResponse:
    """A private note: any signed-in agent, on any conversation; agents only ever see it."""
    text = _text_of(await _json_body(request), "text", request.app[SETTINGS].max_message_chars)
    if isinstance(text, web.Response):
        return text
    conversation_id = request.match_info["conversation_id"]
    try:
        await request.app[STORE].get_conversation(conversation_id)
        stored = await request.app[RELAY].add_note(conversation_id, _agent(request), text)
    except StoreError as exc:
        return _store_error(exc)
    return web.json_response({"seq": stored.seq}, status=201)


@routes.post("/api/agent/conversations/{conversation_id}/transfer")
@auth.agent_required
async def transfer(request: web.Request) -> web.StreamResponse:
    """Pass a conversation I own to another active agent, or to a team's queue, with a note the
    next owner sees first (audited)."""
    body = await _json_body(request)
    to_id = body.get("agent_id") if body else None
    team_id = body.get("team_id") if body else None
    note_text = _text_of(body, "note", request.app[SETTINGS].max_message_chars, required=False)
    if isinstance(note_text, web.Response):
        return note_text
    if isinstance(team_id, int) and not isinstance(team_id, bool) and to_id is None:
        return await _transfer_to_team(request, team_id, note_text)
    if not isinstance(to_id, int) or isinstance(to_id, bool):
        return error_response(
            400, "malformed", 'Send {"agent_id": N, "note": "..."} or {"team_id": N, "note": "..."} (note optional).'
        )
    store, me, conversation_id = request.app[STORE], _agent(request), request.match_info["conversation_id"]
    to = await store.agent_by_id(to_id) if -(2**31) <= to_id < 2**31 else None
    if to is None or to.disabled:
        return error_response(404, "not_found", "No active agent has that id (GET /api/agent/agents lists them).")
    if to.id == me.id:
        return error_response(400, "malformed", "Choose another agent: the conversation is already yours.")
    return await _audited_transfer(
        request,
        me,
        conversation_id,
        lambda: request.app[RELAY].transfer(conversation_id, me, to, note_text),
        {"to_agent_id": to.id},
        f"agent {to.id}",
    )


async def _transfer_to_team(request: web.Request, team_id: int, note: str) -> web.StreamResponse:
    store, me, conversation_id = request.app[STORE], _agent(request), request.match_info["conversation_id"]
    team = next((t for t in await store.teams() if t.id == team_id), None)
    if team is None:
        return error_response(404, "not_found", "No team has that id (GET /api/agent/teams lists them).")
    return await _audited_transfer(
        request,
        me,
        conversation_id,
        lambda: request.app[RELAY].transfer_to_team(conversation_id, me, team, note),
        {"to_team_id": team.id},
        f"team {team.id}",
    )


async def _audited_transfer(
    request: web.Request,
    me: Agent,
    conversation_id: str,
    move: Callable[[], Awaitable[None]],
    detail: dict[str, Any],
    to_label: str,
) -> web.StreamResponse:
    """Run a transfer (`move`, to an agent or a team) of a conversation that exists, then audit
    and log it; a store error becomes its JSON error."""
    store = request.app[STORE]
    try:
        await store.get_conversation(conversation_id)
        await move()
    except StoreError as exc:
        return _store_error(exc)
    actor = Actor.of_agent(me)
    await store.audit(actor.label, "transfer", conversation_id, detail, agent_id=actor.agent_id)
    log.info("agent %s transferred conversation %s to %s", me.id, conversation_id, to_label)
    return web.json_response({"ok": True})


@routes.get("/api/agent/agents")
@auth.agent_required
async def colleagues(request: web.Request) -> web.StreamResponse:
    """Active agents (id, name, online), for the transfer picker."""
    online = request.app[FANOUT].online_agent_ids()
    agents = [agent for agent, _sessions in await request.app[STORE].agents() if not agent.disabled]
    return web.json_response(
        {
            "agents": [
                {"id": a.id, "name": a.name, "online": a.id in online}
                for a in sorted(agents, key=lambda a: (a.id not in online, a.name.lower()))
            ]
        }
    )


@routes.post("/api/agent/conversations/{conversation_id}/typing")
@auth.agent_required
async def typing(request: web.Request) -> web.StreamResponse:
    await request.app[RELAY].agent_typing(request.match_info["conversation_id"], _agent(request))
    return web.Response(status=204)


@routes.get("/api/agent/ws")
async def agent_socket(request: web.Request) -> web.StreamResponse:
    if not auth.same_origin(request):
        return error_response(403, "origin_not_allowed", "Open the inbox from the hub's own page.")
    agent = await auth.current_agent(request)
    if agent is None:
        return error_response(401, "unauthorized", "Sign in to the agent inbox first.")
    settings, fanout = request.app[SETTINGS], request.app[FANOUT]
    ws = web.WebSocketResponse(heartbeat=settings.ws_heartbeat_seconds, max_msg_size=64 * 1024)
    await ws.prepare(request)
    try:
        await fanout.add_agent(agent.id, hash_token(auth.session_token(request)), ws)
        await fanout.to_agents(contract.agents_online_frame(fanout.agents_online()))
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                try:
                    frame = json.loads(message.data)
                except ValueError:
                    continue
                if isinstance(frame, dict) and frame.get("type") == "ping":
                    await ws.send_json(contract.pong_frame())
    finally:
        await fanout.remove_agent(ws)
        await fanout.to_agents(contract.agents_online_frame(fanout.agents_online()))
    return ws
