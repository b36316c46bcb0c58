"""What the store returns: frozen dataclasses, never rows (and how a row becomes one)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from handoff import contract
from handoff.ownership import State


def signed_by_the_website(metadata: dict[str, Any] | None) -> bool:
    """The conversation's metadata says the website signed the customer's email (handoff/identity.py)."""
    return (metadata or {}).get("verified") is True


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class EmailMarkers:
    """What happened to the email follow-up of a conversation (Unix times; None: not yet)."""

    emailed_at: float | None = None
    read_at: float | None = None
    replied_at: float | None = None
    bounced_at: float | None = None
    bounce_reason: str | None = None

    def to_json(self) -> dict[str, Any] | None:
        """The inbox's markers, or None when no email was ever involved."""
        if not any((self.emailed_at, self.replied_at, self.bounced_at)):
            return None
        return {
            "emailed_at": self.emailed_at,
            "read_at": self.read_at,
            "replied_at": self.replied_at,
            "bounced_at": self.bounced_at,
            "bounce_reason": self.bounce_reason,
        }


@dataclass(frozen=True)
class Conversation:
    id: str
    state: State
    last_seq: int
    customer_name: str | None
    customer_email: str | None
    metadata: dict[str, Any]
    created_at: float
    customer_seen_at: float | None = None
    email: EmailMarkers = field(default_factory=EmailMarkers)

    @property
    def customer_verified(self) -> bool:
        return signed_by_the_website(self.metadata)


def _email_markers(row: Any) -> EmailMarkers:
    return EmailMarkers(
        row.emailed_at, row.email_read_at, row.email_replied_at, row.email_bounced_at, row.email_bounce_reason
    )


@dataclass(frozen=True)
class OutboxMail:
    """One email in the outbox (handoff/mail/outbox.py); `message` is None until it is rendered."""

    id: int
    conversation_id: str | None
    kind: str  # reply | transcript | team
    recipient: str
    message: str | None
    status: str  # pending | sent | failed | skipped
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


def _outbox_mail(row: Any) -> OutboxMail:
    return OutboxMail(
        row.id,
        row.conversation_id,
        row.kind,
        row.recipient,
        row.message,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_error,
        row.created_at,
        row.sent_at,
    )


@dataclass(frozen=True)
class StoredMessage:
    conversation_id: str
    seq: int
    sender: str
    text: str
    payload: dict[str, Any] | None
    client_id: str | None
    created_at: float
    agent_name: str | None = None

    def to_frame(self) -> dict[str, Any]:
        """The customer wire contract's message frame."""
        payload = self.payload or {}
        return contract.message_frame(
            self.seq,
            self.sender,
            self.text,
            self.created_at,
            self.client_id,
            payload.get("buttons", []),
            payload.get("article"),
            self.agent_name,
            payload.get("via") if isinstance(payload.get("via"), str) else None,
        )


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    status: str
    reason: str
    priority: str
    headline: str
    summary: str
    details: dict[str, Any]
    agent_id: int | None
    queued_at: float
    claimed_at: float | None
    resolved_at: float | None

    def to_json(self, agent: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "priority": self.priority,
            "status": self.status,
            "headline": self.headline,
            "summary": self.summary,
            "details": self.details,
            "queued_at": self.queued_at,
            "claimed_at": self.claimed_at,
            "resolved_at": self.resolved_at,
            "agent": agent,
        }


#: What each role may do, from least to most: an agent works the inbox, an editor also edits
#: help-center articles, an admin also reads the content-gap report and every metric.
ROLES = ("agent", "editor", "admin")


@dataclass(frozen=True)
class Agent:
    id: int
    email: str
    name: str
    password_hash: str = field(repr=False)
    role: str = "agent"
    disabled: bool = False
    capacity: int | None = None  # open conversations at once under auto-assignment; None: the setting

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "role": self.role}

    def may(self, role: str) -> bool:
        """True when this agent's role is `role` or above it."""
        return ROLES.index(self.role if self.role in ROLES else "agent") >= ROLES.index(role)


def _agent(row: Any) -> Agent:
    return Agent(row.id, row.email, row.name, row.password_hash, row.role, row.disabled_at is not None, row.capacity)


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    return role


def _conversation(row: Any) -> Conversation:
    return Conversation(
        row.id,
        State(row.state),
        row.last_seq,
        row.customer_name,
        row.customer_email,
        dict(row.metadata_json or {}),
        row.created_at,
        row.customer_seen_at,
        _email_markers(row),
    )


def _handoff(row: Any) -> Handoff:
    return Handoff(
        row.id,
        row.conversation_id,
        row.status,
        row.reason,
        row.priority,
        row.headline,
        row.summary,
        dict(row.details or {}),
        row.agent_id,
        row.queued_at,
        row.claimed_at,
        row.resolved_at,
    )


@dataclass(frozen=True)
class QueuePlace:
    """Where a waiting conversation is in the queue (1-based; equal ones share a place), and why it waits."""

    position: int
    reason: str


@dataclass(frozen=True)
class QueueItem:
    """An open handoff as the inbox's queue shows it."""

    conversation_id: str
    handoff_id: int
    state: str  # "queued" | "agent"
    reason: str
    priority: str
    queued_at: float
    wait_seconds: float
    headline: str
    agent_id: int | None
    agent_name: str | None
    customer_name: str | None
    customer_email: str | None
    customer_verified: bool
    email: EmailMarkers = field(default_factory=EmailMarkers)
    team_id: int | None = None  # the team it was routed to; None: the general queue
    team_name: str | None = None
    first_response_at: float | None = None  # the first agent reply (the SLA's clock stops)
    claimed_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "team": {"id": self.team_id, "name": self.team_name} if self.team_id else None,
            "handoff_id": self.handoff_id,
            "state": self.state,
            "reason": self.reason,
            "priority": self.priority,
            "queued_at": self.queued_at,
            "first_response_at": self.first_response_at,
            "wait_seconds": self.wait_seconds,
            "headline": self.headline,
            "agent": {"id": self.agent_id, "name": self.agent_name} if self.agent_id else None,
            "customer": {"name": self.customer_name, "email": self.customer_email, "verified": self.customer_verified},
            "email": self.email.to_json(),
        }


@dataclass(frozen=True)
class Rating:
    score: int
    comment: str
    ces: int | None
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "comment": self.comment, "created_at": self.created_at}
