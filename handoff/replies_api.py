"""Saved replies over HTTP (`/api/agent/replies`): every agent lists the shared replies and their
own, and keeps their own; editors and admins keep the shared ones (`"shared": true`)."""

from __future__ import annotations

from aiohttp import web

from handoff import auth
from handoff.app_keys import SETTINGS, STORE
from handoff.errors import error_response
from handoff.store import SHORTCUT, Agent, Conflict, NotFound, SavedReply, StoreError

routes = web.RouteTableDef()
TITLE_CHARS = 120


def _agent(request: web.Request) -> Agent:
    return request[auth.AGENT]


def _problem(exc: StoreError) -> web.Response:
    return error_response(409 if isinstance(exc, Conflict) else 404, exc.code, str(exc))


async def _fields(request: web.Request) -> tuple[str, str, str, bool] | web.Response:
    """shortcut, title, body and shared from the JSON body, or the 4xx that says what is wrong."""
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        body = None
    usage = 'Send {"shortcut": "card-delivery", "title": "...", "body": "...", "shared": false}.'
    if not isinstance(body, dict):
        return error_response(400, "malformed", usage)
    shortcut, title, text, shared = (body.get(k) for k in ("shortcut", "title", "body", "shared"))
    if not isinstance(shortcut, str) or not SHORTCUT.match(shortcut.strip().lstrip("/").lower()):
        return error_response(400, "malformed", "A shortcut is lowercase letters, digits and hyphens, up to 60.")
    if not isinstance(title, str) or not title.strip() or len(title) > TITLE_CHARS:
        return error_response(400, "malformed", f"A title is 1 to {TITLE_CHARS} characters.")
    if not isinstance(text, str) or not text.strip():
        return error_response(400, "malformed", usage)
    limit = request.app[SETTINGS].max_message_chars
    if len(text) > limit:
        return error_response(413, "too_long", f"A saved reply can be up to {limit} characters, like a reply.")
    if shared is not None and not isinstance(shared, bool):
        return error_response(400, "malformed", '"shared" is true or false.')
    return shortcut.strip().lstrip("/").lower(), title.strip(), text.strip(), bool(shared)


def _may_change(agent: Agent, reply: SavedReply) -> web.Response | None:
    """Someone else's personal reply does not exist for you; a shared one needs an editor."""
    if not reply.shared and reply.agent_id != agent.id:
        return error_response(404, "not_found", f"saved reply {reply.id} does not exist")
    if reply.shared and not agent.may("editor"):
        return error_response(403, "forbidden", "Shared replies are changed by editors and admins.")
    return None


def _reply_id(request: web.Request) -> int | None:
    raw = request.match_info["reply_id"]
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None


@routes.get("/api/agent/replies")
@auth.agent_required
async def list_replies(request: web.Request) -> web.StreamResponse:
    replies = await request.app[STORE].saved_replies(_agent(request).id)
    return web.json_response({"replies": [reply.to_json() for reply in replies]})


@routes.post("/api/agent/replies")
@auth.agent_required
async def create_reply(request: web.Request) -> web.StreamResponse:
    fields = await _fields(request)
    if isinstance(fields, web.Response):
        return fields
    shortcut, title, text, shared = fields
    agent = _agent(request)
    if shared and not agent.may("editor"):
        return error_response(403, "forbidden", "Shared replies are made by editors and admins.")
    try:
        saved = await request.app[STORE].save_reply(shortcut, title, text, None if shared else agent.id)
    except StoreError as exc:
        return _problem(exc)
    return web.json_response(saved.to_json(), status=201)


@routes.put("/api/agent/replies/{reply_id}")
@auth.agent_required
async def change_reply(request: web.Request) -> web.StreamResponse:
    reply_id, store = _reply_id(request), request.app[STORE]
    if reply_id is None:
        return error_response(404, "not_found", "No such saved reply.")
    fields = await _fields(request)
    if isinstance(fields, web.Response):
        return fields
    shortcut, title, text, _shared = fields  # a reply stays shared or personal
    try:
        existing = await store.saved_reply(reply_id)
        refused = _may_change(_agent(request), existing)
        if refused is not None:
            return refused
        saved = await store.save_reply(shortcut, title, text, existing.agent_id, reply_id)
    except StoreError as exc:
        return _problem(exc)
    return web.json_response(saved.to_json())


@routes.delete("/api/agent/replies/{reply_id}")
@auth.agent_required
async def delete_reply(request: web.Request) -> web.StreamResponse:
    reply_id, store = _reply_id(request), request.app[STORE]
    if reply_id is None:
        return error_response(404, "not_found", "No such saved reply.")
    try:
        refused = _may_change(_agent(request), await store.saved_reply(reply_id))
        if refused is not None:
            return refused
        await store.delete_reply(reply_id)
    except NotFound as exc:
        return _problem(exc)
    return web.Response(status=204)
