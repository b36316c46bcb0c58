"""The wire contracts, in one home: the frames the hub sends customers and agents, the handoff
payload (version 1) the bot's action sends the hub, and the table of handoff reasons.

Standard library only: the action server imports this module too (actions/handoff.py builds the
payload with it, the hub parses it with it), and the README's "customer wire contract" describes
what is written here. `FRAME_FIELDS` lists each frame's keys; tests check every frame the hub
sends against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HANDOFF_PAYLOAD_VERSION = 1

# --- handoff reasons -----------------------------------------------------------------------------


@dataclass(frozen=True)
class HandoffReason:
    code: str
    priority: str  # "high" | "normal"
    label: str


REASONS: dict[str, HandoffReason] = {
    r.code: r
    for r in (
        HandoffReason("customer_request", "normal", "Customer asked for a person"),
        HandoffReason("low_confidence", "normal", "Bot did not understand twice in a row"),
        HandoffReason("answer_rejected", "normal", "Customer rejected the bot's answers"),
        HandoffReason("frustration", "high", "Customer is frustrated"),
        HandoffReason("complaint", "normal", "Customer wants to make a complaint"),
        HandoffReason("sensitive_topic", "high", "Security matter (card, fraud, unrecognised payment)"),
        HandoffReason("kb_unavailable", "normal", "Help center unavailable"),
        HandoffReason("bot_unavailable", "normal", "Bot unavailable: the customer needs a person"),  # the hub's own
        HandoffReason("email_reply", "normal", "Customer replied by email"),  # the hub's own (handoff/mail)
    )
}
PRIORITIES = ("high", "normal", "low")


def reason(code: str) -> HandoffReason:
    return REASONS.get(code, HandoffReason(code, "normal", code.replace("_", " ").capitalize()))


# --- the handoff payload (bot → hub, in-band as {"custom": {"handoff": ...}}) --------------------


@dataclass(frozen=True)
class HandoffPayload:
    reason: str
    priority: str
    headline: str
    summary: str
    details: dict[str, str] = field(default_factory=dict)
    articles: list[dict[str, Any]] = field(default_factory=list)
    sentiment: float = 0.0
    version: int = HANDOFF_PAYLOAD_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "reason": self.reason,
            "priority": self.priority,
            "headline": self.headline,
            "summary": self.summary,
            "details": self.details,
            "articles": self.articles,
            "sentiment": round(self.sentiment, 3),
        }

    @classmethod
    def from_json(cls, raw: Any) -> HandoffPayload:
        """Read a payload that crossed a process boundary: every field checked and coerced, so a
        malformed one still queues the conversation (as a customer request) instead of failing."""
        raw = raw if isinstance(raw, dict) else {}
        details = raw.get("details") if isinstance(raw.get("details"), dict) else {}
        code = str(raw.get("reason") or "customer_request")[:40]
        priority = str(raw.get("priority") or reason(code).priority)
        sentiment = raw.get("sentiment")
        return cls(
            reason=code,
            priority=priority if priority in PRIORITIES else "normal",
            headline=str(raw.get("headline") or reason(code).label)[:300],
            summary=str(raw.get("summary") or ""),
            details={str(k)[:60]: str(v)[:500] for k, v in details.items()},
            articles=[a for a in raw.get("articles") or [] if isinstance(a, dict)][:10]
            if isinstance(raw.get("articles"), list)
            else [],
            sentiment=float(sentiment)
            if isinstance(sentiment, (int, float)) and not isinstance(sentiment, bool)
            else 0.0,
            version=raw.get("version") if isinstance(raw.get("version"), int) else HANDOFF_PAYLOAD_VERSION,
        )


# --- customer frames (hub → widget) ---------------------------------------------------------------

#: the sender of an agent's private note: a message frame with it goes to agents only, never to a
#: customer's socket, an email or Rasa (handoff/fanout.py drops one sent to a customer)
NOTE_SENDER = "note"


def message_frame(
    seq: int,
    sender: str,
    text: str,
    created_at: float,
    client_id: str | None = None,
    buttons: list[dict[str, str]] | None = None,
    article: dict[str, Any] | None = None,
    agent_name: str | None = None,
    via: str | None = None,
) -> dict[str, Any]:
    """`via`: "email" for a customer's reply that came by email (handoff/mail), else absent."""
    return {
        "type": "message",
        "seq": seq,
        "sender": sender,
        "text": text,
        "buttons": buttons or [],
        "article": article,
        "agent": {"name": agent_name} if agent_name else None,
        "client_id": client_id,
        "created_at": created_at,
        **({"via": via} if via else {}),
    }


