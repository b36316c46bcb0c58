"""ratings.ces: the optional customer-effort score (a fresh database has it already)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    if "ces" not in columns("ratings"):
        op.execute("ALTER TABLE ratings ADD COLUMN ces INTEGER")
