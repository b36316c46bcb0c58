"""Email follow-up: the outbox, further conversation keys (signed links), and the email markers
on conversations (a fresh database has them all from revision 0001's create_all)."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0008_email"
down_revision = "0007_privacy"
branch_labels = None
depends_on = None

CONVERSATION_COLUMNS = {
    "customer_seen_at": "FLOAT",
    "emailed_at": "FLOAT",
    "email_read_at": "FLOAT",
    "email_replied_at": "FLOAT",
    "email_bounced_at": "FLOAT",
    "email_bounce_reason": "VARCHAR(300)",
}


def upgrade() -> None:
    from handoff.store.schema import conversation_tokens, mail_outbox

    bind = op.get_bind()
    existing = existing_columns(bind, "conversations")
    for name, kind in CONVERSATION_COLUMNS.items():
        if name not in existing:
            op.execute(f"ALTER TABLE conversations ADD COLUMN {name} {kind}")
    mail_outbox.create(bind, checkfirst=True)  # with its index
    conversation_tokens.create(bind, checkfirst=True)
