"""The whole-response cache (SPEC §9): encoded GraphQL responses under (generation, key).

The metrics generation lives in PostgreSQL (``metrics_generation``, db/generation.py) and every
write bumps it inside its own transaction, so it is exactly as durable as the write and visible
exactly when the write is. A lookup returns a generation g only when PostgreSQL is already at g or
beyond, and the request's own query runs after the lookup, so whatever it stores under g includes
every write numbered up to g; a later write makes PostgreSQL (and Redis) go past g, and older
entries are never read again.

With Redis (shared by all replicas)::

    lm:gen                  the generation: the PostgreSQL value, only ever raised (ADVANCE_SCRIPT
                            keeps the max, so late or reordered bumps cannot lower it), with a
                            GENERATION_TTL_SECONDS expiry refreshed by every bump
    lm:resp:{gen}:{key}     encoded response bytes, EX = cache_ttl_seconds (old generations
                            simply expire)

A lookup is one EVALSHA (LOOKUP_SCRIPT: GET lm:gen, then GET the entry under it). When lm:gen is
missing (Redis restarted or flushed, or the key expired) it is re-seeded from PostgreSQL, which is
never behind any number ever written to Redis, so a lost key cannot bring old entries back. A
Redis generation below one this process has already seen (restored from an old snapshot, or a
bump that never arrived) is corrected before use. The expiry of lm:gen bounds what remains: after
a commit whose Redis step never ran (the process killed, Redis unreachable for that moment), every
replica reads the committed generation within GENERATION_TTL_SECONDS (SPEC §9: no answer older
than a commit is served more than 5 seconds after it).

Without Redis, each process keeps a bounded LRU keyed by (generation, key) and reads the
generation from PostgreSQL on every lookup (``graph.generation``), so replicas without Redis are
consistent too.

Redis down or slower than ``redis_timeout_ms``: the cache degrades to "no cache" (the generation
comes from PostgreSQL, nothing is stored), counts the failure, never raises, and leaves Redis alone
for BACKOFF_SECONDS (bumps are still attempted).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

from loanmetrics.db.engine import Database
from loanmetrics.graph.cache_key import cache_key
from loanmetrics.graph.generation import GenerationReader
from loanmetrics.graph.lru import TtlLru
from loanmetrics.graph.telemetry import CacheMetrics
from loanmetrics.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

NAMESPACE = "lm"
GENERATION_TTL_SECONDS = 4.0
"""Under SPEC §9's 5 seconds: a re-seed that read PostgreSQL just before a commit may store the
older number a moment after it."""
BACKOFF_SECONDS = 1.0

# KEYS[1] = generation key; ARGV[1] = entry prefix ("lm:resp:"), ARGV[2] = cache key.
# Returns nil when the generation is unknown, else {generation, entry or nil}.
LOOKUP_SCRIPT = """
local generation = redis.call('GET', KEYS[1])
if not generation then
  return false
end
return {generation, redis.call('GET', ARGV[1] .. generation .. ':' .. ARGV[2])}
"""

# KEYS[1] = generation key; ARGV[1] = candidate generation (from PostgreSQL), ARGV[2] = key TTL in
# ms, ARGV[3] = entry prefix, ARGV[4] = cache key or ''. Raises the generation to the candidate
# (never lowers it), refreshes its TTL and returns {generation[, entry or nil]}.
ADVANCE_SCRIPT = """
local generation = ARGV[1]
local current = redis.call('GET', KEYS[1])
if current and tonumber(current) > tonumber(generation) then
  generation = current
end
redis.call('SET', KEYS[1], generation, 'PX', ARGV[2])
if ARGV[4] == '' then
  return {generation}
