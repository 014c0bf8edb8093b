"""The schema's upgrade: Alembic migrations, then the versioned SQL files of ``db/sql/``, in one
transaction serialised across replicas by an advisory lock.

Tables, indexes and data changes are Alembic migrations (``db/migrations/versions``). The SQL
functions (``lm_*``) are replaceable objects: each file of ``db/sql/`` (applied in name order)
creates or replaces them, and ``applied_sql_files`` records the SHA-256 of the version each file
was applied at, so an unchanged file costs nothing and a changed one is applied again. Files run
after the migrations: a migration must not rely on an ``lm_*`` function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQL_DIR = Path(__file__).parent / "sql"
MIGRATION_LOCK_KEY = 0x4C4D_0001  # advisory lock id: "LM" + 1

SQUASHED_REVISIONS = frozenset(f"{number:04d}" for number in range(1, 14))
"""The revision ids of the development migrations 0001-0013, squashed into ``0001_baseline``
before the first release. A later migration's id is its file name's stem (``0002_...``), so none
can be mistaken for one of these."""


class SquashedSchemaError(Exception):
    """The database was made by a development build whose migrations no longer exist: it cannot
    be upgraded, only replaced (``failures.squashed_schema`` says so in one line)."""

    def __init__(self, revision: str) -> None:
        super().__init__(f"the database holds the schema of a development build (migration {revision}), "
                         "squashed into the first release's baseline: it cannot be upgraded")
        self.revision = revision


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revision() -> str | None:
    """The newest migration shipped with this code (read from the scripts once per process)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True)
class SqlFile:
    name: str
    text: str
    sha256: str


@cache
def sql_files() -> tuple[SqlFile, ...]:
    """The versioned SQL files shipped with this code, in the order they apply (read once)."""
    files = []
    for path in sorted(SQL_DIR.glob("*.sql")):
        content = path.read_bytes()
        files.append(SqlFile(path.name, content.decode(), hashlib.sha256(content).hexdigest()))
    return tuple(files)


STATE_SQL = """
SELECT (SELECT coalesce(array_agg(version_num), '{}') FROM alembic_version) AS revisions,
       (SELECT coalesce(array_agg(file || ':' || sha256), '{}') FROM applied_sql_files) AS sql_files
"""
"""What a database holds: its revisions and the SQL-file versions it applied, in one statement and
without Alembic's migration context (which logs two lines each time it is configured: a readiness
probe every few seconds would fill the log). Raises UndefinedTableError on a database never
migrated, or made before ``applied_sql_files`` existed."""


def is_current_state(revisions: list[str], applied: list[str]) -> bool:
    """Whether a database with these ``STATE_SQL`` values needs nothing ``upgrade`` would do: its
    revision is this code's head and every shipped SQL file is applied at its current version."""
    expected = {f"{file.name}:{file.sha256}" for file in sql_files()}
    return revisions == [head_revision()] and expected <= set(applied)


def _upgrade(connection: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, target)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def stored_revision(conn: AsyncConnection) -> str | None:
    """The database's Alembic revision (None when never migrated), without Alembic's logging."""
    exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not exists:
        return None
    revision: str | None = await conn.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
    return revision


async def refuse_squashed(conn: AsyncConnection) -> None:
    """SquashedSchemaError when the database carries a revision of the squashed development chain."""
    revision = await stored_revision(conn)
    if revision is not None and revision in SQUASHED_REVISIONS:
        raise SquashedSchemaError(revision)


async def upgrade(engine: AsyncEngine, target: str = "head") -> None:
    """Bring the schema to ``target`` and apply the changed SQL files; concurrent callers wait for
    the first one. A database of the squashed development chain is refused."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await refuse_squashed(conn)
        await conn.run_sync(_upgrade, target)
        await _apply_sql_files(conn)


async def _apply_sql_files(conn: AsyncConnection) -> None:
    """Apply each SQL file whose recorded version differs from the shipped one (each file whole,
    through the driver's simple-query protocol, which runs a script of several statements), and
    forget files no longer shipped."""
    rows = await conn.execute(text("SELECT file, sha256 FROM applied_sql_files"))
    applied = {row.file: row.sha256 for row in rows}
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    for file in sql_files():
        if applied.get(file.name) == file.sha256:
            continue
        await driver.execute(file.text)
        await conn.execute(
            text("INSERT INTO applied_sql_files (file, sha256) VALUES (:file, :sha256) "
                 "ON CONFLICT (file) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now()"),
            {"file": file.name, "sha256": file.sha256},
        )
    gone = sorted(set(applied) - {file.name for file in sql_files()})
    if gone:
        await conn.execute(text("DELETE FROM applied_sql_files WHERE file = ANY(:files)"), {"files": gone})


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database needs nothing ``upgrade`` would do (``STATE_SQL``, ``is_current_state``)."""
    async with engine.connect() as conn:
        tables = await conn.scalar(text(
            "SELECT to_regclass('alembic_version') IS NOT NULL AND to_regclass('applied_sql_files') IS NOT NULL"))
        if not tables:
            return False
        row = (await conn.execute(text(STATE_SQL))).one()
    return is_current_state(list(row.revisions), list(row.sql_files))
