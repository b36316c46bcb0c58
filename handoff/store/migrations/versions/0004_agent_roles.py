"""Agents gain a role and a disabled flag. Agents from before roles could edit articles, so they
become admins and keep every right they had; new agents default to "agent"."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    existing = existing_columns(op.get_bind(), "agents")
    if "role" not in existing:
        op.execute("ALTER TABLE agents ADD COLUMN role VARCHAR(16) NOT NULL DEFAULT 'agent'")
        op.execute("UPDATE agents SET role = 'admin'")
    if "disabled_at" not in existing:
        op.execute("ALTER TABLE agents ADD COLUMN disabled_at FLOAT")
