"""Shared fixtures: a private PostgreSQL database per test session, cleaned between tests.

Tests run against real services. PostgreSQL comes from LOANMETRICS_TEST_POSTGRES (default
127.0.0.1:5432); when it is unreachable the suite starts an embedded PostgreSQL, except under
CI=true, where a missing service fails the run. Redis tests likewise fail in CI and skip
elsewhere when Redis is down.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from loanmetrics.application import Application, create_application
from loanmetrics.db import migrate
from loanmetrics.db.engine import Database, create_engine
from loanmetrics.settings import Settings

ADMIN_URL = os.environ.get("LOANMETRICS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LOANMETRICS_TEST_REDIS", "redis://127.0.0.1:6379/15")
EXAMPLES = Path(__file__).resolve().parent / "fixtures"
BUSINESS_DATE = date(2026, 9, 18)
JWT_SECRET = "test-secret-with-enough-length-for-hs256"


IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_admin_url: list[str] = []


async def admin_url() -> str:
    """The server tests create their databases on: the configured one, or an embedded one."""
    if _admin_url:
        return _admin_url[0]
    try:
        conn = await asyncpg.connect(ADMIN_URL, timeout=5)
        await conn.close()
        _admin_url.append(ADMIN_URL)
    except (OSError, asyncpg.PostgresError) as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required at {ADMIN_URL} and is not reachable: {exc}", pytrace=False)
        import atexit
        import tempfile

        from loanmetrics.db.embedded import EmbeddedPostgres

        embedded = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="lm-test-pg-")) / "pgdata")
        _admin_url.append(embedded.start())
        atexit.register(embedded.stop)
    return _admin_url[0]


def _url_for(server_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


async def create_database(prefix: str = "lm_test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    server = await admin_url()
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = _url_for(server, name)
    engine = create_engine(url, pool_size=1)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()
    return url


async def drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    conn = await asyncpg.connect(await admin_url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    url = await create_database()
    yield url
    await drop_database(url)


TRUNCATE = """
DO $$ DECLARE names text; BEGIN
  SELECT string_agg(format('%I', tablename), ', ') INTO names
  FROM pg_tables WHERE schemaname = 'public'
    AND tablename NOT IN ('alembic_version', 'applied_sql_files', 'metrics_generation');
  EXECUTE 'TRUNCATE ' || names || ' RESTART IDENTITY CASCADE';
END $$;
"""


@pytest.fixture
async def clean_database_url(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(TRUNCATE)
    finally:
        await conn.close()
    return database_url


def make_settings(database_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "today": BUSINESS_DATE,
        "auth": "enabled",
        "jwt_secret": JWT_SECRET,
        "scheduler_enabled": False,
        "log_json": False,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def app(clean_database_url: str) -> AsyncIterator[Application]:
    application = create_application(make_settings(clean_database_url))
    await application.start(migrate_schema=False)
    yield application
    await application.stop()


@pytest.fixture
async def db(app: Application) -> Database:
    return app.db


@pytest.fixture
async def redis_url() -> str:
    """A reachable Redis (database 15, flushed): fails under CI when Redis is down, else skips."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.ping()
        await client.flushdb()
    except (aioredis.RedisError, OSError) as exc:
        if IN_CI:
            pytest.fail(f"Redis is required at {REDIS_URL} and is not reachable: {exc}", pytrace=False)
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture(scope="session")
def example_payload() -> dict[str, Any]:
    import jiter

    path = EXAMPLES / "book-payload.json"
    assert path.is_file(), f"missing example book {path}"
    document: dict[str, Any] = jiter.from_json(path.read_bytes(), float_mode="decimal")
    return document


@pytest.fixture(autouse=True)
def _no_env_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests configure the application explicitly; ambient settings must not leak in."""
    for name in list(os.environ):
        if name.startswith("LOANMETRICS_") and not name.startswith("LOANMETRICS_TEST_"):
            monkeypatch.delenv(name)
    for name in ("DATABASE_URL", "REDIS_URL", "DATABASE_READ_URL"):
        monkeypatch.delenv(name, raising=False)


def token_for(app: Application, role: str, *, branches: tuple[str, ...] = (), regions: tuple[str, ...] = ()) -> str:
    from datetime import timedelta

    from loanmetrics.graph.auth import create_token
    from loanmetrics.principal import Role

    return create_token(
        app.settings, role=Role(role), subject=f"test-{role}", ttl=timedelta(hours=1),
        branches=branches, regions=regions,
    )


def bearer(app: Application, role: str, **scope: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, role, **scope)}"}


@pytest.fixture
async def client(app: Application) -> AsyncIterator[Any]:
    """An HTTP client on the real ASGI app (the application is already started by ``app``)."""
    import httpx

    from loanmetrics.graph.app import create_app

    transport = httpx.ASGITransport(app=create_app(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
