"""The schema's upgrade (db/migrate.py): one baseline migration that builds exactly what the
squashed development chain built, versioned SQL files applied when they change, readiness that
counts them, and a database of the development chain refused in one line.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from loanmetrics.application import create_application
from loanmetrics.db import migrate
from loanmetrics.db.engine import create_engine
from loanmetrics.graph.app import create_app
from tests.conftest import EXAMPLES, IN_CI, admin_url, create_database, drop_database, make_settings
from tests.test_cli_failures import one_line, run

ROOT = Path(__file__).resolve().parent.parent
BEFORE_SQUASH = EXAMPLES / "schema-before-squash.sql"


def schema_statements(dump: str) -> list[str]:
    """``pg_dump --schema-only`` as sorted statements, each on one line: comments, psql
    meta-commands, SET and OWNER statements dropped, whitespace collapsed (function bodies too)."""
    lines = [line for line in dump.splitlines() if not line.startswith(("--", "\\"))]
    statements, current = [], []
    for line in lines:
        current.append(line)
        text = "\n".join(current)
        if line.rstrip().endswith(";") and text.count("$$") % 2 == 0:  # not inside a function body
            statements.append(text)
            current = []
    statements.append("\n".join(current))
    kept = []
    for statement in statements:
        flat = re.sub(r"\s+", " ", statement).strip().removesuffix(";").strip()
        if flat and not flat.startswith(("SET ", "SELECT pg_catalog.set_config")) and " OWNER TO " not in flat:
            kept.append(flat)
    return sorted(kept)


async def _empty_database() -> str:
    server = await admin_url()
    name = f"lm_migrations_{os.urandom(6).hex()}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server).set(database=name).render_as_string(hide_password=False)


def _pg_dump(url: str) -> str:
    binary = shutil.which("pg_dump")
    if binary is None:
        if IN_CI:
            pytest.fail("pg_dump is required to compare schemas", pytrace=False)
        pytest.skip("pg_dump is not installed")
    parsed = make_url(url)
    result = subprocess.run(
        [binary, "--schema-only", "--no-owner", "-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432),
         "-U", parsed.username or "postgres", parsed.database or ""],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "PGPASSWORD": parsed.password or ""},
    )
    if result.returncode != 0:  # an older pg_dump than the server (the embedded fallback)
        if IN_CI:
            pytest.fail(result.stderr, pytrace=False)
        pytest.skip(f"pg_dump cannot dump this server: {result.stderr.strip()}")
    return result.stdout


async def test_the_baseline_builds_the_schema_the_development_chain_left() -> None:
    """``pg_dump --schema-only`` of the baseline, with the SQL files applied, equals the dump of a
    database the development migrations 0001-0013 built (tests/fixtures/schema-before-squash.sql),
    column order and function bodies included, but for the baseline's ``applied_sql_files``. Later
    SQL files may add functions and aggregates (``lm_sum_c``, after the squash); one that
    deliberately changes a function of the fixture changes the fixture's line with it."""
    expected = [line.removesuffix(";") for line in BEFORE_SQUASH.read_text().splitlines()
                if line and not line.startswith("--")]
    url = await _empty_database()
    engine = create_engine(url, pool_size=1)
    try:
        await migrate.upgrade(engine, "0001_baseline")
    finally:
        await engine.dispose()
    try:
        dumped = schema_statements(_pg_dump(url))
    finally:
        await drop_database(url)
    missing = sorted(set(expected) - set(dumped))
    assert missing == []
    functions = {re.match(r"CREATE FUNCTION (\S+)\(", line).group(1)  # type: ignore[union-attr]
                 for line in expected if line.startswith("CREATE FUNCTION")}
    extra = [line for line in set(dumped) - set(expected)
             if "applied_sql_files" not in line
             and not (line.startswith(("CREATE FUNCTION", "CREATE AGGREGATE"))
                      and line.split("(")[0].split()[-1] not in functions)]
    assert extra == []
    assert (len(functions), len(expected)) == (12, 98)


def test_the_wheel_carries_every_sql_file() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["loanmetrics.db"]
    files = [path.relative_to(ROOT / "loanmetrics" / "db").as_posix() for path in migrate.SQL_DIR.glob("*")]
    assert sorted(path.name for path in migrate.SQL_DIR.glob("*.sql")) == [file.name for file in migrate.sql_files()]
    assert len(files) >= 2
    assert [name for name in files if not any(fnmatch.fnmatch(name, pattern) for pattern in patterns)] == []


