"""The agent desk (issue #15): saved replies. Idempotent: a fresh database already has the table
from revision 0001's create_all."""

from __future__ import annotations

from alembic import op

revision = "0010_desk"
down_revision = "0008_email"  # the merge re-chains it after 0009
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import saved_replies

    saved_replies.create(op.get_bind(), checkfirst=True)  # with its index