end
return {generation, redis.call('GET', ARGV[3] .. generation .. ':' .. ARGV[4])}
"""


class RedisUnavailable(Exception):
    """A Redis call failed or timed out; already counted and logged."""


class ResponseCache:
    """Lookup/store of encoded responses under the current metrics generation."""

    def __init__(
        self,
        settings: Settings,
        redis: aioredis.Redis | None,
        database: Database,
        metrics: CacheMetrics,
        *,
        namespace: str = NAMESPACE,
        generation_ttl_seconds: float = GENERATION_TTL_SECONDS,
        backoff_seconds: float = BACKOFF_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis
        self._generations = GenerationReader(database.url)
        self._metrics = metrics
        self._ttl_seconds = settings.cache_ttl_seconds
        self._timeout = settings.redis_timeout_ms / 1000
        self._generation_key = f"{namespace}:gen"
        self._entry_prefix = f"{namespace}:resp:"
        self._generation_ttl_ms = max(1, int(generation_ttl_seconds * 1000))
        self._backoff_seconds = backoff_seconds
        self._clock = clock
        self._retry_at = 0.0
        # The highest generation this process has seen: a Redis generation below it means Redis
        # lost or restored state (or missed a bump), and is corrected before being trusted.
        self._floor = 0
        self._lru: TtlLru[tuple[int, str], bytes] | None = None
        self._lookup_script: AsyncScript | None = None
        self._advance_script: AsyncScript | None = None
        if redis is None:
            self._lru = TtlLru(settings.cache_max_entries, settings.cache_ttl_seconds, clock=clock)
        else:
            self._lookup_script = redis.register_script(LOOKUP_SCRIPT)
            self._advance_script = redis.register_script(ADVANCE_SCRIPT)

    @property
    def uses_redis(self) -> bool:
        return self._redis is not None

    def key(
        self, document: str, variables: Mapping[str, Any] | None, scope: str, operation_name: str | None = None
    ) -> str:
        """The generation-free key of a request (see ``graph.cache_key.cache_key``)."""
        return cache_key(document, variables, scope, operation_name)

    def entry_key(self, generation: int, key: str) -> str:
        """The Redis key of an entry."""
        return f"{self._entry_prefix}{generation}:{key}"

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        """The current generation and the entry cached under it, if any. Never raises for Redis."""
        result = await self._redis_lookup(key) if self._redis_usable() else None
        if result is None:
            generation = await self.database_generation()
            self._advance_floor(generation)
            body = self._lru.get((generation, key)) if self._lru is not None else None
            result = (generation, body)
        if result[1] is None:
            self._metrics.miss()
        else:
            self._metrics.hit()
        return result

    async def store(self, generation: int, key: str, body: bytes) -> None:
        """Keep ``body`` under (generation, key) for the TTL; superseded generations are skipped."""
        if generation < self._floor:
            return
        if self._lru is not None:
            self._lru.put((generation, key), body)
            return
        if self._redis is None or not self._redis_usable():
            return
        redis = self._redis
        with contextlib.suppress(RedisUnavailable):
            await self._call(lambda: redis.set(self.entry_key(generation, key), body, ex=self._ttl_seconds))

    async def bump(self) -> None:
        """After a committed write (its generation bump committed with it): raise the Redis
        generation to the PostgreSQL value. Tried even during the failure backoff: an
        invalidation matters more than 50 ms on a write. Without Redis there is nothing to do:
        every lookup reads PostgreSQL."""
        if self._advance_script is None:
            return
        generation = await self.database_generation()
        self._floor = max(self._floor, generation)
        with contextlib.suppress(RedisUnavailable):
            await self._script(self._advance_script, generation, self._generation_ttl_ms, self._entry_prefix, "")

    async def database_generation(self) -> int:
        """The committed generation, read on the primary (see ``graph.generation``)."""
        return await self._generations.read()

    async def close(self) -> None:
        await self._generations.close()

    async def _redis_lookup(self, key: str) -> tuple[int, bytes | None] | None:
        """Generation and entry from Redis, or None when Redis failed (counted)."""
        assert self._lookup_script is not None
        assert self._advance_script is not None
        lookup, advance = self._lookup_script, self._advance_script
        try:
            found = await self._script(lookup, self._entry_prefix, key)
            if found is None:  # generation unknown to Redis (restarted, flushed, expired): seed it
                seed = await self.database_generation()
                found = await self._script(advance, seed, self._generation_ttl_ms, self._entry_prefix, key)
            generation, body = self._present(found)
            if generation < self._floor:
                log.warning("Redis generation %d is behind %d: correcting it", generation, self._floor)
                self._metrics.error()
                generation, body = self._present(
                    await self._script(advance, self._floor, self._generation_ttl_ms, self._entry_prefix, key)
                )
        except RedisUnavailable:
            return None
        self._floor = max(self._floor, generation)
        return generation, body

    def _advance_floor(self, generation: int) -> None:
        if generation > self._floor:
            self._floor = generation
            if self._lru is not None:
                self._lru.clear()  # every entry is of an older generation: unreachable

    def _redis_usable(self) -> bool:
        return self._redis is not None and self._clock() >= self._retry_at

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        """One Redis command within ``redis_timeout_ms``; failures start the backoff."""
        try:
            async with asyncio.timeout(self._timeout):
                return await command()
        except Exception as exc:  # connection refused, timeout, protocol or server error alike
            raise self._failed(exc) from exc

    async def _script(self, script: AsyncScript, *args: str | int) -> tuple[int, bytes | None] | None:
        """Run a script: its {generation[, entry]} reply, None for nil (a malformed reply is a
        failure)."""
        reply = await self._call(lambda: script(keys=[self._generation_key], args=list(args)))
        if reply is None:
            return None
        try:
            generation = int(reply[0])
            body = reply[1] if len(reply) > 1 else None
        except (TypeError, ValueError, IndexError) as exc:
            raise self._failed(exc) from exc
        return generation, body if isinstance(body, bytes) else None

    def _present(self, found: tuple[int, bytes | None] | None) -> tuple[int, bytes | None]:
        """The advance script always returns a generation: nil means a broken server."""
        if found is None:
            raise self._failed(ValueError("no generation in the reply"))
        return found

    def _failed(self, exc: Exception) -> RedisUnavailable:
        self._metrics.error()
        self._retry_at = self._clock() + self._backoff_seconds
        log.warning("response cache: Redis unavailable (%s); serving without it", type(exc).__name__)
        return RedisUnavailable()
