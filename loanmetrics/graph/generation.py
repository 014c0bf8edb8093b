"""Reads the metrics generation (the ``metrics_generation`` rows, db/generation.py) for the cache.

Without Redis every cache lookup reads it, so it must be cheap and never stale:
- one dedicated asyncpg connection to the primary (a pooled SQLAlchemy checkout, with its
  pre-ping and reset, costs ~8x the 50 µs query), where every write commits;
- concurrent callers share reads, but a caller only takes the result of a read that *started*
  after the caller arrived, so a write that returned before a lookup began is always seen.
"""

from __future__ import annotations

import asyncio

import asyncpg

from loanmetrics.db import generation
from loanmetrics.db.engine import connect_kwargs, libpq_url

GENERATION_QUERY = generation.CURRENT
CONNECT_TIMEOUT_SECONDS = 5.0


class GenerationUnavailable(Exception):
    """The generation could not be read; the cause is the database error (a connection error
    makes the request a 503, like any other query against an unreachable database)."""


class GenerationReader:
    """``read()`` the current generation; ``close()`` when the application stops."""

    def __init__(self, database_url: str) -> None:
        self._url = libpq_url(database_url)
        self._connect_kwargs = connect_kwargs(database_url, timeout=CONNECT_TIMEOUT_SECONDS)
        self._connection: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._started = 0  # reads started so far
        self._last_id = 0  # which read produced the last outcome
        self._last_outcome: int | Exception = 0

    async def read(self) -> int:
        arrived = self._started
        async with self._lock:
            if self._last_id <= arrived:
                self._started += 1
                read_id = self._started
                try:
                    self._last_outcome = await self._fetch()
                except Exception as exc:
                    self._last_outcome = exc
                self._last_id = read_id
            # else a read that began after this caller arrived has just finished: share it,
            # failures included (callers queued behind a dead database fail together, at once)
            outcome = self._last_outcome
        if isinstance(outcome, Exception):
            raise GenerationUnavailable("cannot read the metrics generation") from outcome
        return outcome

    async def close(self) -> None:
        async with self._lock:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                await connection.close(timeout=2)

    async def _fetch(self) -> int:
        """The query, on a fresh connection once more if it failed: a connection PostgreSQL
        dropped (restart, terminated backend) fails in several ways, from OSError to asyncpg's
        internal state errors. A second failure propagates (the request then fails with 503)."""
        try:
            return await self._query()
        except Exception:
            self._discard()
        try:
            return await self._query()
        except BaseException:
            self._discard()
            raise

    async def _query(self) -> int:
        try:
            connection = await self._connect()
            value: int = await connection.fetchval(GENERATION_QUERY)
        except asyncio.CancelledError:  # cancelled mid-query: the connection's state is unknown
            self._discard()
            raise
        return value

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(self._url, **self._connect_kwargs)
        return self._connection

    def _discard(self) -> None:
        if self._connection is not None:
            self._connection.terminate()
            self._connection = None
