"""The OpenAPI 3.1 description of the hub's HTTP API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(
    summary: str, responses: dict[str, str], body: dict[str, Any] | None = None, auth: bool = True
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            code: {
                "description": text,
                **({"content": {"application/json": {"schema": ERROR}}} if code[0] in "45" else {}),
            }
            for code, text in responses.items()
        },
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if auth:
        op["security"] = [{"agentSession": []}]
    return op


CONVERSATION_PATH = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}
TEAM_PATH = {"name": "team_id", "in": "path", "required": True, "schema": {"type": "integer"}}
REPLY_PATH = {"name": "reply_id", "in": "path", "required": True, "schema": {"type": "integer"}}
SAVED_REPLY_BODY = {
    "type": "object",
    "required": ["shortcut", "title", "body"],
    "properties": {
        "shortcut": {"type": "string", "description": "typed after / in the reply box: a-z, 0-9 and -"},
        "title": {"type": "string"},
        "body": {"type": "string", "description": "may hold {customer_name} and {agent_name}, filled on insert"},
        "shared": {"type": "boolean", "description": "everyone's (editors and admins only); default: mine"},
    },
}


ARTICLE_PATH = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,80}$"},
}
MARKDOWN_BODY = {
    "type": "object",
    "required": ["markdown"],
    "properties": {
        "markdown": {
            "type": "string",
            "description": "the whole article: YAML front matter (id, title, category, updated, "
            "questions, tags, needs_person), then the Markdown body",
        }
    },
}
PERIOD = [
    {
        "name": "from",
        "in": "query",
        "schema": {"type": "string", "format": "date"},
        "description": "first day (YYYY-MM-DD, UTC); default: 29 days before `to`",
    },
    {
        "name": "to",
        "in": "query",
        "schema": {"type": "string", "format": "date"},
        "description": "last day (YYYY-MM-DD, UTC); default: today",
    },
]


def _content(
    summary: str,
    responses: dict[str, str],
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An article API operation: an agent session or the content token."""
    op = {
        **_op(summary, {**responses, "401": "neither an agent session nor the content token"}, body),
        "security": [{"agentSession": []}, {"contentToken": []}],
    }
    return {**op, "parameters": parameters} if parameters else op


def _content_paths() -> dict[str, Any]:
    one = "/api/articles/{article_id}"
    return {
        "/api/articles": {
            "get": _content(
                "Every article: id, title, category, updated", {"200": "the list", "500": "an article is broken"}
            ),
            "post": _content(
                "Create an article; validates it, saves the Markdown, starts an incremental index build",
                {
                    "201": "saved; build started",
                    "400": "malformed body or id",
                    "409": "the id exists",
                    "413": "too large",
                    "422": "invalid front matter or body (the message names the problem)",
                },
                MARKDOWN_BODY,
            ),
        },
        "/api/articles/build": {
            "get": _content(
                "The last index build: status building/done/failed, version or error", {"200": "the build status"}
            )
        },
        one: {
            "get": _content(
                "One article with its Markdown",
                {"200": "the article", "404": "no such article"},
                parameters=[ARTICLE_PATH],
            ),
            "put": _content(
                "Replace an article; validates, saves, starts an incremental index build",
                {
                    "200": "saved; build started",
                    "400": "malformed body",
                    "404": "no such article",
                    "413": "too large",
                    "422": "invalid article or id mismatch",
                },
                MARKDOWN_BODY,
                [ARTICLE_PATH],
            ),
            "delete": _content(
                "Delete an article; its passages leave the index on the next build",
                {"200": "deleted; build started", "404": "no such article"},
                parameters=[ARTICLE_PATH],
            ),
        },
    }


