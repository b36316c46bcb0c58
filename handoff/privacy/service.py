"""Erasure and export of one customer across every store: the hub's tables and Rasa's tracker
store, each as one audited operation (used by `supportbot-privacy` and the admin API)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from handoff.privacy.rasa_tracker import RasaTrackerStore
from handoff.store import Agent, Store

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class BadSubject(ValueError):
    """Neither a well-formed email nor a conversation id; the message says what to give."""


@dataclass(frozen=True)
class Subject:
    """Whose data: a customer by email (every conversation with it), or one conversation."""

    email: str | None = None
    conversation_id: str | None = None

    @classmethod
    def parse(cls, email: Any = None, conversation_id: Any = None) -> Subject:
        if bool(email) == bool(conversation_id):
            raise BadSubject("Give either an email or a conversation id (one of them).")
        if email:
            if not isinstance(email, str) or not EMAIL.match(email.strip()):
                raise BadSubject("The email is not an email address.")
            return cls(email=email.strip().lower())
        if not isinstance(conversation_id, str) or not CONVERSATION_ID.match(conversation_id):
            raise BadSubject("The conversation id is 1 to 40 letters, digits, - or _.")
        return cls(conversation_id=conversation_id)

    def for_the_log(self) -> str:
        """How the audit log names the subject: an email is kept only as its first letter and
        domain (the log outlives the erasure it records)."""
        if self.email:
            local, _, domain = self.email.partition("@")
            return f"{local[:1]}***@{domain}"
        return f"conversation {self.conversation_id}"


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit log records them."""

    label: str
    agent_id: int | None = None

    @classmethod
    def of_agent(cls, agent: Agent) -> Actor:
        return cls(f"{agent.role} {agent.id} <{agent.email}>", agent.id)


@dataclass
class ErasureReport:
    subject: str
    conversations: list[str]
    removed: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "conversations": self.conversations, "removed": self.removed}


class Privacy:
    def __init__(self, store: Store, tracker: RasaTrackerStore) -> None:
        self.store = store
        self.tracker = tracker

    async def conversations_of(self, subject: Subject) -> list[str]:
        if subject.email:
            return await self.store.conversation_ids_for_email(subject.email)
        assert subject.conversation_id is not None
        return [subject.conversation_id]

    async def erase(self, subject: Subject, actor: Actor) -> ErasureReport:
        """Rasa's events first, then the hub's rows: if the tracker store cannot be reached,
        nothing is deleted and the error says so, and a re-run finds the same conversations.
        Re-running after a success removes nothing and reports zeros."""
        ids = await self.conversations_of(subject)
        report = ErasureReport(subject.for_the_log(), ids)
        report.removed["rasa_events"] = await self.tracker.delete_conversations(ids)
        existing = await self.store.existing_conversation_ids(ids)
        report.removed.update(await self.store.erase_conversations(sorted(existing)))
        await self.store.audit(
            actor.label,
            "erase",
            subject.conversation_id,
            {"subject": report.subject, "conversations": ids, "removed": report.removed},
            agent_id=actor.agent_id,
        )
        return report

    async def export(self, subject: Subject, actor: Actor) -> dict[str, Any]:
        """One JSON document with everything held about the subject (an access request)."""
        ids = await self.conversations_of(subject)
        conversations = await self.store.export_conversations(ids)
        for conversation in conversations:
            conversation["bot_memory"] = await self.tracker.export_conversation(conversation["id"])
        await self.store.audit(
            actor.label,
            "export",
            subject.conversation_id,
            {"subject": subject.for_the_log(), "conversations": [c["id"] for c in conversations]},
            agent_id=actor.agent_id,
        )
        return {
            "subject": {"email": subject.email} if subject.email else {"conversation_id": subject.conversation_id},
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "what_this_is": (
                "Everything this support service holds about you: each conversation's messages, the "
                "details you gave, the handoffs to our team, your ratings and article feedback, and "
                "what the assistant remembered (bot_memory)."
            ),
            "conversations": conversations,
        }
