"""The metrics generation is as durable as the write (SPEC §9, §13): whatever fails after a commit
(the process killed, the connection cut, Redis unreachable), no cached answer older than the
commit is served more than 5 seconds after it, and a client's retry of the same batch leaves
nothing stale at all. Two replicas share one database and one Redis (or, without Redis, each
keeps its own cache); the writes go through the HTTP routes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from loanmetrics.application import Application, create_application
from loanmetrics.graph.app import create_app
from loanmetrics.graph.cache import ResponseCache
from tests.conftest import bearer, make_settings
from tests.test_etl_http import small_book

FRESH_WITHIN = 5.0  # SPEC §9
LOAN = '{ loan(loanId: "L1") { totalOutstanding repayments { repaymentId } } }'
AUDIT = '{ officer(officerId: "OF1") { audit { auditStatus assigneeId } } }'
RUNS = "{ calculationRuns { status calculationType } }"


class Replica:
    """One application (its own cache) and a client on its HTTP app."""

    def __init__(self, application: Application, client: httpx.AsyncClient) -> None:
        self.app = application
        self.client = client

    async def gql(self, query: str, role: str = "viewer") -> dict[str, Any]:
        response = await self.client.post("/graphql", json={"query": query}, headers=bearer(self.app, role))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data


@asynccontextmanager
async def replicas(database_url: str, redis_url: str | None) -> AsyncIterator[tuple[Replica, Replica]]:
    started: list[Application] = []
    clients: list[httpx.AsyncClient] = []
    try:
        for _ in range(2):
            application = create_application(make_settings(database_url, redis_url=redis_url))
            await application.start(migrate_schema=False)
            started.append(application)
            clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(application)),
                                             base_url="http://replica"))
        yield Replica(started[0], clients[0]), Replica(started[1], clients[1])
    finally:
        for client in clients:
            await client.aclose()
        for application in started:
            await application.stop()


async def _nothing(*args: Any, **kwargs: Any) -> None:
    return None


@pytest.fixture
def killed_after_commit(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Nothing that runs after a write's commit runs (a process killed right after the commit):
    the post-commit hooks of every version of the application do nothing. Returns the undo."""
    monkeypatch.setattr(Application, "data_changed", _nothing, raising=False)
    monkeypatch.setattr(Application, "after_commit", _nothing, raising=False)
    return monkeypatch.undo


async def fresh_within(reader: Replica, query: str, is_fresh: Callable[[dict[str, Any]], bool],
                       committed: float) -> float:
    """Seconds after the commit until ``reader`` answers fresh; fails past FRESH_WITHIN."""
    while True:
        data = await reader.gql(query)
        now = time.monotonic()
        if is_fresh(data):
            return now - committed
        assert now - committed < FRESH_WITHIN, f"still stale {now - committed:.1f} s after the commit: {data}"
        await asyncio.sleep(0.2)


def _with_repayment(repayment_id: str) -> dict[str, Any]:
    batch = small_book()
    batch["data"]["repayments"].append({**batch["data"]["repayments"][0], "repayment_id": repayment_id,
                                        "payment_date": "2026-09-02"})
    return batch


