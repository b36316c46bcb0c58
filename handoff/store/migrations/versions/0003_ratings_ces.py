"""ratings.ces: the optional customer-effort score (a fresh database has it already)."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "ces" not in existing_columns(op.get_bind(), "ratings"):
        op.execute("ALTER TABLE ratings ADD COLUMN ces INTEGER")
