"""Apply Alembic migrations programmatically, serialised across replicas by an advisory lock."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x4C4D_0001  # advisory lock id: "LM" + 1


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str | None:
    """The newest migration shipped with this code (read from the scripts once per process)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


STORED_REVISIONS = "SELECT version_num FROM alembic_version"
"""The revisions a database is at, without Alembic's migration context (which logs two lines
each time it is configured: a readiness probe every few seconds would fill the log)."""


def _upgrade(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    """Bring the schema to ``target``; concurrent callers wait for the first one."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await conn.run_sync(_upgrade, target)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_current(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
