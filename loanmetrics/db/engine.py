"""Async SQLAlchemy engines (primary and optional read replica) for one application instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from loanmetrics.db.url import split_url

# JIT makes the metric queries ~50% slower (ENGINEERING.md); turn it off for every session.
# random_page_cost 1.1 (SSD / cached working set): batch statements touching a few thousand
# loans then probe the primary keys instead of scanning million-row tables.
SERVER_SETTINGS = {"jit": "off", "random_page_cost": "1.1", "application_name": "loanmetrics"}


def asyncpg_url(url: str) -> str:
    """Normalise any postgres URL to the SQLAlchemy asyncpg dialect, without its query (the
    libpq parameters reach asyncpg as ``connect_kwargs``)."""
    parsed = make_url(split_url(url)[0])
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The same URL without a SQLAlchemy driver suffix or query (for asyncpg.connect, with
    ``connect_kwargs``)."""
    parsed = make_url(split_url(url)[0])
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def connect_kwargs(url: str, *, timeout: float | None = None) -> dict[str, Any]:
    """asyncpg keywords for a connection to ``url``: the service's session settings and what the
    URL's libpq parameters ask (sslmode, connect_timeout, application_name)."""
    return split_url(url)[1].kwargs(SERVER_SETTINGS, timeout=timeout)


def create_engine(url: str, *, pool_size: int = 10, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        asyncpg_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_kwargs(url),
        **kwargs,
    )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Query connections never change session state (no SET, locks or LISTEN), so releasing one
    skips asyncpg's RESET ALL round trip; an open transaction is still rolled back."""


@dataclass
class Database:
    """The primary engine for writes and, when configured, a replica engine for queries.

    API requests read through ``query_pool``, a plain asyncpg pool on the read URL, once opened:
    a SQLAlchemy checkout (with its pre-ping) plus asyncpg's reset on release cost two round
    trips per request, about a tenth of an officer-list page."""

    url: str
    engine: AsyncEngine
    read_engine: AsyncEngine
    read_url: str | None = None
    query_pool: asyncpg.Pool | None = None

    @classmethod
    def connect(cls, url: str, read_url: str | None = None, *, pool_size: int = 10) -> Database:
        engine = create_engine(url, pool_size=pool_size)
        read_engine = create_engine(read_url, pool_size=pool_size) if read_url else engine
        return cls(url=url, engine=engine, read_engine=read_engine, read_url=read_url)

    async def open_query_pool(self, *, max_size: int = 20) -> None:
        """Open the pool API requests read from (connections are made on first use)."""
        if self.query_pool is None:
            url = self.read_url or self.url
            self.query_pool = await asyncpg.create_pool(
                libpq_url(url), min_size=0, max_size=max_size, reset=_keep_session, **connect_kwargs(url),
            )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        async with self.read_engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def raw_transaction(self, isolation: str = "read_committed") -> AsyncIterator[asyncpg.Connection]:
        """A pooled asyncpg connection inside a transaction, for bulk, array-heavy statements."""
        async with self.engine.connect() as conn:
            raw = await raw_connection(conn)
            async with raw.transaction(isolation=isolation):  # type: ignore[arg-type]
                yield raw

    @asynccontextmanager
    async def raw_session(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled asyncpg connection on the primary, outside any transaction."""
        async with self.engine.connect() as conn:
            yield await raw_connection(conn)

    @asynccontextmanager
    async def raw_reader(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled asyncpg connection to the read engine (replica when configured), for
        statements that change no session state."""
        if self.query_pool is not None:
            async with self.query_pool.acquire() as pooled:
                yield cast(asyncpg.Connection, pooled)  # a proxy with the Connection interface
            return
        async with self.read_engine.connect() as conn:
            yield await raw_connection(conn)

    async def dispose(self) -> None:
        if self.query_pool is not None:
            pool, self.query_pool = self.query_pool, None
            await pool.close()
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def raw_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under a SQLAlchemy one, for COPY and array-heavy bulk statements."""
    fairy = await conn.get_raw_connection()
    driver = fairy.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver
