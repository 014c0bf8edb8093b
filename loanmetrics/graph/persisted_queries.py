"""Automatic persisted queries (SPEC §6; Apollo's protocol): a client sends the SHA-256 of its
document first and the document itself only when the server does not know it yet.

``extensions.persistedQuery = {"version": 1, "sha256Hash": "<64 hex digits>"}``:

- hash alone, known: the stored document runs (over GET too, so a dashboard's request is a short
  URL a proxy can cache); unknown: ``PERSISTED_QUERY_NOT_FOUND`` and the client retries with the
  document (``graph/graphql_http.py`` gives the HTTP status);
- hash and document: the hash must be the document's (else 400), the document runs, and once it
  has parsed and validated it is stored.

Documents live in a bounded in-process LRU and, with Redis, under ``lm:apq:{hash}`` for
``apq_ttl_seconds``, shared by every replica. Redis down or slow: the local LRU still serves, the
failure is counted with the cache's, nothing errors (a miss only costs the client one retry).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from loanmetrics.graph.lru import TtlLru
from loanmetrics.graph.telemetry import CacheMetrics
from loanmetrics.settings import Settings

log = logging.getLogger(__name__)

VERSION = 1
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
KEY_PREFIX = "lm:apq:"
BACKOFF_SECONDS = 1.0
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """The persistedQuery extension is malformed, or its hash is not the document's (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PersistedQuery:
    """What a request's ``extensions.persistedQuery`` asks for."""

    sha256: str

    def matches(self, document: str) -> bool:
        return digest(document) == self.sha256


def digest(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def requested(extensions: dict[str, Any] | None) -> PersistedQuery | None:
    """The persisted query a request names, None when it names none, or PersistedQueryError."""
    if not extensions or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise PersistedQueryError("extensions.persistedQuery must be an object {version, sha256Hash}")
    if persisted.get("version") != VERSION:
        raise PersistedQueryError(f"unsupported persisted query version: use version {VERSION}")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256.lower()):
        raise PersistedQueryError("extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
    return PersistedQuery(sha256.lower())


class PersistedQueryStore:
    """Documents by hash: an in-process LRU in front of Redis (when configured)."""

    def __init__(self, settings: Settings, redis: aioredis.Redis | None, metrics: CacheMetrics, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._local: TtlLru[str, str] = TtlLru(settings.apq_max_entries, settings.apq_ttl_seconds, clock=clock)
        self._redis = redis
        self._metrics = metrics
        self._ttl_seconds = settings.apq_ttl_seconds
        self._timeout = settings.redis_timeout_ms / 1000
        self._clock = clock
        self._retry_at = 0.0

    async def get(self, sha256: str) -> str | None:
        document = self._local.get(sha256)
        if document is not None or not self._redis_usable():
            return document
        value = await self._call(lambda redis: redis.get(KEY_PREFIX + sha256))
        if not isinstance(value, bytes):
            return None
        document = value.decode("utf-8")
        if digest(document) != sha256:  # never run what the hash does not name
            return None
        self._local.put(sha256, document)
        return document

    async def put(self, sha256: str, document: str) -> None:
        self._local.put(sha256, document)
        if self._redis_usable():
            await self._call(lambda redis: redis.set(KEY_PREFIX + sha256, document.encode("utf-8"),
                                                      ex=self._ttl_seconds))

    def _redis_usable(self) -> bool:
        return self._redis is not None and self._clock() >= self._retry_at

    async def _call(self, action: Callable[[aioredis.Redis], Any]) -> Any:
        assert self._redis is not None
        try:
            async with asyncio.timeout(self._timeout):
                return await action(self._redis)
        except (aioredis.RedisError, OSError, TimeoutError) as exc:
            self._metrics.error()
            self._retry_at = self._clock() + BACKOFF_SECONDS
            log.warning("persisted-query store: Redis unavailable (%s)", type(exc).__name__)
            return None
