"""Leader election by a PostgreSQL session advisory lock (SPEC §8).

Every replica runs the scheduler; only the one holding the lock on its own connection runs jobs.
If the leader dies its connection closes, the lock is released and another replica takes over
at its next tick.
"""

from __future__ import annotations

import logging

import asyncpg

from loanmetrics.db.engine import connect_kwargs, libpq_url

log = logging.getLogger(__name__)

LEADER_LOCK_KEY = 0x4C4D_0004


class LeaderLock:
    """Holds (or tries to take) the scheduler lock on a dedicated connection."""

    def __init__(self, database_url: str, key: int = LEADER_LOCK_KEY) -> None:
        self.url = libpq_url(database_url)
        self._connect_kwargs = connect_kwargs(database_url, timeout=5)
        self.key = key
        self._conn: asyncpg.Connection | None = None

    async def is_leader(self) -> bool:
        """True while this process holds the lock; tries to take it when it does not."""
        if self._conn is not None:
            try:
                await self._conn.fetchval("SELECT 1")
                return True
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                log.warning("lost the scheduler leader connection")
                self._conn = None
        try:
            conn = await asyncpg.connect(self.url, **self._connect_kwargs)
        except (asyncpg.PostgresError, OSError):
            return False
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key):
            self._conn = conn
            log.info("this process is the scheduler leader")
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.close()
            finally:
                self._conn = None
