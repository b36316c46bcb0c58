"""Content studio: article revisions, agents' suggested edits, help-page reads and helpfulness,
and the indexes the studio's article list counts by. Idempotent: 0001 creates every table of
schema.metadata on a fresh database."""

from __future__ import annotations

from alembic import op

revision = "0009_studio"
down_revision = "0008_email"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import article_revisions, article_suggestions, help_page_stats

    for table in (article_revisions, article_suggestions, help_page_stats):
        table.create(op.get_bind(), checkfirst=True)
    op.execute("CREATE INDEX IF NOT EXISTS ix_article_suggestions_open ON article_suggestions (status, article_id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_kb_queries_answers ON kb_queries (tier, created_at, article_id)")
    op.execute("CREATE INDEX IF NOT EXISTS ix_article_feedback_article ON article_feedback (article_id, helpful)")
