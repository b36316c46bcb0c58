"""Privacy over HTTP: an admin's erasure, export and audit log; a customer deleting their own
conversation from the widget; and the sockets of an erased conversation closed (at once when the
hub erased it, within HUB_AGENT_SESSION_CHECK_SECONDS when `supportbot-privacy` did)."""

from __future__ import annotations

import html
import json
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from handoff import auth, background, contract, gateway
from handoff.app_keys import FANOUT, SETTINGS, STORE
from handoff.errors import error_response
from handoff.ownership import State
from handoff.privacy.rasa_tracker import RasaTrackerStore, TrackerStoreUnavailable
from handoff.privacy.retention import RETENTION, Retention, run_periodically
from handoff.privacy.service import Actor, BadSubject, ErasureReport, Privacy, Subject
from handoff.store import AUDIT_ACTIONS

log = logging.getLogger(__name__)

PRIVACY = web.AppKey("privacy", Privacy)
#: the close code an erased conversation's sockets get (the widget starts afresh on it)
ERASED_CLOSE_CODE = 4410
routes = web.RouteTableDef()


def agent_actor(request: web.Request) -> Actor:
    return Actor.of_agent(request[auth.AGENT])


async def _subject(request: web.Request) -> Subject | web.Response:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return error_response(400, "malformed", 'Send JSON: {"email": ...} or {"conversation_id": ...}.')
    if not isinstance(body, dict):
        return error_response(400, "malformed", 'Send JSON: {"email": ...} or {"conversation_id": ...}.')
    try:
        return Subject.parse(body.get("email"), body.get("conversation_id"))
    except BadSubject as exc:
        return error_response(400, "malformed", str(exc))


async def close_erased(app: web.Application, conversation_ids: list[str]) -> None:
    """Close an erased conversation's customer sockets, and tell the inbox to refresh."""
    for conversation_id in conversation_ids:
        await app[FANOUT].close_conversation(conversation_id, ERASED_CLOSE_CODE, b"conversation deleted")
    if conversation_ids:
        await app[FANOUT].to_agents(contract.queue_changed_frame())


async def _erase(app: web.Application, subject: Subject, actor: Actor) -> ErasureReport:
    report = await app[PRIVACY].erase(subject, actor)
    await close_erased(app, report.conversations)
    return report


@routes.post("/api/admin/privacy/erase")
@auth.role_required("admin")
async def erase(request: web.Request) -> web.StreamResponse:
    """Every conversation of a customer (by email) or one conversation, from every store."""
    subject = await _subject(request)
    if isinstance(subject, web.Response):
        return subject
    try:
        report = await _erase(request.app, subject, agent_actor(request))
    except TrackerStoreUnavailable as exc:
        return error_response(503, "tracker_store_unavailable", str(exc))
    return web.json_response(report.to_json())


@routes.post("/api/admin/privacy/export")
@auth.role_required("admin")
async def export(request: web.Request) -> web.StreamResponse:
    subject = await _subject(request)
    if isinstance(subject, web.Response):
        return subject
    try:
        document = await request.app[PRIVACY].export(subject, agent_actor(request))
    except TrackerStoreUnavailable as exc:
        return error_response(503, "tracker_store_unavailable", str(exc))
    response = web.json_response(document, dumps=lambda value: json.dumps(value, indent=2, ensure_ascii=False))
    response.headers["Content-Disposition"] = 'attachment; filename="customer-data.json"'
    return response


@routes.get("/api/admin/audit")
@auth.role_required("admin")
async def audit_log(request: web.Request) -> web.StreamResponse:
    """Newest first, 100 a page: `?action=erase&agent_id=3&conversation_id=…&before_id=…`."""
    query = request.query
    action = query.get("action") or None
    if action is not None and action not in AUDIT_ACTIONS:
        return error_response(400, "malformed", f"action is one of {', '.join(AUDIT_ACTIONS)}.")
    try:
        agent_id = int(query["agent_id"]) if query.get("agent_id") else None
        before_id = int(query["before_id"]) if query.get("before_id") else None
        limit = min(500, max(1, int(query.get("limit", "100"))))
    except ValueError:
        return error_response(400, "malformed", "agent_id, before_id and limit are whole numbers.")
    entries = await request.app[STORE].audit_entries(
        action, agent_id, query.get("conversation_id") or None, before_id, limit
    )
    return web.json_response({"entries": [entry.to_json() for entry in entries]})


# --- the customer's own conversation ---------------------------------------------------------


@routes.options("/api/conversations/delete")
async def delete_preflight(request: web.Request) -> web.StreamResponse:
    return await gateway.conversations_preflight(request)


