"""The whole-response cache (SPEC §9) against real PostgreSQL and Redis: keys, hits, invalidation
by the metrics generation across replicas (with and without Redis), bounds, and degradation when
Redis is down, slow, flushed or behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from loanmetrics.application import Application, create_application
from loanmetrics.db.generation import Source, bump
from loanmetrics.graph.cache import ADVANCE_SCRIPT, ResponseCache
from loanmetrics.graph.cache_key import cache_key, normalise_document
from loanmetrics.graph.generation import GENERATION_QUERY, GenerationReader, GenerationUnavailable
from loanmetrics.graph.lru import TtlLru
from loanmetrics.graph.telemetry import Telemetry
from tests.conftest import make_settings

QUERY = """
query Officers($first: Int, $branch: String) {
  officers(first: $first, branch: $branch) { officerId name riskScore }
}
"""
SCOPE = "viewer||"
StartApp = Callable[..., Awaitable[Application]]


@pytest.fixture
async def start_app(clean_database_url: str) -> AsyncIterator[StartApp]:
    """Starts applications on the test database (replicas of one deployment); stops them after."""
    started: list[Application] = []

    async def start(**overrides: Any) -> Application:
        application = create_application(make_settings(clean_database_url, **overrides))
        await application.start(migrate_schema=False)
        started.append(application)
        return application

    yield start
    for application in started:
        await application.stop()


@pytest.fixture(params=["redis", "memory"])
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides for each cache backend (the Redis one skips when Redis is down)."""
    if request.param == "redis":
        return {"redis_url": request.getfixturevalue("redis_url")}
    return {}


def cache_of(application: Application) -> ResponseCache:
    assert application.cache is not None
    return application.cache


def counter(application: Application, name: str) -> float:
    value = application.telemetry.registry.get_sample_value(f"loanmetrics_cache_{name}_total")
    assert value is not None
    return value


async def pg_generation(application: Application) -> int:
    async with application.db.raw_session() as conn:
        value: int = await conn.fetchval(GENERATION_QUERY)
    return value


async def redis_generation(application: Application) -> int:
    assert application.redis is not None
    value = await application.redis.get("lm:gen")
    assert value is not None
    return int(value)


# --- keys -----------------------------------------------------------------------------------


def test_key_ignores_layout_comments_and_variable_order():
    compact = (
        "query Officers($first:Int,$branch:String){officers(first:$first,branch:$branch){officerId name riskScore}}"
    )
    commented = "# the officer list\n" + QUERY.replace("riskScore", "riskScore # the score\n")
    variables = {"first": 50, "branch": "B1", "filter": {"b": 1, "a": [1, 2]}}
    reordered = {"filter": {"a": [1, 2], "b": 1}, "branch": "B1", "first": 50}
    reference = cache_key(QUERY, variables, SCOPE)
    assert len(reference) == 40
    assert cache_key(QUERY, variables, SCOPE) == reference
    assert cache_key(compact, variables, SCOPE) == reference
    assert cache_key(commented, variables, SCOPE) == reference
    assert cache_key(QUERY, reordered, SCOPE) == reference
    assert cache_key(QUERY, None, SCOPE) == cache_key(QUERY, {}, SCOPE)
    # documents too long to memoise are normalised the same way
    long_fields = " ".join(f"field{n}" for n in range(3000))
    spaced = "{ a { " + long_fields + " } }"
    compact_long = "{a{\n" + long_fields.replace(" ", "\n  ") + "\n}}"
    assert len(spaced) > 16_384
    assert cache_key(spaced, None, SCOPE) == cache_key(compact_long, None, SCOPE)


def test_key_changes_with_anything_significant():
    variables = {"first": 50, "branch": "B1"}
    reference = cache_key(QUERY, variables, SCOPE)
    others = [
        cache_key(QUERY, variables, "viewer|B1|"),  # a branch-scoped caller
        cache_key(QUERY, variables, "admin||"),  # another role
        cache_key(QUERY, {"first": 51, "branch": "B1"}, SCOPE),
        cache_key(QUERY, {"first": 50, "branch": "B2"}, SCOPE),
        cache_key(QUERY, {"first": 50}, SCOPE),
        cache_key(QUERY.replace("riskScore", "dqi"), variables, SCOPE),
        cache_key(QUERY, variables, SCOPE, "Officers"),  # an explicitly selected operation
    ]
    assert len({reference, *others}) == len(others) + 1


def test_normalisation_keeps_string_values_exactly():
    assert normalise_document('{ a(s: "x  y") }') != normalise_document('{ a(s: "x y") }')
    assert normalise_document('{ a(s: "# not a comment") }') == '{ a ( s : "# not a comment" ) }'
    assert normalise_document("{ a(s: x) }") != normalise_document('{ a(s: "x") }')  # enum vs string
    # a document that does not lex still gets a stable, whitespace-collapsed key
    assert normalise_document('{ a(s: "unterminated }') == '{ a(s: "unterminated }'