def _has(repayment_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: repayment_id in {r["repaymentId"] for r in data["loan"]["repayments"]}


async def _cached(reader: Replica, query: str) -> dict[str, Any]:
    """Read twice: the answer is cached on the reader (a hit the second time)."""
    first = await reader.gql(query)
    assert await reader.gql(query) == first
    return first


@pytest.mark.parametrize("cache", ["redis", "in-process"])
async def test_a_batch_killed_after_its_commit_then_retried(clean_database_url, redis_url, cache,
                                                            killed_after_commit) -> None:
    async with replicas(clean_database_url, redis_url if cache == "redis" else None) as (writer, reader):
        etl = bearer(writer.app, "etl")
        assert (await writer.client.post("/api/v1/etl/sync", json=small_book(), headers=etl)).status_code == 200
        assert not _has("R3")(await _cached(reader, LOAN))

        response = await writer.client.post("/api/v1/etl/sync", json=_with_repayment("R3"), headers=etl)
        committed = time.monotonic()
        assert response.status_code == 200
        assert response.json()["results"]["repayments"]["inserted"] == 1
        await fresh_within(reader, LOAN, _has("R3"), committed)

        # the same again, and the client retries (its first answer lost): the retry alone leaves
        # nothing stale, at once
        response = await writer.client.post("/api/v1/etl/sync", json=_with_repayment("R4"), headers=etl)
        assert response.status_code == 200
        killed_after_commit()  # the server is back
        retried = await writer.client.post("/api/v1/etl/sync", json=_with_repayment("R4"), headers=etl)
        assert retried.json()["results"]["repayments"] == {"inserted": 0, "updated": 0, "unchanged": 3,
                                                           "failed": 0}
        assert _has("R4")(await reader.gql(LOAN))


async def test_a_failing_post_commit_step_neither_fails_the_write_nor_leaves_it_stale(
        clean_database_url, redis_url, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Redis step after the commit fails (the connection cut): the client is told its batch
    committed (it did), and readers follow within seconds."""
    async with replicas(clean_database_url, redis_url) as (writer, reader):
        etl = bearer(writer.app, "etl")
        assert (await writer.client.post("/api/v1/etl/sync", json=small_book(), headers=etl)).status_code == 200
        await _cached(reader, LOAN)

        async def cut(self: ResponseCache) -> None:
            raise ConnectionResetError("connection cut after the commit")

        monkeypatch.setattr(ResponseCache, "bump", cut)
        response = await writer.client.post("/api/v1/etl/sync", json=_with_repayment("R3"), headers=etl)
        committed = time.monotonic()
        assert response.status_code == 200, response.text
        await fresh_within(reader, LOAN, _has("R3"), committed)


async def test_an_audit_change_killed_after_its_commit(clean_database_url, redis_url, killed_after_commit) -> None:
    async with replicas(clean_database_url, redis_url) as (writer, reader):
        assert (await writer.client.post("/api/v1/etl/sync", json=small_book(),
                                         headers=bearer(writer.app, "etl"))).status_code == 200
        await writer.gql('mutation { upsertTeamMember(memberId: "TM1", memberName: "Ada") { memberId } }', "admin")
        assert (await _cached(reader, AUDIT))["officer"]["audit"]["auditStatus"] == "NOT_ASSIGNED"

        await writer.gql('mutation { assignAuditor(officerId: "OF1", assigneeId: "TM1") { version } }', "auditor")
        committed = time.monotonic()
        await fresh_within(reader, AUDIT, lambda data: data["officer"]["audit"] == {
            "auditStatus": "ASSIGNED", "assigneeId": "TM1"}, committed)


async def test_a_recalculation_killed_after_its_commit(clean_database_url, redis_url, killed_after_commit) -> None:
    async with replicas(clean_database_url, redis_url) as (writer, reader):
        assert (await writer.client.post("/api/v1/etl/sync", json=small_book(),
                                         headers=bearer(writer.app, "etl"))).status_code == 200
        assert (await _cached(reader, RUNS))["calculationRuns"] == []

        run = await writer.gql("mutation { recalculate { status } }", "admin")
        committed = time.monotonic()
        assert run["recalculate"]["status"] == "Completed"
        await fresh_within(reader, RUNS, lambda data: data["calculationRuns"] == [
            {"status": "Completed", "calculationType": "manual"}], committed)


async def test_the_generation_is_invisible_until_the_commit(db) -> None:
    """A bump inside an open transaction is not seen by readers (a sequence's nextval would be:
    a reader could then cache pre-commit data under the new number), and is seen after it."""
    from loanmetrics.db import generation

    async def read() -> int:
        async with db.raw_session() as conn:
            return await generation.current(conn)

    before = await read()
    async with db.raw_transaction() as conn:
        await generation.bump(conn, generation.Source.INGESTION)
        assert await generation.current(conn) == before + 1  # the writer's own view
        assert await read() == before
    assert await read() == before + 1

    async def failing_write() -> None:
        async with db.raw_transaction() as conn:
            await generation.bump(conn, generation.Source.AUDIT)
            raise RuntimeError("the write fails")

    with pytest.raises(RuntimeError):
        await failing_write()
    assert await read() == before + 1  # a rolled-back write bumps nothing


