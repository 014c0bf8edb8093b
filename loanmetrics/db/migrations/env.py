"""Alembic environment: runs on the connection the application hands over (see db/migrate.py)."""

from __future__ import annotations

from alembic import context

from loanmetrics.db.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached by a bare `alembic` call
    raise RuntimeError("run migrations through `loanmetrics migrate`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
