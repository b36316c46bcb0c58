"""At most one rating per handoff. Before, a customer could send any number (one conversation held
500, all counted in CSAT): the first of each handoff is kept."""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM ratings WHERE handoff_id IS NOT NULL AND id NOT IN "
        "(SELECT MIN(id) FROM ratings WHERE handoff_id IS NOT NULL GROUP BY handoff_id)"
    )
    op.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_ratings_handoff ON ratings (handoff_id)")
