"""The OpenAPI 3.1 description of the hub's HTTP API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, responses: dict[str, str], body: dict[str, Any] | None = None, auth: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {code: {"description": text, **({"content": {"application/json": {"schema": ERROR}}}
                                                     if code[0] in "45" else {})}
                      for code, text in responses.items()},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if auth:
        op["security"] = [{"agentSession": []}]
    return op


CONVERSATION_PATH = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}


def openapi_document() -> dict[str, Any]:
    conv = "/api/agent/conversations/{conversation_id}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Kestrel support hub", "version": "1",
                 "description": "Customer gateway (WebSocket /ws, see README 'Customer wire contract') and agent inbox API."},
        "paths": {
            "/api/conversations": {"post": _op(
                "Start a conversation; returns its id and the customer's token",
                {"201": "created", "400": "malformed body", "403": "origin not allowed"},
                {"type": "object", "properties": {"metadata": {"type": "object", "properties": {
                    "name": {"type": "string"}, "email": {"type": "string", "format": "email"}}}}},
                auth=False)},
            "/api/agent/login": {"post": _op("Sign in; sets the HttpOnly session cookie",
                                             {"200": "signed in", "400": "malformed", "401": "wrong email or password"},
                                             {"type": "object", "required": ["email", "password"], "properties": {
                                                 "email": {"type": "string"}, "password": {"type": "string"}}}, auth=False)},
            "/api/agent/logout": {"post": _op("Sign out", {"200": "signed out"}, auth=False)},
            "/api/agent/me": {"get": _op("The signed-in agent", {"200": "the agent", "401": "not signed in"})},
            "/api/agent/queue": {"get": _op("Open handoffs: queued by priority then age, then claimed",
                                            {"200": "the queue", "401": "not signed in"})},
            conv: {"get": {**_op("A conversation: handoff summary, details, transcript",
                                 {"200": "the conversation", "401": "not signed in", "404": "no such conversation"}),
                           "parameters": [CONVERSATION_PATH]}},
            f"{conv}/claim": {"post": {**_op("Claim a queued conversation (atomic)",
                                             {"200": "claimed", "401": "not signed in", "409": "already claimed"}),
                                       "parameters": [CONVERSATION_PATH]}},
            f"{conv}/release": {"post": {**_op("Put a claimed conversation back in the queue",
                                               {"200": "released", "403": "claimed by another agent", "409": "not claimed"}),
                                         "parameters": [CONVERSATION_PATH]}},
            f"{conv}/resolve": {"post": {**_op("Resolve; the bot owns the conversation again",
                                               {"200": "resolved", "403": "claimed by another agent", "409": "not claimed"}),
                                         "parameters": [CONVERSATION_PATH]}},
            f"{conv}/messages": {"post": {**_op("Reply to the customer", {"201": "stored; returns its seq",
                                                                          "400": "empty", "403": "not yours", "413": "too long"},
                                                {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}),
                                          "parameters": [CONVERSATION_PATH]}},
            f"{conv}/typing": {"post": {**_op("Show the customer that the agent is typing", {"204": "sent"}),
                                        "parameters": [CONVERSATION_PATH]}},
            "/health": {"get": _op("Liveness of the hub and its Rasa servers", {"200": "ok"}, auth=False)},
        },
        "components": {
            "securitySchemes": {"agentSession": {"type": "apiKey", "in": "cookie", "name": "kestrel_agent"}},
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}}},
        },
    }