async def test_application_key_uses_the_same_function(app: Application):
    assert cache_of(app).key(QUERY, {"first": 1}, SCOPE) == cache_key(QUERY, {"first": 1}, SCOPE)


# --- hits, invalidation, replicas ----------------------------------------------------------------


async def test_hit_after_store_and_counters(start_app: StartApp, backend: dict[str, Any]):
    application = await start_app(**backend)
    cache = cache_of(application)
    assert cache.uses_redis == ("redis_url" in backend)
    key = cache.key(QUERY, {"first": 50}, SCOPE)
    generation, body = await cache.lookup(key)
    assert body is None
    assert generation == await pg_generation(application)
    await cache.store(generation, key, b'{"data":{"officers":[]}}')
    assert await cache.lookup(key) == (generation, b'{"data":{"officers":[]}}')
    other_scope = cache.key(QUERY, {"first": 50}, "viewer|B1|")
    assert (await cache.lookup(other_scope))[1] is None
    assert counter(application, "hits") == 1
    assert counter(application, "misses") == 2
    assert counter(application, "errors") == 0


async def test_write_invalidates(start_app: StartApp, backend: dict[str, Any]):
    application = await start_app(**backend)
    cache = cache_of(application)
    key = cache.key(QUERY, None, SCOPE)
    generation, _ = await cache.lookup(key)
    await cache.store(generation, key, b"old")
    assert (await cache.lookup(key))[1] == b"old"
    await application.data_changed()
    new_generation, body = await cache.lookup(key)
    assert (new_generation, body) == (generation + 1, None)
    # a request that read the old generation and finishes after the write stores nothing visible
    await cache.store(generation, key, b"late")
    assert (await cache.lookup(key))[1] is None


async def test_write_on_one_replica_invalidates_the_other(start_app: StartApp, backend: dict[str, Any]):
    a = await start_app(**backend)
    b = await start_app(**backend)
    cache_a, cache_b = cache_of(a), cache_of(b)
    key = cache_a.key(QUERY, {"first": 50}, SCOPE)
    assert key == cache_b.key(QUERY, {"first": 50}, SCOPE)
    generation, _ = await cache_a.lookup(key)
    await cache_a.store(generation, key, b"before the write")
    assert (await cache_a.lookup(key))[1] == b"before the write"
    await b.data_changed()
    seen_a, body_a = await cache_a.lookup(key)
    seen_b, body_b = await cache_b.lookup(key)
    assert body_a is None
    assert body_b is None
    assert seen_a == seen_b == generation + 1 == await pg_generation(a)
    await cache_b.store(seen_b, key, b"after the write")
    shared = (await cache_a.lookup(key))[1]
    if backend:  # Redis: the entries are shared by the replicas
        assert shared == b"after the write"
    else:  # one LRU per process: consistent, not shared
        assert shared is None


async def test_entries_get_the_configured_ttl_in_redis(start_app: StartApp, redis_url: str):
    application = await start_app(redis_url=redis_url, cache_ttl_seconds=120)
    cache = cache_of(application)
    key = cache.key(QUERY, None, SCOPE)
    generation, _ = await cache.lookup(key)
    await cache.store(generation, key, b"x")
    assert application.redis is not None
    assert 110 <= await application.redis.ttl(cache.entry_key(generation, key)) <= 120
    # the generation key is a short-lived copy of the PostgreSQL value, refreshed by every bump
    assert 0 < await application.redis.pttl("lm:gen") <= 5000
    assert await redis_generation(application) == generation


# --- the in-process LRU -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_lru_is_bounded_and_evicts_least_recently_used():
    lru: TtlLru[str, int] = TtlLru(3, 60, clock=FakeClock())
    for index, name in enumerate("abc"):
        lru.put(name, index)
    assert lru.get("a") == 0  # "a" is now the most recently used
    lru.put("d", 3)
    assert len(lru) == 3
    assert lru.get("b") is None
    assert [lru.get(name) for name in "acd"] == [0, 2, 3]


def test_lru_entries_expire():
    clock = FakeClock()
    lru: TtlLru[str, int] = TtlLru(10, 60, clock=clock)
    lru.put("a", 1)
    clock.now += 59.9
    assert lru.get("a") == 1
    clock.now += 0.2
    assert lru.get("a") is None
    assert len(lru) == 0


