"""Async SQLAlchemy engines (primary and optional read replica) for one application instance."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from loanmetrics.db.url import split_url

# JIT makes the metric queries ~50% slower (ENGINEERING.md); turn it off for every session.
# random_page_cost 1.1 (SSD / cached working set): batch statements touching a few thousand
# loans then probe the primary keys instead of scanning million-row tables.
SERVER_SETTINGS = {"jit": "off", "random_page_cost": "1.1", "application_name": "loanmetrics"}
# API reads keep each prepared statement's generic plan (``QUERY_SETTINGS``): PostgreSQL plans a
# statement with an array or page-size parameter again on every execution otherwise, which cost
# more than running it (0.6 ms of 0.7 for an officer's loan page, 0.26 of 0.37 for its metrics).
# The metric engine's statements, whose plans depend on the dates and scope they get, are
# planned per execution still (``RequestContext.use``).
QUERY_SETTINGS = {**SERVER_SETTINGS, "plan_cache_mode": "force_generic_plan"}


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


class FairGate:
    """A first-come, first-served semaphore: a released slot is handed to the longest waiter.

    asyncpg's pool (an ``asyncio.Queue`` of connections) lets a newcomer take a connection that
    was just released to a woken waiter, which then queues again at the back: under load some
    requests wait many turns (issue 13: p95 12x the p50 at 50 clients). Requests pass this gate
    before they take a connection, in arrival order, so the pool itself never has waiters."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.slots = slots
        self._free = slots
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            elif waiter in self._waiters:  # a release may already have skipped it
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot moves to the waiter; _free is unchanged
                return
        self._free += 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()


QUERY_POOL_SIZE = 20
"""Connections API requests may hold at once (``Database.query_pool``); more requests wait at
``Database.query_gate``, first come, first served."""


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
    query_gate: FairGate = field(default_factory=lambda: FairGate(QUERY_POOL_SIZE))

    @classmethod
    def connect(cls, url: str, read_url: str | None = None, *, pool_size: int = 10) -> Database:
        engine = create_engine(url, pool_size=pool_size)
        read_engine = create_engine(read_url, pool_size=pool_size) if read_url else engine
        return cls(url=url, engine=engine, read_engine=read_engine, read_url=read_url)

    @property
    def generic_plans(self) -> bool:
        """Whether ``raw_reader`` connections keep generic plans (the query pool's sessions)."""
        return self.query_pool is not None

    async def open_query_pool(self, *, max_size: int = QUERY_POOL_SIZE) -> None:
        """Open the pool API requests read from (connections are made on first use)."""
        if self.query_pool is None:
            url = self.read_url or self.url
            self.query_gate = FairGate(max_size)
            self.query_pool = await asyncpg.create_pool(
                libpq_url(url), min_size=0, max_size=max_size, reset=_keep_session,
                **split_url(url)[1].kwargs(QUERY_SETTINGS),
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
        pool = self.query_pool
        if pool is not None:
            async with self.query_gate.slot(), pool.acquire() as pooled:
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
