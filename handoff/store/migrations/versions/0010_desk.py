"""The agent desk (issue #15): saved replies, teams and their members, and the team a handoff is
routed to. Idempotent: a fresh database already has them from revision 0001's create_all."""

from __future__ import annotations

from alembic import op

from handoff.store.migrate import existing_columns

revision = "0010_desk"
down_revision = "0009_studio"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import saved_replies, team_members, teams

    bind = op.get_bind()
    saved_replies.create(bind, checkfirst=True)  # with its index
    teams.create(bind, checkfirst=True)
    team_members.create(bind, checkfirst=True)
    if "team_id" not in existing_columns(bind, "handoffs"):
        op.execute("ALTER TABLE handoffs ADD COLUMN team_id INTEGER")