async def test_sql_files_apply_when_they_change_and_are_skipped_when_they_do_not() -> None:
    url = await create_database("lm_sql_files")
    engine = create_engine(url, pool_size=1)
    conn = await asyncpg.connect(url)
    try:
        shipped = {file.name: file.sha256 for file in migrate.sql_files()}
        recorded = {row["file"]: row["sha256"] for row in await conn.fetch("SELECT * FROM applied_sql_files")}
        assert recorded == shipped
        assert await migrate.is_current(engine)

        # unchanged files are not run again: a function dropped behind migrate's back stays dropped
        await conn.execute("DROP FUNCTION lm_clamp(numeric)")
        await conn.execute("INSERT INTO applied_sql_files (file, sha256) VALUES ('00_retired.sql', 'x')")
        await migrate.upgrade(engine)
        assert await conn.fetchval("SELECT count(*) FROM pg_proc WHERE proname = 'lm_clamp'") == 0
        assert await conn.fetchval("SELECT count(*) FROM applied_sql_files WHERE file = '00_retired.sql'") == 0

        # a file whose recorded version differs is applied again, whole
        await conn.execute("UPDATE applied_sql_files SET sha256 = 'an older version' "
                           "WHERE file = '02_metric_arithmetic.sql'")
        assert not await migrate.is_current(engine)
        await migrate.upgrade(engine)
        assert await conn.fetchval("SELECT lm_clamp(1.5)") == 1
        assert await conn.fetchval("SELECT sha256 FROM applied_sql_files WHERE file = '02_metric_arithmetic.sql'") \
            == shipped["02_metric_arithmetic.sql"]
        assert await migrate.is_current(engine)
    finally:
        await conn.close()
        await engine.dispose()
        await drop_database(url)


async def test_readiness_counts_a_stale_sql_file_as_pending() -> None:
    url = await create_database("lm_sql_ready")
    application = create_application(make_settings(url))
    await application.start(migrate_schema=False)
    conn = await asyncpg.connect(url)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/readyz")).json()["checks"]["migrations"] == "current"
            await conn.execute("UPDATE applied_sql_files SET sha256 = 'an older version' "
                               "WHERE file = '01_loan_state.sql'")
            stale = await client.get("/readyz")
            assert (stale.status_code, stale.json()["checks"]["migrations"]) == (503, "pending")
            await conn.execute("DROP TABLE applied_sql_files")  # a development build's database: no such table
            assert (await client.get("/readyz")).json()["checks"]["migrations"] == "pending"
    finally:
        await conn.close()
        await application.stop()
        await drop_database(url)


async def _development_database() -> str:
    """A database as the development chain left it: its schema, revision 0013, no record of SQL files."""
    url = await create_database("lm_squashed")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("UPDATE alembic_version SET version_num = '0013'")
        await conn.execute("DROP TABLE applied_sql_files")
    finally:
        await conn.close()
    return url


COMMANDS = {
    "migrate": (["migrate"], {}),
    "serve": (["serve", "--port", "FREE"], {}),
    "serve --no-migrate": (["serve", "--no-migrate", "--port", "FREE"], {}),
    "recalc": (["recalc"], {}),
    "recalc without migrating": (["recalc"], {"LOANMETRICS_MIGRATE_ON_START": "false"}),
}


@pytest.mark.parametrize("command", COMMANDS)
async def test_a_database_of_the_development_chain_is_refused_in_one_line(tmp_path: Path, command: str) -> None:
    url = await _development_database()
    try:
        args, env = COMMANDS[command]
        result = run(args, tmp_path, DATABASE_URL=url, LOANMETRICS_JWT_SECRET="x" * 40, **env)
        assert result.returncode == 1, result.stderr
        line = one_line(result)
        name = make_url(url).database
        assert line.startswith(f"error: PostgreSQL at 127.0.0.1:5432, database '{name}' holds the schema of a "
                               "development build of loanmetrics (migration 0013"), line
        assert "point DATABASE_URL at a new, empty database" in line
        conn = await asyncpg.connect(url)
        try:  # refused before anything was written
            assert await conn.fetchval("SELECT version_num FROM alembic_version") == "0013"
            assert await conn.fetchval("SELECT to_regclass('applied_sql_files')") is None
        finally:
            await conn.close()
    finally:
        await drop_database(url)
