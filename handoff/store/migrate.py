"""The store's schema, upgraded by Alembic at every start (handoff/store/migrations/versions/).

Runs inside the transaction that opens the store, so a failed upgrade changes nothing. A
database made before Alembic (its versions recorded in `schema_migrations` by the hub's own
runner, 1 to 6) is adopted: stamped at the revision of its highest recorded version, then upgraded
like any other, so it keeps its data.

New revision: `alembic -c handoff/store/alembic.ini revision -m "what changes"`, then write its
`upgrade()` (Alembic's autogenerate needs a database; write the change by hand and test it on a
database from before it, as tests/unit/test_store_migrations.py does).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _config(connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def existing_columns(connection: sa.Connection, table: str) -> set[str]:
    """The columns `table` has now: revisions add a column only when it is missing (a database
    created at a later revision has it from the start)."""
    return {column["name"] for column in sa.inspect(connection).get_columns(table)}


def head() -> str:
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Bring the database at `connection` to the newest revision (adopting a pre-Alembic one)."""
    config = _config(connection)
    tables = set(sa.inspect(connection).get_table_names())
    if "schema_migrations" in tables and "alembic_version" not in tables:
        recorded = connection.execute(sa.text("SELECT MAX(version) FROM schema_migrations")).scalar()
        if recorded:
            command.stamp(config, f"{int(recorded):04d}")
    command.upgrade(config, "head")