async def test_memory_cache_bound_and_ttl(app: Application):
    clock = FakeClock()
    settings = make_settings(app.settings.database_url, cache_max_entries=2, cache_ttl_seconds=30)
    cache = ResponseCache(settings, None, app.db, Telemetry().cache, clock=clock)
    try:
        keys = [cache.key(QUERY, {"first": n}, SCOPE) for n in range(3)]
        generation, _ = await cache.lookup(keys[0])
        for key in keys:
            await cache.store(generation, key, key.encode())
        assert (await cache.lookup(keys[0]))[1] is None  # evicted: only two entries are kept
        assert (await cache.lookup(keys[2]))[1] == keys[2].encode()
        clock.now += 31
        assert (await cache.lookup(keys[2]))[1] is None  # expired
    finally:
        await cache.close()


# --- reading the generation ---------------------------------------------------------------------


async def test_generation_reader_sees_bumps_and_survives_a_lost_connection(app: Application):
    reader = GenerationReader(app.db.url)
    try:
        before = await reader.read()
        assert before == await pg_generation(app)
        await app.data_changed()
        assert await reader.read() == before + 1
        results = await asyncio.gather(*(reader.read() for _ in range(50)))
        assert set(results) == {before + 1}
        assert reader._started < 10  # concurrent callers share reads
        assert reader._connection is not None
        async with app.db.raw_session() as conn:  # PostgreSQL drops the connection
            await conn.execute("SELECT pg_terminate_backend($1)", reader._connection.get_server_pid())
        await app.data_changed()
        assert await reader.read() == before + 2
    finally:
        await reader.close()


async def test_callers_queued_behind_a_dead_database_fail_together():
    reader = GenerationReader("postgresql://postgres@127.0.0.1:1/nothing")
    results = await asyncio.gather(*(reader.read() for _ in range(20)), return_exceptions=True)
    for result in results:
        assert isinstance(result, GenerationUnavailable)
        assert isinstance(result.__cause__, OSError)
    assert reader._started < 5
    await reader.close()


class ScriptedReader(GenerationReader):
    """A reader whose queries return when the test says so, with the value of that moment."""

    def __init__(self) -> None:
        super().__init__("postgresql://unused/db")
        self.value = 1
        self.sent: list[asyncio.Event] = []
        self.release: list[asyncio.Event] = []

    async def _fetch(self) -> int:
        value = self.value  # what the server would read when the query arrives
        sent, release = asyncio.Event(), asyncio.Event()
        self.sent.append(sent)
        self.release.append(release)
        sent.set()
        await release.wait()
        return value


async def test_a_caller_never_takes_a_read_that_started_before_it():
    reader = ScriptedReader()
    first = asyncio.create_task(reader.read())
    await asyncio.sleep(0)
    await reader.sent[0].wait()  # a read of generation 1 is in flight...
    reader.value = 2  # ...when a write bumps the generation and returns
    late = [asyncio.create_task(reader.read()) for _ in range(3)]  # lookups that began after the write
    await asyncio.sleep(0)
    reader.release[0].set()
    assert await first == 1
    await reader.sent[1].wait()
    reader.release[1].set()
    assert await asyncio.gather(*late) == [2, 2, 2]  # one new read, shared by the three
    assert len(reader.sent) == 2


# --- Redis down, slow, flushed, behind ------------------------------------------------------------


async def test_redis_down_serves_without_cache(start_app: StartApp):
    application = await start_app(redis_url="redis://127.0.0.1:1/0")
    cache = cache_of(application)
    key = cache.key(QUERY, None, SCOPE)
    expected = await pg_generation(application)
    for _ in range(5):
        began = time.perf_counter()
        assert await cache.lookup(key) == (expected, None)
        assert time.perf_counter() - began < 0.2
    await cache.store(expected, key, b"x")  # nothing stored, nothing raised
    began = time.perf_counter()
    await application.data_changed()  # the bump tries Redis once more and gives up quietly
    assert time.perf_counter() - began < 0.3
    assert await cache.lookup(key) == (expected + 1, None)
    assert counter(application, "errors") >= 2
    assert counter(application, "misses") == 6
    assert counter(application, "hits") == 0