@routes.post("/api/conversations/delete")
async def customer_delete(request: web.Request) -> web.StreamResponse:
    """`{"token": …}`: the widget deletes its own conversation once it has ended (not while it
    waits for or is with a person). The token is the only proof: it names the conversation."""
    if not gateway.origin_allowed(request):
        return error_response(
            403, "origin_not_allowed", "This site may not use the chat; add it to HUB_ALLOWED_ORIGINS."
        )
    raw = await request.read()
    try:
        body = json.loads(raw) if len(raw) <= 1024 else None
    except ValueError:
        body = None
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        return gateway.cors(request, error_response(400, "malformed", 'Send {"token": …}, the conversation\'s token.'))
    conversation = await request.app[STORE].conversation_by_token(token[:200])
    if conversation is None:
        return gateway.cors(request, error_response(404, "not_found", "This conversation no longer exists."))
    if conversation.state in (State.QUEUED, State.AGENT):
        return gateway.cors(
            request,
            error_response(
                409, "conversation_open", "A person is on this conversation; you can delete it once it has ended."
            ),
        )
    try:
        report = await _erase(request.app, Subject(conversation_id=conversation.id), Actor("customer"))
    except TrackerStoreUnavailable:
        log.exception("conversation %s: the customer's deletion could not reach Rasa's tracker store", conversation.id)
        return gateway.cors(
            request, error_response(503, "try_later", "We couldn't delete it just now; please try again in a minute.")
        )
    return gateway.cors(request, web.json_response({"deleted": True, "removed": report.removed}))


# --- the hub's side: sockets of conversations erased elsewhere, and the retention job ---------


async def close_conversations_erased_elsewhere(app: web.Application) -> None:
    """Conversations erased by `supportbot-privacy` (another process) lose their open sockets too."""
    open_ids = app[FANOUT].customer_conversation_ids()
    if open_ids:
        gone = open_ids - await app[STORE].existing_conversation_ids(sorted(open_ids))
        await close_erased(app, sorted(gone))


async def _watch_erased(app: web.Application) -> AsyncIterator[None]:
    async with background.every(
        app[SETTINGS].agent_session_check_seconds,
        lambda: close_conversations_erased_elsewhere(app),
        "erased-conversation check",
    ):
        yield


async def _privacy_ctx(app: web.Application) -> AsyncIterator[None]:
    tracker = RasaTrackerStore(str(app[SETTINGS].rasa_tracker_url))
    app[PRIVACY] = Privacy(app[STORE], tracker)
    app[RETENTION] = Retention(app[STORE], tracker, app[SETTINGS])
    yield
    await tracker.close()


def setup(app: web.Application) -> None:
    """Register the privacy feature: routes, its services (after the store opens), the retention
    job and the erased-socket check."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(_privacy_ctx)
    app.cleanup_ctx.append(run_periodically)
    app.cleanup_ctx.append(_watch_erased)


# --- the privacy page the widget links to -----------------------------------------------------


@routes.get("/privacy")
async def privacy_page(request: web.Request) -> web.StreamResponse:
    """What is kept and for how long, from the settings in force (or the company's own page,
    HUB_PRIVACY_URL)."""
    settings = request.app[SETTINGS]
    if settings.privacy_url.rstrip("/") not in ("", "/privacy"):
        raise web.HTTPFound(settings.privacy_url)
    if settings.retention_days:
        kept = (
            f"A conversation is emptied {settings.retention_days} days after its last message: its "
            "texts, your name and email and what the assistant remembered are deleted; only counts "
            "and times (how many chats, how long a reply took) stay, for our statistics."
        )
    else:
        kept = "Conversations are kept until you ask us to delete them."
    hidden = (
        "<li>Card numbers, security codes, PINs and passwords you type are hidden before your "
        "message is stored, so no one (not our team, not the assistant) can read them.</li>"
        if settings.redact_secrets
        else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>How we handle your chat data · Kestrel Help</title>
<link rel="stylesheet" href="/static/help.css"></head>
<body><main class="article" data-testid="privacy-page"><p><a href="/">Kestrel</a> › Help center › Privacy</p>
<h1>How we handle your chat data</h1>
<h2>What we keep</h2>
<ul>
<li>The messages of your conversation, with the assistant and with our team.</li>
<li>Your name and email, if you gave them or were signed in.</li>
<li>The details you gave so a person could help (for example a transaction reference), and our
team's summary of your request.</li>
<li>Your ratings and whether an article helped.</li>
<li>What the assistant remembered during the chat.</li>
{hidden}
</ul>
<h2>For how long</h2>
<p>{html.escape(kept)}</p>
<h2>Your choices</h2>
<ul>
<li>Once no one from our team is on your conversation, choose <strong>Delete this conversation</strong>
in the chat: everything of it is deleted at once.</li>
<li>Ask us for a copy of everything we hold under your email, or to delete all of it: our team
can export or erase it in one step.</li>
</ul>
</main></body></html>"""
    return web.Response(text=page, content_type="text/html")
