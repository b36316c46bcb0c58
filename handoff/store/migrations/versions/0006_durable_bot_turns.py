"""A customer message is a pending bot turn until the relay handled it (resent after a crash)."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = existing_columns(op.get_bind(), "messages")
    if "bot_text" not in existing:
        op.execute("ALTER TABLE messages ADD COLUMN bot_text TEXT")
    if "bot_pending" not in existing:
        op.execute("ALTER TABLE messages ADD COLUMN bot_pending BOOLEAN NOT NULL DEFAULT false")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_messages_bot_pending ON messages (conversation_id, seq) WHERE bot_pending"
    )
