"""SPEC §13 reliability: a restarted database, a stopped Redis, two replicas, a killed server.

Each test owns the service it breaks (a private embedded PostgreSQL, a private redis-server,
a server subprocess), so breaking it never disturbs the shared services other tests use.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loanmetrics.application import Application, create_application, ensure_database
from loanmetrics.db import migrate
from loanmetrics.db.embedded import EmbeddedPostgres
from loanmetrics.db.engine import create_engine
from loanmetrics.graph.app import create_app
from tests.conftest import IN_CI, JWT_SECRET, bearer, make_settings
from tests.test_etl_http import small_book

OFFICERS = "{ officers(first: 5) { totalCount nodes { officerId audit { auditStatus } } } }"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def embedded_database(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """A migrated database on its own embedded PostgreSQL, and the server handle to stop/start it."""
    embedded = EmbeddedPostgres(tmp_path / "pgdata")
    url = await ensure_database(embedded.start())
    engine = create_engine(url, pool_size=1)
    await migrate.upgrade(engine)
    await engine.dispose()
    try:
        yield url, embedded._server
    finally:
        embedded.stop()


@pytest.fixture
async def embedded_app(embedded_database: tuple[str, Any]) -> AsyncIterator[tuple[Application, Any]]:
    """An application on its own embedded PostgreSQL, and the server handle to stop/start it."""
    url, server = embedded_database
    application = create_application(make_settings(url))
    await application.start(migrate_schema=False)
    try:
        yield application, server
    finally:
        await application.stop()


def _restart(server: Any, *, stopped: bool) -> None:
    with server._lock:
        if stopped:
            server.ensure_postgres_running()
        else:
            server._stop()


@pytest.mark.embedded
async def test_database_restart_answers_503_then_recovers(embedded_app):
    application, server = embedded_app
    transport = httpx.ASGITransport(app=create_app(application))
    headers = bearer(application, "admin")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        assert (await client.post("/api/v1/etl/sync", json=small_book(), headers=headers)).status_code == 200
        assert (await client.post("/graphql", json={"query": OFFICERS}, headers=headers)).status_code == 200

        await asyncio.to_thread(_restart, server, stopped=False)
        down_sync = await client.post("/api/v1/etl/sync", json=small_book(), headers=headers)
        down_graphql = await client.post("/graphql", json={"query": OFFICERS + " "}, headers=headers)
        assert down_sync.status_code == 503
        assert down_sync.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert down_graphql.status_code == 503
        assert (await client.get("/healthz")).status_code == 200
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["database"].startswith("unavailable")

        await asyncio.to_thread(_restart, server, stopped=True)
        deadline = time.monotonic() + 30
        while True:
            again = await client.post("/api/v1/etl/sync", json=small_book(), headers=headers)
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert again.status_code == 200
        assert again.json()["results"]["loans"]["unchanged"] == 2  # nothing lost, nothing doubled
        assert (await client.post("/graphql", json={"query": OFFICERS}, headers=headers)).status_code == 200


OUTAGE_QUERIES = (
    '{ loan(loanId: "L1") { loanId } }',
    '{ loan(loanId: "NO-SUCH-LOAN") { loanId } }',
    '{ officer(officerId: "OF1") { officerId officerName } }',
    '{ officer(officerId: "OF1") { officerId } __typename }',
    "{ officers(first: 2) { totalCount } }",
)


@pytest.mark.embedded
@pytest.mark.parametrize("cache", ["redis", "none"])
async def test_a_database_outage_is_503_whatever_the_query(embedded_database, redis_url, cache):
    """SPEC §13: a request whose execution hit an unavailable database answers 503, never 200
    with null data (a client reads a null loan as "not found"). With Redis (or no cache) nothing
    reads PostgreSQL before the query itself, so each field meets the outage on its own."""
    url, server = embedded_database
    overrides: dict[str, Any] = {"redis_url": redis_url} if cache == "redis" else {"cache_enabled": False}
    application = create_application(make_settings(url, **overrides))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        admin, viewer = bearer(application, "admin"), bearer(application, "viewer")
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.post("/api/v1/etl/sync", json=small_book(), headers=admin)).status_code == 200
            # up: the loan exists (and, with Redis, the generation is known there); the outage's
            # documents are new, so no cached answer can stand in for them
            up = await client.post("/graphql", json={"query": '{ loan(loanId: "L1") { customerId } }'},
                                   headers=viewer)
            assert up.json() == {"data": {"loan": {"customerId": "C1"}}}

            await asyncio.to_thread(_restart, server, stopped=False)
            for query in OUTAGE_QUERIES:
                down = await client.post("/graphql", json={"query": query}, headers=viewer)
                assert down.status_code == 503, (query, down.text)
                codes = {error["extensions"]["code"] for error in down.json()["errors"]}
                assert codes == {"SERVICE_UNAVAILABLE"}, (query, down.text)
            for path in ("/api/v1/metrics/officers/OF1", "/api/v1/metrics/officers"):
                down = await client.get(path, headers=viewer)
                assert down.status_code == 503, (path, down.text)
                assert down.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
            assert (await client.get("/healthz")).status_code == 200

            await asyncio.to_thread(_restart, server, stopped=True)
            deadline = time.monotonic() + 30
            while True:
                again = await client.post("/graphql", json={"query": OUTAGE_QUERIES[0]}, headers=viewer)
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert again.json() == {"data": {"loan": {"loanId": "L1"}}}
    finally:
        await application.stop()


async def test_lost_connections_are_recognised_as_outages(database_url):
    """asyncpg reports a connection PostgreSQL dropped mid-operation in several ways; each is a
    503, while errors of the request itself are not."""
    import asyncpg

    from loanmetrics.db.failures import is_database_unavailable

    conn = await asyncpg.connect(database_url)
    await conn.close()
    with pytest.raises(asyncpg.exceptions.InterfaceError) as closed:
        await conn.fetchval("SELECT 1")
    assert is_database_unavailable(closed.value)
    assert is_database_unavailable(asyncpg.exceptions.InternalClientError("cannot switch to state 12"))
    wrapped = RuntimeError("while reading")
    wrapped.__cause__ = asyncpg.exceptions.InternalClientError("cannot switch to state 12")
    assert is_database_unavailable(wrapped)

    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.exceptions.DataError) as bad_argument:  # the client's value, not an outage
            await conn.fetchval("SELECT $1::int", "not a number")
        with pytest.raises(asyncpg.exceptions.UndefinedTableError) as bad_sql:
            await conn.fetchval("SELECT * FROM no_such_table")
    finally:
        await conn.close()
    assert not is_database_unavailable(bad_argument.value)
    assert not is_database_unavailable(bad_sql.value)
    assert not is_database_unavailable(asyncpg.exceptions.OutdatedSchemaCacheError("cached plan changed"))


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    binary = shutil.which("redis-server")
    if binary is None:
        if IN_CI:
            pytest.fail("redis-server is required in CI", pytrace=False)
        pytest.skip("redis-server is not installed")
    port = _free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.05)
    try:
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_requests_are_served_while_redis_is_down(clean_database_url, private_redis):
    url, redis_process = private_redis
    application = create_application(make_settings(clean_database_url, redis_url=url))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        headers = bearer(application, "viewer")
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            ingest = await client.post("/api/v1/etl/sync", json=small_book(), headers=bearer(application, "etl"))
            assert ingest.status_code == 200
            first = await client.post("/graphql", json={"query": OFFICERS}, headers=headers)
            assert first.status_code == 200
            registry = application.telemetry.registry
            assert (registry.get_sample_value("loanmetrics_cache_misses_total") or 0) >= 1

            redis_process.kill()
            redis_process.wait()
            for _ in range(3):
                started = time.monotonic()
                down = await client.post("/graphql", json={"query": OFFICERS}, headers=headers)
                assert down.status_code == 200
                assert down.json() == first.json()
                assert time.monotonic() - started < 2
            assert (registry.get_sample_value("loanmetrics_cache_errors_total") or 0) >= 1
    finally:
        await application.stop()


async def test_an_audit_change_on_one_replica_is_visible_on_the_other(clean_database_url, redis_url):
    replicas = [create_application(make_settings(clean_database_url, redis_url=redis_url)) for _ in range(2)]
    for replica in replicas:
        await replica.start(migrate_schema=False)
    try:
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(r)), base_url="http://t")
                   for r in replicas]
        a, b = clients
        admin = bearer(replicas[0], "admin")
        assert (await a.post("/api/v1/etl/sync", json=small_book(), headers=admin)).status_code == 200
        member = ('mutation { upsertTeamMember(memberId: "TM9", memberName: "Ngozi", role: "Auditor") '
                  "{ memberId } }")
        assert "errors" not in (await a.post("/graphql", json={"query": member}, headers=admin)).json()
        query = '{ officer(officerId: "OF1") { audit { auditStatus assigneeName version } } }'
        before = (await b.post("/graphql", json={"query": query}, headers=admin)).json()
        assert before["data"]["officer"]["audit"]["auditStatus"] == "NOT_ASSIGNED"
        assert (await b.post("/graphql", json={"query": query}, headers=admin)).json() == before  # cached on B
        assign = 'mutation { assignAuditor(officerId: "OF1", assigneeId: "TM9") { auditStatus version } }'
        assigned = (await a.post("/graphql", json={"query": assign}, headers=admin)).json()
        assert assigned["data"]["assignAuditor"]["auditStatus"] == "ASSIGNED"
        after = (await b.post("/graphql", json={"query": query}, headers=admin)).json()
        assert after["data"]["officer"]["audit"] == {"auditStatus": "ASSIGNED", "assigneeName": "Ngozi",
                                                      "version": before["data"]["officer"]["audit"]["version"] + 1}
        for client in clients:
            await client.aclose()
    finally:
        for replica in replicas:
            await replica.stop()


def _book(loans: int) -> dict[str, Any]:
    """A batch big enough to take a while to ingest: loans with weekly schedules and repayments."""
    from datetime import date, timedelta

    data: dict[str, list[dict[str, Any]]] = {"loans": [], "loan_schedules": [], "repayments": []}
    start = date(2026, 6, 1)
    for n in range(loans):
        loan_id = f"K{n:05d}"
        data["loans"].append({
            "loan_id": loan_id, "customer_id": f"C{n % 500}", "customer_name": "Customer", "officer_id": f"O{n % 7}",
            "officer_name": "Officer", "region": "North", "branch": "Alpha", "loan_amount": "1200.00",
            "disbursement_date": start.isoformat(), "maturity_date": (start + timedelta(days=84)).isoformat(),
            "loan_term_days": 84, "channel": "Branch", "status": "Active",
        })
        for k in range(12):
            data["loan_schedules"].append({
                "loan_id": loan_id, "installment_number": k + 1,
                "due_date": (start + timedelta(days=7 * (k + 1))).isoformat(), "principal_due": "100.00",
                "interest_due": "0.00", "fee_due": "0.00", "total_due": "100.00",
            })
        for k in range(6):
            data["repayments"].append({
                "repayment_id": f"{loan_id}-{k}", "loan_id": loan_id,
                "payment_date": (start + timedelta(days=7 * (k + 1))).isoformat(), "payment_amount": "100.00",
                "principal_paid": "100.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
                "is_reversed": False,
            })
    return {"data": data}


def test_server_killed_mid_batch_then_retried(clean_database_url, tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANMETRICS_") and k != "REDIS_URL"}
    env.update(DATABASE_URL=clean_database_url, LOANMETRICS_JWT_SECRET=JWT_SECRET, LOANMETRICS_TODAY="2026-09-18",
               LOANMETRICS_LOG_LEVEL="WARNING")
    binary = str(Path(sys.executable).parent / "loanmetrics")
    token = subprocess.run([binary, "token", "create", "--role", "etl"], env=env, capture_output=True, text=True,
                           check=True, timeout=60).stdout.strip()
    headers = {"Authorization": f"Bearer {token}"}
    body = _book(1500)  # 28,500 records: takes long enough to be killed in the middle

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([binary, "serve", "--port", str(port), "--no-scheduler", "--no-migrate"], env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return process
            except httpx.HTTPError:
                time.sleep(0.2)
        process.kill()
        raise AssertionError("server did not start")

    server = start()
    try:
        with httpx.Client(timeout=60) as client:
            request = client.build_request("POST", f"http://127.0.0.1:{port}/api/v1/etl/sync", json=body,
                                           headers=headers)

            def kill_soon() -> None:
                # in the middle of the batch: once its transaction has written (a timer raced a
                # fast machine, which finished the batch first)
                asyncio.run(_wait_for_a_writing_transaction(clean_database_url))
                server.send_signal(signal.SIGKILL)

            import threading

            threading.Thread(target=kill_soon, daemon=True).start()
            with pytest.raises(httpx.HTTPError):
                client.send(request)
        server.wait(timeout=30)
        counts = asyncio.run(_counts(clean_database_url))
        assert counts in ({"loans": 0, "loan_schedule": 0, "repayments": 0, "loan_state": 0},
                          {"loans": 1500, "loan_schedule": 18000, "repayments": 9000, "loan_state": 1500})
        server = start()
        with httpx.Client(timeout=120) as client:
            retried = client.post(f"http://127.0.0.1:{port}/api/v1/etl/sync", json=body, headers=headers)
        assert retried.status_code == 200
        assert asyncio.run(_counts(clean_database_url)) == {
            "loans": 1500, "loan_schedule": 18000, "repayments": 9000, "loan_state": 1500}
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


async def _wait_for_a_writing_transaction(url: str, within_s: float = 30.0) -> None:
    """Until another session of the database holds a transaction that has written a row."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"):
                return
            await asyncio.sleep(0.005)
    finally:
        await conn.close()


async def _counts(url: str) -> dict[str, int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return {table: int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
                for table in ("loans", "loan_schedule", "repayments", "loan_state")}
    finally:
        await conn.close()
