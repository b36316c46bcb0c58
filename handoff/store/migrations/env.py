"""Alembic's environment for the hub's store. The hub runs it itself at start (handoff/store/migrate.py)
with the connection of its open transaction, passed in `config.attributes["connection"]`."""

from __future__ import annotations

from alembic import context

from handoff.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
