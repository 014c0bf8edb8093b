"""The query context of one request: who is asking, the application, and per-request dataloaders.

Every SQL statement a request runs goes through ``fetch``/``fetchrow``, which count them (the
N+1 guard tests read the count) and share one pooled connection per request. The transport
creates it (the GraphQL endpoint, per operation) and hands it to every resolver; its loaders
batch what fields look up one at a time (``resolvers/loaders.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg

from loanmetrics.principal import Principal
from loanmetrics.resolvers.loaders import Loaders
from loanmetrics.resolvers.officer_json import RowKey

T = TypeVar("T")

if TYPE_CHECKING:
    from loanmetrics.application import Application


@dataclass
class RequestContext:
    application: Application
    principal: Principal
    request_id: str
    statements: int = 0
    _stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    _conn: asyncpg.Connection | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    memo: dict[str, Any] = field(default_factory=dict)
    notices: list[dict[str, Any]] = field(default_factory=list)
    officer_rows: Sequence[RowKey] | None = None
    """Set by the REST shim: the officer list's nodes as flat rows of this shape, built in SQL
    (``officer_json.officer_row_sql``) when the selection compiles."""
    """Why an answer is empty or partial (a date before any data...): the response's
    ``extensions.notices``."""

    @property
    def business_date(self) -> date:
        return self.application.clock.today()

    @cached_property
    def loaders(self) -> Loaders:
        """Created on first use, never shared between requests (callers' scopes differ)."""
        return Loaders(self)

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            self._conn = await self._stack.enter_async_context(self.application.db.raw_reader())
        return self._conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self._lock:
            conn = await self._connection()
            self.statements += 1
            return await conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return row[0] if row is not None else None

    async def use(self, action: Callable[[asyncpg.Connection], Awaitable[T]], *, custom_plans: bool = True) -> T:
        """Run a helper that takes a connection (the metric engine) as one counted statement.
        ``custom_plans``: its statements are planned for the values they get, as the metric
        engine's must be (dates and scope change its plans), where API sessions otherwise keep
        generic plans (db/engine.py ``QUERY_SETTINGS``): a transaction of its own sets that."""
        async with self._lock:
            conn = await self._connection()
            self.statements += 1
            if not custom_plans or not self.application.db.generic_plans:
                return await action(conn)
            async with conn.transaction():
                await conn.execute("SET LOCAL plan_cache_mode = auto")
                return await action(conn)

    async def close(self) -> None:
        await self._stack.aclose()
        self._conn = None
