"""Privacy: the audit log, retention's mark and first-contact roll-up, and the indexes retention
and erasure search by."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0007_privacy"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import audit_log

    audit_log.create(op.get_bind(), checkfirst=True)
    if "anonymised_at" not in existing_columns(op.get_bind(), "conversations"):
        op.execute("ALTER TABLE conversations ADD COLUMN anonymised_at FLOAT")
    if "fcr_returned" not in existing_columns(op.get_bind(), "handoffs"):
        op.execute("ALTER TABLE handoffs ADD COLUMN fcr_returned BOOLEAN")
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_conversations_retention ON conversations (updated_at) "
        "WHERE anonymised_at IS NULL"
    )
    for table in ("kb_queries", "ratings", "article_feedback"):
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_conversation ON {table} (conversation_id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_conversations_email ON conversations (lower(customer_email))")
