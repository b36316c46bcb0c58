"""The hub's tables (SQLAlchemy Core) and the ordered migrations that create them.

Migrations run at start (`migrate`); each one is applied once and recorded in
`schema_migrations`, so an existing database is upgraded in place and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = sa.MetaData()

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("state", sa.String(16), nullable=False, server_default="bot"),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("customer_name", sa.String(200)),
    sa.Column("customer_email", sa.String(254)),
    sa.Column("metadata_json", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("sender", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("payload", sa.JSON),
    sa.Column("client_id", sa.String(64)),
    sa.Column("agent_id", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    # migration 6: a customer message is a bot turn until the relay has handled it (answered, or
    # passed by because a person owns the conversation); the hub resends unhandled ones at start.
    sa.Column("bot_text", sa.Text),  # what Rasa gets (typed text without leading slashes, a button payload)
    sa.Column("bot_pending", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_seq"),
    sa.UniqueConstraint("conversation_id", "client_id", name="uq_messages_client_id"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("name", sa.String(120), nullable=False),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("role", sa.String(16), nullable=False, server_default="agent"),  # migration 4
    sa.Column("disabled_at", sa.Float),  # migration 4: a disabled agent cannot sign in
)

agent_sessions = sa.Table(
    "agent_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

handoffs = sa.Table(
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | claimed | resolved
    sa.Column("reason", sa.String(40), nullable=False),
    sa.Column("priority", sa.String(10), nullable=False),
    sa.Column("priority_rank", sa.Integer, nullable=False),  # 0 high, 1 normal, 2 low
    sa.Column("headline", sa.String(300), nullable=False, server_default=""),
    sa.Column("summary", sa.Text, nullable=False, server_default=""),
    sa.Column("details", sa.JSON, nullable=False, server_default="{}"),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id")),
    sa.Column("queued_at", sa.Float, nullable=False),
    sa.Column("claimed_at", sa.Float),
    sa.Column("first_response_at", sa.Float),
    sa.Column("resolved_at", sa.Float),
)

ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("handoff_id", sa.Integer, sa.ForeignKey("handoffs.id")),
    sa.Column("score", sa.Integer, nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ces", sa.Integer),  # migration 3: "How easy was it to get help today?" 1..5, optional
)

article_feedback = sa.Table(
    "article_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("article_id", sa.String(100), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: one row per knowledge-base search: the question, its tier and best article (metrics, content gaps)
kb_queries = sa.Table(
    "kb_queries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("tier", sa.String(10), nullable=False),
    sa.Column("article_id", sa.String(100)),
    sa.Column("score", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
)

sa.Index("ix_handoffs_queue", handoffs.c.status, handoffs.c.priority_rank, handoffs.c.queued_at)
sa.Index("ix_handoffs_conversation", handoffs.c.conversation_id)
sa.Index("ix_messages_conversation_created", messages.c.conversation_id, messages.c.created_at)

schema_migrations = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)

Migration = Callable[[AsyncConnection], Awaitable[None]]


async def _columns(conn: AsyncConnection, table: str) -> set[str]:
    return set(await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns(table)}))


async def _v1_initial(conn: AsyncConnection) -> None:
    await conn.run_sync(metadata.create_all)


async def _v2_kb_queries(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda sync: kb_queries.create(sync, checkfirst=True))


# migration 3: ratings.ces (the optional customer-effort score)
async def _v3_ratings_ces(conn: AsyncConnection) -> None:
    """A database made by migration 1 before `ces` existed gains the column; a fresh one has it."""
    if "ces" not in await _columns(conn, "ratings"):
        await conn.execute(sa.text("ALTER TABLE ratings ADD COLUMN ces INTEGER"))


async def _v4_agent_roles(conn: AsyncConnection) -> None:
    """Agents gain a role and a disabled flag. Agents that existed before roles could edit
    articles, so they become admins and keep every right they had; new agents default to "agent"."""
    columns = await _columns(conn, "agents")
    if "role" not in columns:
        await conn.execute(sa.text("ALTER TABLE agents ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'agent'"))
        await conn.execute(sa.text("UPDATE agents SET role = 'admin'"))
    if "disabled_at" not in columns:
        await conn.execute(sa.text("ALTER TABLE agents ADD COLUMN disabled_at FLOAT"))


async def _v5_one_rating_per_handoff(conn: AsyncConnection) -> None:
    """At most one rating per handoff. Before this, a customer could send any number (one
    conversation held 500, all counted in CSAT): the first of each handoff is kept."""
    await conn.execute(
        sa.text(
            "DELETE FROM ratings WHERE handoff_id IS NOT NULL AND id NOT IN "
            "(SELECT MIN(id) FROM ratings WHERE handoff_id IS NOT NULL GROUP BY handoff_id)"
        )
    )
    await conn.execute(sa.text("CREATE UNIQUE INDEX IF NOT EXISTS uq_ratings_handoff ON ratings (handoff_id)"))


async def _v6_durable_bot_turns(conn: AsyncConnection) -> None:
    columns = await _columns(conn, "messages")
    if "bot_text" not in columns:
        await conn.execute(sa.text("ALTER TABLE messages ADD COLUMN bot_text TEXT"))
    if "bot_pending" not in columns:
        await conn.execute(sa.text("ALTER TABLE messages ADD COLUMN bot_pending BOOLEAN NOT NULL DEFAULT false"))
    await conn.execute(
        sa.text(
            "CREATE INDEX IF NOT EXISTS ix_messages_bot_pending ON messages (conversation_id, seq) WHERE bot_pending"
        )
    )


MIGRATIONS: list[tuple[int, Migration]] = [
    (1, _v1_initial),
    (2, _v2_kb_queries),
    (3, _v3_ratings_ces),
    (4, _v4_agent_roles),
    (5, _v5_one_rating_per_handoff),
    (6, _v6_durable_bot_turns),
]


async def migrate(conn: AsyncConnection, now: float) -> list[int]:
    """Apply every migration not yet recorded; return the versions applied."""
    await conn.run_sync(lambda sync: schema_migrations.create(sync, checkfirst=True))
    done = set((await conn.execute(sa.select(schema_migrations.c.version))).scalars())
    applied = []
    for version, step in MIGRATIONS:
        if version in done:
            continue
        await step(conn)
        await conn.execute(schema_migrations.insert().values(version=version, applied_at=now))
        applied.append(version)
    return applied
