"""One row per knowledge-base search: the question, its tier and best article."""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import kb_queries

    kb_queries.create(op.get_bind(), checkfirst=True)