async def test_slow_redis_times_out(start_app: StartApp):
    """A server that accepts connections and never answers: every call hits redis_timeout_ms."""
    connections: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        application = await start_app(redis_url=f"redis://127.0.0.1:{port}/0", redis_timeout_ms=50)
        cache = cache_of(application)
        key = cache.key(QUERY, None, SCOPE)
        expected = await pg_generation(application)
        began = time.perf_counter()
        assert await cache.lookup(key) == (expected, None)
        assert time.perf_counter() - began < 0.05 + 0.1
        assert counter(application, "errors") == 1
        assert connections  # it really talked to the silent server
        began = time.perf_counter()
        assert await cache.lookup(key) == (expected, None)  # within the backoff: Redis not tried
        assert time.perf_counter() - began < 0.03
        assert counter(application, "errors") == 1
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_flush_never_resurrects_stale_entries(start_app: StartApp, redis_url: str):
    application = await start_app(redis_url=redis_url)
    cache = cache_of(application)
    assert application.redis is not None
    key = cache.key(QUERY, None, SCOPE)
    generation, _ = await cache.lookup(key)
    await cache.store(generation, key, b"old")
    await application.redis.flushdb()  # a restarted Redis without persistence
    assert await cache.lookup(key) == (generation, None)
    assert await redis_generation(application) == generation  # re-seeded from PostgreSQL
    # the generation key lost while PostgreSQL moved on (a bump that never reached Redis)
    await cache.store(generation, key, b"old")
    async with application.db.raw_transaction() as conn:
        await bump(conn, Source.INGESTION)
    await application.redis.delete("lm:gen")
    assert await cache.lookup(key) == (generation + 1, None)
    assert await redis_generation(application) == generation + 1


async def test_a_generation_going_backwards_is_corrected(start_app: StartApp, redis_url: str):
    """Redis restored from an old snapshot: the old number and its entries come back."""
    application = await start_app(redis_url=redis_url)
    cache = cache_of(application)
    assert application.redis is not None
    key = cache.key(QUERY, None, SCOPE)
    generation, _ = await cache.lookup(key)
    await cache.store(generation, key, b"old")
    await application.data_changed()
    await application.redis.set("lm:gen", generation)  # the snapshot's generation
    assert await cache.lookup(key) == (generation + 1, None)
    assert await redis_generation(application) == generation + 1
    assert counter(application, "errors") == 1


async def test_generation_key_expiry_keeps_hits_and_repairs_a_lost_bump(start_app: StartApp, redis_url: str):
    application = await start_app(redis_url=redis_url)
    assert application.redis is not None
    replicas = [
        ResponseCache(application.settings, application.redis, application.db, Telemetry().cache,
                      generation_ttl_seconds=0.2)
        for _ in range(2)
    ]
    writer, other = replicas
    try:
        key = writer.key(QUERY, None, SCOPE)
        generation, _ = await writer.lookup(key)
        await writer.store(generation, key, b"x")
        await asyncio.sleep(0.3)  # lm:gen expired in a quiet period: re-seeded, entries still served
        assert await other.lookup(key) == (generation, b"x")
        # a write whose bump never reached Redis (the writer could not reach it at the time)
        async with application.db.raw_transaction() as conn:
            await bump(conn, Source.INGESTION)
        writer._floor = generation + 1  # what bump() records before it tries Redis
        assert await writer.lookup(key) == (generation + 1, None)  # the writer corrects Redis at once
        await application.redis.set("lm:gen", generation, px=200)  # as if it had not
        await asyncio.sleep(0.3)  # the other replica is repaired from PostgreSQL within the TTL
        assert await other.lookup(key) == (generation + 1, None)
    finally:
        for cache in replicas:
            await cache.close()


async def test_generation_in_redis_only_moves_forward(redis_url: str):
    client = aioredis.from_url(redis_url)
    try:
        advance = client.register_script(ADVANCE_SCRIPT)
        assert await advance(keys=["lm:gen"], args=[10, 5000, "lm:resp:", ""]) == [b"10"]
        assert await advance(keys=["lm:gen"], args=[7, 5000, "lm:resp:", ""]) == [b"10"]  # a late, older bump
        await client.set("lm:resp:12:k", b"body")
        assert await advance(keys=["lm:gen"], args=[12, 5000, "lm:resp:", "k"]) == [b"12", b"body"]
    finally:
        await client.aclose()


async def test_redis_recovers_after_the_backoff(start_app: StartApp, redis_url: str):
    application = await start_app(redis_url=redis_url)
    cache = cache_of(application)
    assert application.redis is not None
    key = cache.key(QUERY, None, SCOPE)
    generation, _ = await cache.lookup(key)
    await cache.store(generation, key, b"cached")
    cache._retry_at = time.monotonic() + 0.2  # as if Redis had just failed
    assert (await cache.lookup(key))[1] is None  # served without the cache
    await asyncio.sleep(0.25)
    assert (await cache.lookup(key))[1] == b"cached"


async def test_stop_unregisters_the_bump(clean_database_url: str):
    application = create_application(make_settings(clean_database_url))
    await application.start(migrate_schema=False)
    assert application.change_listeners == [cache_of(application).bump]
    await application.stop()
    assert application.change_listeners == []
    assert application.cache is None


async def test_cache_can_be_disabled(start_app: StartApp):
    application = await start_app(cache_enabled=False)
    assert application.cache is None
    assert application.change_listeners == []
    await application.data_changed()  # a write still bumps the generation, with no listener to tell
