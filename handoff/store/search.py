"""Searching conversations for the agent desk: by the customer's email or name, by words of what
customers and agents wrote (a transaction reference is such words: "TX-12345678" is "tx" and
"12345678"), narrowed by state, handoff reason, team and the day a conversation started.

The words are found with each store's own full-text index (revision 0011_desk_sla): SQLite FTS5
over `messages`, PostgreSQL a tsvector column with a GIN index; both without stemming, so the two
stores find the same conversations. Every word must be in one message; the last word is a prefix
("refu" finds "refund"), so the inbox can search while the agent types. Only customers', agents'
and notes' text is indexed (the bot's passages would match every question); private notes are
searchable because only agents search. Retention empties the text and erasure deletes the rows,
which empties the index with them (triggers on SQLite, a generated column on PostgreSQL).

Newest first: message matches by the newest matching message, the rest by when the conversation
started.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from handoff.contract import NOTE_SENDER
from handoff.store import schema as T
from handoff.store.db import Database

#: the senders whose text is indexed (and so found by words)
SEARCHED_SENDERS = ("customer", "agent", NOTE_SENDER)
#: SQLite's FTS5 table over messages (revision 0011_desk_sla)
FTS_TABLE = "messages_fts"
#: words of a query that count (more are ignored: a search is a few words, not a paragraph)
MAX_WORDS = 8
#: message rows read per result wanted: a conversation with several matching messages takes
#: several rows. Each row read costs on PostgreSQL, which walks messages newest first when a
#: common word is narrowed by a filter (5 per result: p95 over 300 ms at 100,000 conversations)
ROWS_PER_RESULT = 2
#: results per search: the newest ones; filters narrow the rest
DEFAULT_RESULTS = 25
SNIPPET_CHARS = 160
_WORD = re.compile(r"[^\W_]+")


def query_words(text: str) -> list[str]:
    """The letters-and-digits words of a query, lowercase, at most MAX_WORDS."""
    return _WORD.findall(text.lower())[:MAX_WORDS]


@dataclass(frozen=True)
class SearchQuery:
    """What the agent asked for; every part is optional (nothing at all: the newest conversations)."""

    text: str = ""
    state: str | None = None
    reason: str | None = None
    team_id: int | None = None
    general_queue: bool = False  # only conversations routed to no team
    started_from: float | None = None  # created_at >= this
    started_before: float | None = None  # created_at < this
    limit: int = DEFAULT_RESULTS


@dataclass(frozen=True)
class SearchHit:
    conversation_id: str
    state: str
    created_at: float
    updated_at: float
    customer_name: str | None
    customer_email: str | None
    matched: str  # "email" | "name" | "message" | "filters"
    snippet: str
    snippet_seq: int | None
    handoff: dict[str, Any] | None  # the latest handoff: reason, priority, status, team

    def to_json(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id,
            "state": self.state,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "customer": {"name": self.customer_name, "email": self.customer_email},
            "matched": self.matched,
            "snippet": self.snippet,
            "snippet_seq": self.snippet_seq,
            "handoff": self.handoff,
        }


def snippet(text: str, words: Sequence[str]) -> str:
    """Up to SNIPPET_CHARS of `text` around the first of `words` it contains."""
    lowered = text.lower()
    found = [i for i in (lowered.find(w) for w in words) if i >= 0]
    start = max(0, min(found) - SNIPPET_CHARS // 3) if found else 0
    cut = text[start : start + SNIPPET_CHARS].strip()
    return ("…" if start else "") + cut + ("…" if start + SNIPPET_CHARS < len(text) else "")


def _conversation_filters(query: SearchQuery) -> list[Any]:
    c, h = T.conversations, T.handoffs
    where: list[Any] = []
    if query.state:
        where.append(c.c.state == query.state)
    if query.started_from is not None:
        where.append(c.c.created_at >= query.started_from)
    if query.started_before is not None:
        where.append(c.c.created_at < query.started_before)
    handoff_where: list[Any] = []
    if query.reason:
        handoff_where.append(h.c.reason == query.reason)
    if query.team_id is not None:
        handoff_where.append(h.c.team_id == query.team_id)
    elif query.general_queue:
        handoff_where.append(h.c.team_id.is_(None))
    if handoff_where:
        where.append(sa.exists().where(h.c.conversation_id == c.c.id, *handoff_where))
    return where


def _like_escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SearchStore(Database):
    async def search_conversations(self, query: SearchQuery) -> list[SearchHit]:
        """Conversations matching `query`, at most `query.limit`: email matches first, then name
        matches, then message matches (newest message first); with no text, the newest
        conversations that pass the filters."""
        c = T.conversations
        filters = _conversation_filters(query)
        words = query_words(query.text)
        email = query.text.strip().lower() if "@" in query.text else ""
        found: dict[str, tuple[str, str, int | None]] = {}  # id -> (matched, snippet, seq)

        def take(ids: Sequence[str], matched: str) -> None:
            for conversation_id in ids:
                if len(found) < query.limit:
                    found.setdefault(conversation_id, (matched, "", None))

        async with self.read() as conn:
            if not words and not email:
                rows = await conn.execute(
                    sa.select(c.c.id).where(*filters).order_by(c.c.created_at.desc()).limit(query.limit)
                )
                take([r.id for r in rows], "filters")
            if email:
                lowered = sa.func.lower(c.c.customer_email)
                rows = await conn.execute(
                    sa.select(c.c.id)
                    .where(lowered >= email, lowered < email + "\uffff", *filters)
                    .order_by(c.c.created_at.desc())
                    .limit(query.limit)
                )
                take([r.id for r in rows], "email")
            if words and not email and not any(w.isdigit() for w in words):  # a reference is no name
                rows = await conn.execute(
                    sa.select(c.c.id)
                    .where(self._name_matches(words), *filters)
                    # + 0: SQLite would walk the date index and read the table row by row (0.4 s at
                    # 100,000 conversations); one scan of the table and a sort is 25 ms
                    .order_by((c.c.created_at + 0).desc())
                    .limit(query.limit)
                )
                take([r.id for r in rows], "name")
            if words and len(found) < query.limit:
                matches = await conn.execute(self._message_matches(words, filters, query.limit * ROWS_PER_RESULT))
                for conversation_id, seq, text in matches:
                    if len(found) >= query.limit:
                        break
                    if conversation_id not in found:
                        found[conversation_id] = ("message", snippet(text, words), seq)
            return await self._hits(conn, found)

    def _name_matches(self, words: list[str]) -> Any:
        """The customer's name holds every word (the last may be unfinished): SQLite scans the names
        (any part of the name), PostgreSQL uses the name's tsvector (the start of a word)."""
        if self.is_sqlite:
            name = sa.func.lower(T.conversations.c.customer_name)
            return sa.and_(*(name.like(f"%{_like_escaped(w)}%", escape="\\") for w in words))
        return sa.literal_column("conversations.name_vector").op("@@")(
            sa.func.to_tsquery(sa.literal_column("'simple'"), " & ".join(f"{w}:*" for w in words))
        )

    def _message_matches(self, words: list[str], filters: list[Any], rows: int) -> Any:
        """The query of (conversation, seq, text) of the newest messages containing every word (the last as a
        prefix), in conversations passing `filters`."""
        m, c = T.messages, T.conversations
        columns = (m.c.conversation_id, m.c.seq, m.c.text)
        if self.is_sqlite:
            fts = sa.table(FTS_TABLE, sa.column("rowid"))
            expression = " ".join(f'"{w}"' for w in words[:-1]) + f' "{words[-1]}"*'
            query = (
                sa.select(*columns)
                .select_from(fts.join(m, m.c.id == fts.c.rowid).join(c, c.c.id == m.c.conversation_id))
                .where(sa.text(f"{FTS_TABLE} MATCH :fts").bindparams(fts=expression.strip()), *filters)
                .order_by(fts.c.rowid.desc())
            )
        else:
            tsquery = " & ".join([*words[:-1], f"{words[-1]}:*"])
            matches = sa.literal_column("messages.search_vector").op("@@")(
                sa.func.to_tsquery(sa.literal_column("'simple'"), tsquery)
            )
            query = (
                sa.select(*columns)
                .select_from(m.join(c, c.c.id == m.c.conversation_id))
                .where(matches, *filters)
                .order_by(m.c.id.desc())
            )
        return query.limit(rows)

    @staticmethod
    async def _hits(conn: Any, found: dict[str, tuple[str, str, int | None]]) -> list[SearchHit]:
        """The hits in `found`'s order, with each conversation's latest handoff."""
        if not found:
            return []
        c, h = T.conversations, T.handoffs
        ids = list(found)
        conversations = {
            r.id: r
            for r in await conn.execute(
                sa.select(
                    c.c.id, c.c.state, c.c.created_at, c.c.updated_at, c.c.customer_name, c.c.customer_email
                ).where(c.c.id.in_(ids))
            )
        }
        latest: dict[str, Any] = {}
        for r in await conn.execute(
            sa.select(h.c.id, h.c.conversation_id, h.c.reason, h.c.priority, h.c.status, h.c.team_id, T.teams.c.name)
            .select_from(h.outerjoin(T.teams, T.teams.c.id == h.c.team_id))
            .where(h.c.conversation_id.in_(ids))
            .order_by(h.c.id)
        ):
            latest[r.conversation_id] = r
        hits = []
        for conversation_id, (matched, text, seq) in found.items():
            row = conversations.get(conversation_id)
            if row is None:  # erased meanwhile
                continue
            handoff = latest.get(conversation_id)
            hits.append(
                SearchHit(
                    conversation_id,
                    row.state,
                    row.created_at,
                    row.updated_at,
                    row.customer_name,
                    row.customer_email,
                    matched,
                    text,
                    seq,
                    {
                        "reason": handoff.reason,
                        "priority": handoff.priority,
                        "status": handoff.status,
                        "team": {"id": handoff.team_id, "name": handoff.name} if handoff.team_id else None,
                    }
                    if handoff
                    else None,
                )
            )
        return hits
