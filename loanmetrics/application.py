"""The application object: every long-lived dependency (settings, database, clock) in one place.

Route handlers, jobs and CLI commands receive this object explicitly; nothing is a module-level
global, so tests can run several independent instances in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from sqlalchemy.engine import make_url

from loanmetrics.clock import BusinessClock
from loanmetrics.db import failures, generation, migrate
from loanmetrics.db.embedded import EmbeddedPostgres
from loanmetrics.db.engine import Database, libpq_url
from loanmetrics.db.metric_engine import EngineOptions
from loanmetrics.graph.auth import verification_key
from loanmetrics.graph.cache import ResponseCache
from loanmetrics.graph.persisted_queries import PersistedQueryStore
from loanmetrics.graph.telemetry import Telemetry
from loanmetrics.settings import ConfigurationError, Settings, is_loopback

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "loanmetrics"


@dataclass
class Application:
    """Holds the started resources; ``start``/``stop`` bracket the process's lifetime."""

    settings: Settings
    clock: BusinessClock
    database: Database | None = None
    embedded: EmbeddedPostgres | None = None
    redis: aioredis.Redis | None = None
    change_listeners: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    telemetry: Telemetry = field(default_factory=Telemetry)
    cache: ResponseCache | None = None
    persisted_queries: PersistedQueryStore | None = None
    _cache_listener: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        if self.database is None:
            raise RuntimeError("application not started")
        return self.database

    async def start(self, *, migrate_schema: bool | None = None) -> None:
        """Connect (starting the embedded server when no DATABASE_URL is set) and migrate."""
        url = self.settings.database_url
        if url is None:
            self.embedded = EmbeddedPostgres(self.settings.pgdata)
            url = await ensure_database(self.embedded.start())
        self.database = Database.connect(url, self.settings.database_read_url)
        should_migrate = self.settings.migrate_on_start if migrate_schema is None else migrate_schema
        try:
            # one round trip, so an unusable database stops every command at start, in one line
            async with self.database.raw_session() as conn:
                await conn.fetchval("SELECT 1")
            if should_migrate:
                await migrate.upgrade(self.database.engine)
            else:  # no command may run on a schema no migration can reach
                async with self.database.engine.connect() as checked:
                    await migrate.refuse_squashed(checked)
            await self.database.open_query_pool()
        except Exception as exc:
            if isinstance(exc, migrate.SquashedSchemaError):
                data_dir = self.embedded.pgdata if self.embedded is not None else None
                failure: str | None = failures.squashed_schema(exc.revision, self.settings.database_url, data_dir)
            else:
                failure = failures.describe(exc, self.settings.database_url)
            if failure is None:
                raise
            await self.stop()
            raise failures.DatabaseUnavailableError(failure) from exc
        if self.settings.redis_url:
            timeout = self.settings.redis_timeout_ms / 1000
            # one immediate retry on a fresh connection (a pooled one may be dead after a Redis
            # restart); the cache's own deadline bounds the total at redis_timeout_ms
            self.redis = aioredis.from_url(
                self.settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 1),
            )
        self.persisted_queries = PersistedQueryStore(self.settings, self.redis, self.telemetry.cache)
        if self.settings.cache_enabled:
            self.cache = ResponseCache(self.settings, self.redis, self.database, self.telemetry.cache)
            self._cache_listener = self.cache.bump
            self.change_listeners.append(self._cache_listener)

    @property
    def engine_options(self) -> EngineOptions:
        """The deployment's band thresholds and DQI channel-purity toggle, for the metric engine."""
        return EngineOptions(bands=self.settings.bands, channel_purity_in_dqi=self.settings.channel_purity_in_dqi)

    async def after_commit(self) -> None:
        """Called after a write committed, its generation bump included (db/generation.py): tells
        in-process listeners at once (the Redis mirror of the generation, which otherwise follows
        PostgreSQL within GENERATION_TTL_SECONDS). Their failures are logged, never raised: the
        write and its bump are already durable."""
        for listener in self.change_listeners:
            try:
                await listener()
            except Exception:
                log.warning("a change listener failed after a commit; caches follow within seconds", exc_info=True)

    async def data_changed(self) -> None:
        """Data changed outside the product's writers (a test, a manual repair): bump the
        generation in a transaction of its own, then tell the listeners."""
        async with self.db.raw_transaction() as conn:
            await generation.bump(conn, generation.Source.AUDIT)
        await self.after_commit()

    async def metrics_generation(self) -> int:
        async with self.db.raw_session() as conn:
            return await generation.current(conn)

    async def redis_ok(self) -> bool:
        if self.redis is None:
            return False
        try:
            return bool(await self.redis.ping())
        except (aioredis.RedisError, OSError):
            return False

    async def stop(self) -> None:
        if self.cache is not None:
            if self._cache_listener in self.change_listeners:
                self.change_listeners.remove(self._cache_listener)
            await self.cache.close()
            self.cache = None
        self.persisted_queries = None
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None
        if self.database is not None:
            await self.database.dispose()
            self.database = None
        if self.embedded is not None:
            self.embedded.stop()
            self.embedded = None


def create_application(settings: Settings) -> Application:
    """Build an unstarted application from validated settings."""
    clock = BusinessClock(timezone=settings.timezone, fixed=settings.today)
    return Application(settings=settings, clock=clock)


def check_serving(settings: Settings, host: str) -> None:
    """Rules for a listening server: tokens must be verifiable; auth off only on loopback."""
    if settings.auth_enabled and settings.jwt_public_key is not None:
        verification_key(settings)
    if settings.auth_enabled and settings.jwt_public_key is None:
        settings.signing_secret()
    if not settings.auth_enabled and not is_loopback(host):
        raise ConfigurationError(
            f"configuration error: LOANMETRICS_AUTH: 'disabled' is refused when binding to {host!r}; "
            "bind to 127.0.0.1 or enable authentication"
        )


async def ensure_database(server_url: str, name: str = EMBEDDED_DATABASE) -> str:
    """Create the product's database on a fresh embedded server; return its URL."""
    conn = await asyncpg.connect(libpq_url(server_url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)