def ready_frame(conversation_id: str, state: str, max_message_chars: int, ask_ces: bool) -> dict[str, Any]:
    """First frame after a good hello; it carries the limits the widget enforces as the customer types."""
    frame: dict[str, Any] = {
        "type": "ready",
        "conversation_id": conversation_id,
        "state": state,
        "limits": {"max_message_chars": max_message_chars},
    }
    if ask_ces:
        frame["ask_ces"] = True
    return frame


def state_frame(
    state: str,
    reason: str | None,
    position: int | None,
    eta_seconds: int | None,
    agents_online: int,
    agent_name: str | None,
    opens: str | None = None,
) -> dict[str, Any]:
    """`opens`: outside business hours, when a person is back, in words ("tomorrow at 9:00");
    `eta_seconds` then counts the closed hours until then."""
    return {
        "type": "state",
        "state": state,
        "reason": reason,
        "position": position,
        "eta_seconds": eta_seconds,
        "agents_online": agents_online,
        "agent": {"name": agent_name} if agent_name else None,
        **({"opens": opens} if opens else {}),
    }


def ack_frame(client_id: str, seq: int) -> dict[str, Any]:
    return {"type": "ack", "client_id": client_id, "seq": seq}


def typing_frame(sender: str) -> dict[str, Any]:
    return {"type": "typing", "sender": sender}


def rating_saved_frame(score: int, ces: int | None) -> dict[str, Any]:
    return {"type": "rating_saved", "score": score, **({"ces": ces} if ces is not None else {})}


def error_frame(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    """An error for the customer; with `client_id` when it refuses one of their messages."""
    return {"type": "error", "code": code, "message": message, **({"client_id": client_id} if client_id else {})}


def transcript_sent_frame(email: str | None) -> dict[str, Any]:
    """The answer to "Email me this conversation": where it goes, or None when there is no address."""
    return {"type": "transcript_sent", "email": email}


# --- agent frames (hub → inbox) ------------------------------------------------------------------


def agent_message_frame(conversation_id: str, message: dict[str, Any]) -> dict[str, Any]:
    return {**message, "conversation_id": conversation_id}


def is_private(frame: dict[str, Any]) -> bool:
    """A frame no customer may receive: a private note."""
    return frame.get("type") == "message" and frame.get("sender") == NOTE_SENDER


def queue_changed_frame() -> dict[str, Any]:
    return {"type": "queue_changed"}


def conversation_state_frame(conversation_id: str, state: str) -> dict[str, Any]:
    return {"type": "conversation_state", "conversation_id": conversation_id, "state": state}


def agents_online_frame(count: int) -> dict[str, Any]:
    return {"type": "agents_online", "count": count}


def email_status_frame(conversation_id: str, email: dict[str, Any] | None) -> dict[str, Any]:
    """A conversation's email markers changed (emailed, read, replied, bounced): the inbox redraws them."""
    return {"type": "email_status", "conversation_id": conversation_id, "email": email}


def pong_frame() -> dict[str, Any]:
    return {"type": "pong"}


#: every frame type and its keys (optional ones in the second set)
FRAME_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "message": (
        frozenset({"type", "seq", "sender", "text", "buttons", "article", "agent", "client_id", "created_at"}),
        frozenset({"conversation_id", "via"}),
    ),
    "ready": (frozenset({"type", "conversation_id", "state", "limits"}), frozenset({"ask_ces"})),
    "state": (
        frozenset({"type", "state", "reason", "position", "eta_seconds", "agents_online", "agent"}),
        frozenset({"opens"}),
    ),
    "ack": (frozenset({"type", "client_id", "seq"}), frozenset()),
    "typing": (frozenset({"type", "sender"}), frozenset({"conversation_id"})),
    "rating_saved": (frozenset({"type", "score"}), frozenset({"ces"})),
    "error": (frozenset({"type", "code", "message"}), frozenset({"client_id"})),
    "queue_changed": (frozenset({"type"}), frozenset()),
    "conversation_state": (frozenset({"type", "conversation_id", "state"}), frozenset()),
    "agents_online": (frozenset({"type", "count"}), frozenset()),
    "pong": (frozenset({"type"}), frozenset()),
    "transcript_sent": (frozenset({"type", "email"}), frozenset()),
    "email_status": (frozenset({"type", "conversation_id", "email"}), frozenset()),
}


def follows_contract(frame: dict[str, Any]) -> bool:
    """True when `frame` is a known frame type with exactly its required keys plus optional ones."""
    fields = FRAME_FIELDS.get(str(frame.get("type")))
    if fields is None:
        return False
    required, optional = fields
    return required <= frame.keys() <= required | optional
