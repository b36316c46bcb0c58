"""The hub's store: conversations, messages, handoffs, agents, ratings (SQLite or PostgreSQL).

One module per aggregate (`conversations`, `queue`, `feedback`, `bot_turns`, `mail`, `agents`, `metrics_queries`,
`privacy`, `audit`, `revisions`, `replies`, `teams`, `search`) on
one `db`, joined into `Store`; what it returns are frozen dataclasses (`records`). Every ownership
change is one transaction with a conditional UPDATE whose row count is checked, so two agents
never claim the same conversation and the bot never answers while a person owns it. The schema
and its ordered migrations are in `schema`.
"""

from __future__ import annotations

from handoff.store import schema
from handoff.store.agents import AgentStore
from handoff.store.audit import AUDIT_ACTIONS, AuditEntry, AuditStore
from handoff.store.bot_turns import BotTurnStore, KbQuery, TurnOutcome
from handoff.store.errors import AlreadyClaimed, Conflict, NotFound, NotYours, RatingRefused, StoreError
from handoff.store.mail import MailStore
from handoff.store.metrics_queries import MetricsQueries
from handoff.store.privacy import PrivacyStore
from handoff.store.records import (
    ROLES,
    Agent,
    Conversation,
    EmailMarkers,
    Handoff,
    OutboxMail,
    QueueItem,
    QueuePlace,
    Rating,
    StoredMessage,
    hash_token,
)
from handoff.store.replies import SHORTCUT, ReplyStore, SavedReply
from handoff.store.revisions import EditConflict, Revision, RevisionStore, Suggestion
from handoff.store.search import SearchHit, SearchQuery, SearchStore
from handoff.store.teams import Team, TeamStore

__all__ = [
    "AUDIT_ACTIONS",
    "ROLES",
    "SHORTCUT",
    "Agent",
    "AlreadyClaimed",
    "AuditEntry",
    "Conflict",
    "Conversation",
    "EditConflict",
    "EmailMarkers",
    "Handoff",
    "KbQuery",
    "NotFound",
    "NotYours",
    "OutboxMail",
    "QueueItem",
    "QueuePlace",
    "Rating",
    "RatingRefused",
    "Revision",
    "SavedReply",
    "SearchHit",
    "SearchQuery",
    "Store",
    "StoreError",
    "StoredMessage",
    "Suggestion",
    "Team",
    "TurnOutcome",
    "hash_token",
    "schema",
]


class Store(
    BotTurnStore,
    MailStore,
    AgentStore,
    MetricsQueries,
    PrivacyStore,
    AuditStore,
    RevisionStore,
    ReplyStore,
    TeamStore,
    SearchStore,
):
    """Every aggregate on one database: `store = await Store.open(url)`."""