def _metrics_paths() -> dict[str, Any]:
    def period_op(summary: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return {
            **_op(
                summary,
                {"200": "the figures", "400": "a date is malformed or the period is reversed", "401": "not signed in"},
            ),
            "parameters": PERIOD + (extra or []),
        }

    gaps = {
        "name": "gaps",
        "in": "query",
        "schema": {"type": "boolean"},
        "description": "also cluster the questions the bot could not answer",
    }
    return {
        "/api/metrics": {
            "get": period_op(
                "Support figures per period and per day: deflection, handoffs by reason, "
                "waits, FCR, CSAT, CES, knowledge-base outcomes",
                [gaps],
            )
        },
        "/api/metrics.csv": {"get": period_op("The daily figures as CSV (a download)")},
        "/api/metrics/gaps": {"get": period_op("Unanswered or not-helpful questions, clustered, most frequent first")},
    }


STUDIO_FORM = {
    "type": "object",
    "required": ["id", "title", "category", "body"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "category": {"type": "string"},
        "tags": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "questions": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "needs_person": {"type": "boolean"},
        "body": {"type": "string", "description": "the article's Markdown, without front matter"},
    },
}
STUDIO_SAVE = {
    "type": "object",
    "required": ["form", "base"],
    "properties": {
        "form": STUDIO_FORM,
        "base": {"type": "integer", "minimum": 0, "description": "the revision the edit started from (0: new)"},
        "message": {"type": "string", "maxLength": 500},
    },
}
NUMBER_PATH = {"name": "number", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
SUGGESTION_PATH = {"name": "suggestion_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _studio(
    summary: str,
    responses: dict[str, str],
    body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    op = _op(summary, {**responses, "401": "not signed in"}, body)
    return {**op, "parameters": parameters} if parameters else op


def _studio_paths() -> dict[str, Any]:
    """The content studio (README, "For content teams"): everyone signed in reads, agents suggest,
    editors and admins publish, delete and restore."""
    one = "/api/studio/articles/{article_id}"
    refused = {"403": "not an editor, or another origin", "404": "no such article", "409": "edit conflict"}
    return {
        "/api/studio/articles": {
            "get": _studio(
                "Every article with category, last update, helpfulness, bot answers in 30 days, lint warnings",
                {"200": "a page of the list", "400": "bad filter"},
                parameters=[
                    {"name": name, "in": "query", "required": False, "schema": schema}
                    for name, schema in (
                        ("q", {"type": "string"}),
                        ("category", {"type": "string"}),
                        ("sort", {"type": "string", "enum": ["id", "updated", "answers", "unhelpful"]}),
                        ("warnings", {"type": "string"}),
                        ("offset", {"type": "integer"}),
                        ("limit", {"type": "integer"}),
                    )
                ],
            )
        },
        one: {
            "get": _studio(
                "One article as the editor's form, with its latest revision number and open suggestions",
                {"200": "the article", "404": "no such article (or deleted)"},
                parameters=[ARTICLE_PATH],
            )
        },
        f"{one}/publish": {
            "post": _studio(
                "Publish a new article (base 0) or a change; starts the incremental build. Audited",
                {"200": "published", "400": "malformed", "413": "too large", "422": "invalid fields", **refused},
                STUDIO_SAVE,
                [ARTICLE_PATH],
            )
        },
        f"{one}/delete": {
            "post": _studio(
                "Delete an article as a revision (restore undoes it). Audited",
                {"200": "deleted", "400": "malformed", **refused},
                {"type": "object", "required": ["base"], "properties": {"base": {"type": "integer"}}},
                [ARTICLE_PATH],
            )
        },
        f"{one}/revisions": {
            "get": _studio(
                "The article's history, newest first", {"200": "revisions", "404": "none"}, parameters=[ARTICLE_PATH]
            )
        },
        f"{one}/revisions/{{number}}": {
            "get": _studio(
                "One revision with its text",
                {"200": "the revision", "404": "none"},
                parameters=[ARTICLE_PATH, NUMBER_PATH],
            )
        },
        f"{one}/diff": {
            "get": _studio(
                "The line diff between two revisions",
                {"200": "lines", "400": "no revision numbers", "404": "no such revision"},
                parameters=[
                    ARTICLE_PATH,
                    {"name": "from", "in": "query", "required": True, "schema": {"type": "integer"}},
                    {"name": "to", "in": "query", "required": True, "schema": {"type": "integer"}},
                ],
            )
        },
        f"{one}/restore": {
            "post": _studio(
                "Publish an older revision's text again as a new revision. Audited",
                {"200": "restored", "400": "malformed", "422": "that revision is a deletion", **refused},
                {
                    "type": "object",
                    "required": ["number", "base"],
                    "properties": {"number": {"type": "integer"}, "base": {"type": "integer"}},
                },
                [ARTICLE_PATH],
            )
        },
        f"{one}/questions": {
            "post": _studio(
                "Add an example question (from a content gap) to the article, as a published revision",
                {"200": "added (or already there)", "400": "malformed", "422": "the article is broken", **refused},
                {"type": "object", "required": ["question"], "properties": {"question": {"type": "string"}}},
                [ARTICLE_PATH],
            )
        },
        f"{one}/suggestions": {
            "post": _studio(
                "Suggest an edit (any agent): kept until an editor publishes or dismisses it",
                {"201": "suggested", "400": "malformed", "403": "another origin", "422": "invalid fields"},
                STUDIO_SAVE,
                [ARTICLE_PATH],
            )
        },
        "/api/studio/suggestions": {"get": _studio("Open suggested edits", {"200": "suggestions"})},
        "/api/studio/suggestions/{suggestion_id}/publish": {
            "post": _studio(
                "Publish a suggested edit on the revision it was based on. Audited",
                {"200": "published", "403": "not an editor", "404": "no such suggestion", "409": "closed or conflict"},
                parameters=[SUGGESTION_PATH],
            )
        },
        "/api/studio/suggestions/{suggestion_id}/dismiss": {
            "post": _studio(
                "Dismiss a suggested edit",
                {"200": "dismissed", "403": "not an editor", "404": "no open suggestion"},
                parameters=[SUGGESTION_PATH],
            )
        },
        "/api/studio/build": {
            "get": _studio(
                "The latest index build: status, progress lines, version, and which publish requests it covers",
                {"200": "the build"},
            )
        },
        "/api/studio/try": {
            "post": _studio(
                "What the bot would do with a question: tier, top articles with scores, the quote, the handoff; "
                "on the saved index, and with the draft in `form` when given",
                {"200": "the outcomes", "400": "malformed", "409": "no index yet", "422": "invalid draft"},
                {
                    "type": "object",
                    "required": ["question"],
                    "properties": {"question": {"type": "string", "maxLength": 500}, "form": STUDIO_FORM},
                },
            )
        },
    }


SUBJECT_BODY = {
    "type": "object",
    "description": "One of the two: every conversation with this customer email, or one conversation",
    "properties": {"email": {"type": "string", "format": "email"}, "conversation_id": {"type": "string"}},
}


def _privacy_paths() -> dict[str, Any]:
    """Erasure, export and the audit log (admins), and a customer deleting their conversation."""
    return {
        "/api/admin/privacy/erase": {
            "post": _op(
                "Delete a customer's conversations (by email) or one conversation from every store; "
                "returns what was removed. Audited; safe to re-run",
                {"200": "the report", "400": "no or malformed subject", "401": "not signed in", "403": "not an admin"},
                SUBJECT_BODY,
            )
        },
        "/api/admin/privacy/export": {
            "post": _op(
                "Everything held about a customer (by email) or one conversation, as one JSON document. Audited",
                {
                    "200": "the document",
                    "400": "no or malformed subject",
                    "401": "not signed in",
                    "403": "not an admin",
                },
                SUBJECT_BODY,
            )
        },
        "/api/admin/audit": {
            "get": {
                **_op(
                    "The audit log, newest first (read, export, erase, claim, release, transfer, resolve, retention; "
                    "the studio's publish, delete and restore; "
                    "a customer's own deletion is an erase by 'customer')",
                    {"200": "entries", "400": "bad filter", "401": "not signed in", "403": "not an admin"},
                ),
                "parameters": [
                    {"name": name, "in": "query", "required": False, "schema": {"type": kind}}
                    for name, kind in (
                        ("action", "string"),
                        ("agent_id", "integer"),
                        ("conversation_id", "string"),
                        ("before_id", "integer"),
                        ("limit", "integer"),
                    )
                ],
            }
        },
        "/api/conversations/delete": {
            "post": _op(
                "The widget deletes its own conversation (not while a person is on it)",
                {"200": "deleted", "400": "no token", "404": "no such conversation", "409": "a person is on it"},
                {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
                auth=False,
            )
        },
    }


def openapi_document() -> dict[str, Any]:
    conv = "/api/agent/conversations/{conversation_id}"
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kestrel support hub",
            "version": "1",
            "description": "Customer gateway (WebSocket /ws, see README 'Customer wire contract') and agent inbox API.",
        },
        "paths": {
            "/api/conversations": {
                "post": _op(
                    "Start a conversation; returns its id and the customer's token",
                    {"201": "created", "400": "malformed body", "403": "origin not allowed"},
                    {
                        "type": "object",
                        "properties": {
                            "metadata": {
                                "type": "object",
                                "properties": {
                                    "name": {"type": "string"},
                                    "email": {"type": "string", "format": "email"},
                                },
                            }
                        },
                    },
                    auth=False,
                )
            },
            "/api/conversations/resume": {
                "post": _op(
                    "Exchange a signed link from an email (what follows #kestrel-resume=) for a fresh key to "
                    "that one conversation",
                    {
                        "200": "conversation_id and token",
                        "400": "malformed link",
                        "403": "forged link or origin not allowed",
                        "404": "links are not enabled (no HUB_LINK_SECRET), or the conversation is gone",
                        "410": "the link has expired",
                        "429": "too many attempts",
                    },
                    {"type": "object", "required": ["link"], "properties": {"link": {"type": "string"}}},
                    auth=False,
                )
            },
            "/api/mail/inbound": {
                "post": _op(
                    "A customer's reply (or a bounce) by email, in the common inbound-mail JSON shape (From, To, "
                    "TextBody, StrippedTextReply, Headers); signed with X-Inbound-Signature: sha256=HMAC of the "
                    "body with HUB_INBOUND_SECRET, or Basic auth with that secret as the password",
                    {
                        "200": "added to the conversation its signed reply address names",
                        "400": "not JSON, or no sender and no text",
                        "401": "no valid signature",
                        "413": "over 1 MiB",
                        "422": "not a conversation's reply address, or nothing above the quoted history",
                        "404": "replies by email are not set up (HUB_INBOUND_SECRET, HUB_LINK_SECRET)",
                    },
                    {"type": "object"},
                    auth=False,
                )
            },
            "/api/agent/login": {
                "post": _op(
                    "Sign in; sets the HttpOnly session cookie",
                    {"200": "signed in", "400": "malformed", "401": "wrong email or password"},
                    {
                        "type": "object",
                        "required": ["email", "password"],
                        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
                    },
                    auth=False,
                )
            },
            "/api/agent/logout": {"post": _op("Sign out", {"200": "signed out"}, auth=False)},
            "/api/agent/me": {"get": _op("The signed-in agent", {"200": "the agent", "401": "not signed in"})},
            "/api/agent/queue": {
                "get": {
                    **_op(
                        "Open handoffs: queued by priority then age, then claimed; each with its team, "
                        "and my teams (`my_teams`)",
                        {"200": "the queue", "400": "bad team filter", "401": "not signed in"},
                    ),
                    "parameters": [
                        {
                            "name": "team",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string"},
                            "description": "mine (my teams' items), none (the general queue) or a team's id",
                        }
                    ],
                }
            },
            "/api/admin/teams": {
                "get": _op(
                    "Teams with their members' ids (admins)",
                    {"200": "the teams", "401": "not signed in", "403": "not an admin"},
                ),
                "post": _op(
                    "Create a team (admins); handoffs reach it through HUB_TEAM_ROUTES",
                    {"201": "created", "400": "no name", "403": "not an admin", "409": "the name is taken"},
                    {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                ),
            },
            "/api/admin/teams/{team_id}/members": {
                "put": {
                    **_op(
                        "Set a team's members, all of them (admins)",
                        {
                            "200": "set",
                            "400": "not a list of ids",
                            "403": "not an admin",
                            "404": "no such team or agent",
                        },
                        {
                            "type": "object",
                            "required": ["agent_ids"],
                            "properties": {"agent_ids": {"type": "array", "items": {"type": "integer"}}},
                        },
                    ),
                    "parameters": [TEAM_PATH],
                }
            },
            "/api/admin/teams/{team_id}": {
                "delete": {
                    **_op(
                        "Delete a team; its open handoffs go to the general queue (admins)",
                        {"204": "deleted", "403": "not an admin", "404": "no such team"},
                    ),
                    "parameters": [TEAM_PATH],
                }
            },
            conv: {
                "get": {
                    **_op(
                        "A conversation: handoff summary, details, transcript",
                        {"200": "the conversation", "401": "not signed in", "404": "no such conversation"},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            f"{conv}/claim": {
                "post": {
                    **_op(
                        "Claim a queued conversation (atomic)",
                        {"200": "claimed", "401": "not signed in", "409": "already claimed"},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            f"{conv}/release": {
                "post": {
                    **_op(
                        "Put a claimed conversation back in the queue",
                        {"200": "released", "403": "claimed by another agent", "409": "not claimed"},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            f"{conv}/resolve": {
                "post": {
                    **_op(
                        "Resolve; the bot owns the conversation again",
                        {"200": "resolved", "403": "claimed by another agent", "409": "not claimed"},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            f"{conv}/messages": {
                "get": {
                    **_op(
                        "The transcript page before ?before_seq=N (up to 500 messages; "
                        "`earlier` says whether there is more)",
                        {"200": "the page", "400": "no before_seq", "404": "no such conversation"},
                    ),
                    "parameters": [
                        CONVERSATION_PATH,
                        {"name": "before_seq", "in": "query", "required": True, "schema": {"type": "integer"}},
                    ],
                },
                "post": {
                    **_op(
                        "Reply to the customer",
                        {"201": "stored; returns its seq", "400": "empty", "403": "not yours", "413": "too long"},
                        {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                    ),
                    "parameters": [CONVERSATION_PATH],
                },
            },
            f"{conv}/notes": {
                "post": {
                    **_op(
                        "Add a private note: agents only, never sent to the customer, an email or the bot",
                        {
                            "201": "stored; returns its seq",
                            "400": "empty",
                            "404": "no such conversation",
                            "413": "too long",
                        },
                        {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            f"{conv}/transfer": {
                "post": {
                    **_op(
                        "Pass a conversation you own to another agent ({agent_id}), or back to a team's queue "
                        "({team_id}), with a note its next owner sees first (audited)",
                        {
                            "200": "transferred",
                            "400": "no agent_id, or yourself",
                            "403": "claimed by another agent",
                            "404": "no such conversation or active agent",
                            "409": "not claimed",
                            "413": "note too long",
                        },
                        {
                            "type": "object",
                            "properties": {
                                "agent_id": {"type": "integer"},
                                "team_id": {"type": "integer"},
                                "note": {"type": "string"},
                            },
                        },
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            "/api/agent/replies": {
                "get": _op("Saved replies: the shared ones and my own, by shortcut", {"200": "the replies"}),
                "post": _op(
                    "Save a reply (shared ones need the editor role)",
                    {
                        "201": "saved",
                        "400": "bad shortcut, title or body",
                        "403": "shared, and not an editor",
                        "409": "the shortcut is taken",
                        "413": "too long",
                    },
                    SAVED_REPLY_BODY,
                ),
            },
            "/api/agent/replies/{reply_id}": {
                "put": {
                    **_op(
                        "Change a saved reply (my own; a shared one as an editor)",
                        {
                            "200": "saved",
                            "400": "bad shortcut, title or body",
                            "403": "shared, and not an editor",
                            "404": "no such reply of mine",
                            "409": "the shortcut is taken",
                            "413": "too long",
                        },
                        SAVED_REPLY_BODY,
                    ),
                    "parameters": [REPLY_PATH],
                },
                "delete": {
                    **_op(
                        "Delete a saved reply (my own; a shared one as an editor)",
                        {"204": "deleted", "403": "shared, and not an editor", "404": "no such reply of mine"},
                    ),
                    "parameters": [REPLY_PATH],
                },
            },
            f"{conv}/suggestions": {
                "get": {
                    **_op(
                        "Up to three help-center passages for the customer's last messages (the bot's search "
                        "on the live index), each with its article's link; status ok, nothing_to_search or "
                        "no_index",
                        {"200": "the suggestions", "401": "not signed in", "404": "no such conversation"},
                    ),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            "/api/agent/articles": {
                "get": {
                    **_op(
                        "Help-center articles whose id, title, category or tags hold every word of q (up to "
                        "8), with their link and first passage: what 'insert the article' puts in a reply",
                        {"200": "the articles", "400": "no q, or too long", "401": "not signed in"},
                    ),
                    "parameters": [{"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}],
                }
            },
            "/api/agent/teams": {
                "get": _op(
                    "Every team's id and name (the search's team filter)", {"200": "the teams", "401": "not signed in"}
                )
            },
            "/api/agent/search": {
                "get": {
                    **_op(
                        "Search conversations: q is words of what customers and agents wrote (the last a "
                        "prefix), a customer's name, an email or the start of one; state, reason, team (an "
                        "id or none), from/to (YYYY-MM-DD, UTC: the day it started), limit (25, at most 100)",
                        {"200": "results, newest first", "400": "a malformed parameter", "401": "not signed in"},
                    ),
                    "parameters": [
                        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                        for name in ("q", "state", "reason", "team", "from", "to", "limit")
                    ],
                }
            },
            "/api/agent/agents": {
                "get": _op(
                    "Active agents (id, name, online), online first: whom a conversation can be passed to",
                    {"200": "the agents", "401": "not signed in"},
                )
            },
            f"{conv}/typing": {
                "post": {
                    **_op("Show the customer that the agent is typing", {"204": "sent"}),
                    "parameters": [CONVERSATION_PATH],
                }
            },
            "/api/agent/ws": {
                "get": _op(
                    "WebSocket of live inbox events (queue changes, customer messages, typing); "
                    "upgrade with the session cookie",
                    {"101": "switching protocols", "401": "not signed in"},
                )
            },
            "/api/openapi.json": {"get": _op("This document", {"200": "OpenAPI 3.1"}, auth=False)},
            "/health": {"get": _op("Liveness of the hub and its Rasa servers", {"200": "ok"}, auth=False)},
            "/health/hub": {
                "get": _op(
                    "Liveness of the hub alone (for load balancers), and whether it hears the other hubs",
                    {"200": "ok"},
                    auth=False,
                )
            },
            **_content_paths(),
            **_metrics_paths(),
            **_privacy_paths(),
            **_studio_paths(),
        },
        "components": {
            "securitySchemes": {
                "agentSession": {"type": "apiKey", "in": "cookie", "name": "kestrel_agent"},
                "contentToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "CONTENT_API_TOKEN, for content tools",
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                        }
                    },
                }
            },
        },
    }
