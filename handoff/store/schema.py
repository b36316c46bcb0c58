"""The hub's tables (SQLAlchemy Core). The revisions that create and change them in a database are
Alembic's, in migrations/versions/, run at every start (migrate.py)."""

from __future__ import annotations

import sqlalchemy as sa

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
    # migration 7: retention emptied it (texts, name, email, metadata gone; counts and times kept)
    sa.Column("anonymised_at", sa.Float),
    # migration 0007_email: when the customer last had the widget open (a socket closed or opened),
    # and what happened to the email follow-up, shown to agents as markers in the inbox
    sa.Column("customer_seen_at", sa.Float),
    sa.Column("emailed_at", sa.Float),  # the latest email to the customer was sent
    sa.Column("email_read_at", sa.Float),  # the customer opened its link after that
    sa.Column("email_replied_at", sa.Float),  # the customer answered by email
    sa.Column("email_bounced_at", sa.Float),  # the address refused the email (or the mail server did)
    sa.Column("email_bounce_reason", sa.String(300)),
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
    # migration 0011_desk_sla: open conversations at once under auto-assignment; NULL: HUB_AGENT_CAPACITY
    sa.Column("capacity", sa.Integer),
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
    # migration 7: first-contact resolution rolled up by retention before the email is emptied
    sa.Column("fcr_returned", sa.Boolean),
    # migration 0010_desk: the team it was routed to (handoff/routing.py); NULL: the general queue.
    # No foreign key: deleting a team sends its open handoffs to the general queue instead.
    sa.Column("team_id", sa.Integer),
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

#: migration 7: who read, exported, erased, claimed, released or resolved what (admins query it)
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(300), nullable=False),  # "agent 3 <alex@…>", "cli", "customer", "retention"
    sa.Column("agent_id", sa.Integer),  # no foreign key: the log outlives what it names
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("conversation_id", sa.String(40)),
    sa.Column("detail", sa.JSON, nullable=False, server_default="{}"),
)

#: migration 8 (studio): every published text of every article, in order per article. A save is
#: based on a revision number; the unique (article_id, number) refuses a second save of the same
#: base, so concurrent edits never overwrite each other. A deletion is a revision with deleted=true.
article_revisions = sa.Table(
    "article_revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.String(100), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False, server_default=""),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("message", sa.String(500), nullable=False, server_default=""),
    sa.Column("author", sa.String(300), nullable=False),  # "Alex <alex@…>", "outside the studio"
    sa.Column("agent_id", sa.Integer),  # no foreign key: history outlives accounts
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("article_id", "number", name="uq_article_revisions_number"),
)

#: migration 8 (studio): an agent's suggested edit, waiting for an editor to publish or dismiss it
article_suggestions = sa.Table(
    "article_suggestions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("article_id", sa.String(100), nullable=False),
    sa.Column("base_number", sa.Integer, nullable=False),
    sa.Column("markdown", sa.Text, nullable=False),
    sa.Column("message", sa.String(500), nullable=False, server_default=""),
    sa.Column("author", sa.String(300), nullable=False),
    sa.Column("agent_id", sa.Integer),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),  # open | published | dismissed
    sa.Column("closed_by", sa.String(300)),
)

#: migration 8 (studio): help-center page reads and "Was this helpful?" answers given on the page
#: (the widget's answers are in article_feedback, which belongs to a conversation)
help_page_stats = sa.Table(
    "help_page_stats",
    metadata,
    sa.Column("article_id", sa.String(100), primary_key=True),
    sa.Column("reads", sa.Integer, nullable=False, server_default="0"),
    sa.Column("helpful_yes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("helpful_no", sa.Integer, nullable=False, server_default="0"),
)

sa.Index("ix_audit_log_at", audit_log.c.at)
sa.Index("ix_audit_log_conversation", audit_log.c.conversation_id)
# retention walks only what it has not emptied yet (a plain index on updated_at would walk every
# emptied conversation again at each batch)
sa.Index(
    "ix_conversations_retention",
    conversations.c.updated_at,
    sqlite_where=conversations.c.anonymised_at.is_(None),
    postgresql_where=conversations.c.anonymised_at.is_(None),
)
# erasure and retention find a conversation's rows in each table by its id
sa.Index("ix_kb_queries_conversation", kb_queries.c.conversation_id)
sa.Index("ix_ratings_conversation", ratings.c.conversation_id)
sa.Index("ix_article_feedback_conversation", article_feedback.c.conversation_id)
sa.Index("ix_conversations_email", sa.func.lower(conversations.c.customer_email))
# migration 0011_desk_sla: the desk's search filters by the day a conversation started, newest first
# (its full-text index is dialect-specific: that revision and handoff/store/search.py)
sa.Index("ix_conversations_created", conversations.c.created_at)
#: migration 0007_email: email waiting to go out, sent, or given up on (handoff/mail/outbox.py)
mail_outbox = sa.Table(
    "mail_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id")),
    sa.Column("kind", sa.String(16), nullable=False),  # reply | transcript | team
    sa.Column("recipient", sa.String(254), nullable=False),
    sa.Column("message", sa.Text),  # the rendered RFC 5322 message; rendered when it is due
    sa.Column("status", sa.String(12), nullable=False),  # pending | sent | failed | skipped
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.String(300)),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("sent_at", sa.Float),
)

#: migration 0007_email: further keys to a conversation, minted when a customer opens a signed
#: link from an email (the widget's first key stays in conversations.token_hash)
conversation_tokens = sa.Table(
    "conversation_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("conversation_id", sa.String(40), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

#: migration 0010_desk: saved replies (canned responses) agents insert with a /shortcut; a shared
#: one (agent_id NULL) is everyone's and only editors and admins change it, a personal one is its
#: agent's alone
saved_replies = sa.Table(
    "saved_replies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("shortcut", sa.String(60), nullable=False),
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id")),  # NULL: shared
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_saved_replies_shortcut", saved_replies.c.shortcut)

#: migration 0010_desk: teams (Cards, Payments, Security) and their members; handoffs route to one
teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(60), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
team_members = sa.Table(
    "team_members",
    metadata,
    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), primary_key=True),
    sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id"), primary_key=True),
)

sa.Index("ix_mail_outbox_due", mail_outbox.c.status, mail_outbox.c.next_attempt_at)
sa.Index("ix_handoffs_queue", handoffs.c.status, handoffs.c.priority_rank, handoffs.c.queued_at)
sa.Index("ix_handoffs_conversation", handoffs.c.conversation_id)
sa.Index("ix_messages_conversation_created", messages.c.conversation_id, messages.c.created_at)
sa.Index("ix_article_suggestions_open", article_suggestions.c.status, article_suggestions.c.article_id)
# the studio counts the bot's answers per article over 30 days
sa.Index("ix_kb_queries_answers", kb_queries.c.tier, kb_queries.c.created_at, kb_queries.c.article_id)
sa.Index("ix_article_feedback_article", article_feedback.c.article_id, article_feedback.c.helpful)
