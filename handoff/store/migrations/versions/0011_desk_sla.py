"""The agent desk's search (issue #15): a full-text index of what customers and agents wrote, and
an index on when conversations started (the search's date filter and its newest-first order).

SQLite: an FTS5 table over `messages` (external content, rowid = messages.id) kept in step by
triggers, so retention's emptied text and erasure's deleted rows leave the index too; only the
senders `search.SEARCHED_SENDERS` are indexed (a bot's help-center passages would match every
question). PostgreSQL: a generated tsvector column on `messages` (the same senders, 'simple'
configuration: no stemming, like FTS5's unicode61, and split at every character that is not a
letter or a digit, as FTS5 splits) with a GIN index; retention's empty text makes
it empty, erasure deletes it with its row; and the same for the customer's name on `conversations`
(SQLite scans the names instead: 25 ms at 100,000 conversations).

The SLA (first-response targets per priority) needs no column: it is computed from
`handoffs.queued_at` and `first_response_at`. Auto-assignment adds `agents.capacity` (open
conversations at once; NULL: the setting's default). Idempotent, like every revision here.
"""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns
from handoff.store.search import FTS_TABLE, SEARCHED_SENDERS

revision = "0011_desk_sla"
down_revision = "0010_desk"
branch_labels = None
depends_on = None

_SENDERS = ", ".join(f"'{sender}'" for sender in SEARCHED_SENDERS)
#: PostgreSQL's parser keeps "-12345678" (of "TX-12345678") as a signed number and an email as one
#: token; FTS5 splits both at every character that is not a letter or a digit. The same here, so a
#: reference or an address is found the same way in both stores.
_WORDS_ONLY = "regexp_replace({}, '[^[:alnum:]]+', ' ', 'g')"


def _sqlite() -> None:
    bind = op.get_bind()
    exists = bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)).first()
    if exists:
        return
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, content='messages', content_rowid='id', "
        "tokenize='unicode61 remove_diacritics 2')"
    )
    # An external-content index must be told the exact old text of every row it indexed, and only
    # of those: each trigger has the same sender condition. UPDATE OF text: retention's emptying
    # fires it, the frequent bot_pending updates do not.
    op.execute(
        f"CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages WHEN new.sender IN ({_SENDERS}) "
        f"BEGIN INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END"
    )
    op.execute(
        f"CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON messages WHEN old.sender IN ({_SENDERS}) "
        f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END"
    )
    op.execute(
        f"CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF text ON messages WHEN old.sender IN ({_SENDERS}) "
        f"BEGIN INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
        f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END"
    )
    # Not 'rebuild': that would index every sender's rows, which the delete trigger never removes.
    # Every row of those senders, empty ones too, exactly as the insert trigger adds them.
    op.execute(f"INSERT INTO {FTS_TABLE}(rowid, text) SELECT id, text FROM messages WHERE sender IN ({_SENDERS})")


def _postgresql() -> None:
    op.execute(
        "ALTER TABLE messages ADD COLUMN IF NOT EXISTS search_vector tsvector GENERATED ALWAYS AS "
        f"(CASE WHEN sender IN ({_SENDERS}) THEN to_tsvector('simple', {_WORDS_ONLY.format('text')}) END) STORED"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_messages_search ON messages USING gin (search_vector)")
    # the customer's name by its words too: scanning 100,000 names with ILIKE took 40 ms here
    name_words = _WORDS_ONLY.format("coalesce(customer_name, '')")
    op.execute(
        "ALTER TABLE conversations ADD COLUMN IF NOT EXISTS name_vector tsvector GENERATED ALWAYS AS "
        f"(to_tsvector('simple', {name_words})) STORED"
    )
    op.execute("CREATE INDEX IF NOT EXISTS ix_conversations_name_search ON conversations USING gin (name_vector)")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite()
    else:
        _postgresql()
    op.execute("CREATE INDEX IF NOT EXISTS ix_conversations_created ON conversations (created_at)")
    if "capacity" not in existing_columns(op.get_bind(), "agents"):
        op.execute("ALTER TABLE agents ADD COLUMN capacity INTEGER")
