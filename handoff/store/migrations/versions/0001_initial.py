"""The tables (as the schema module describes them today; later revisions check before adding)."""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from handoff.store.schema import metadata

    metadata.create_all(op.get_bind())
