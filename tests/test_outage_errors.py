"""Connection-level errors of a database outage are classified as unavailable (503, SPEC §9/§13),
raised here from real connections whose backends PostgreSQL terminated."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from loanmetrics.application import create_application
from loanmetrics.db.failures import is_database_unavailable
from loanmetrics.graph.app import create_app
from tests.conftest import bearer, make_settings


async def _terminate(url: str, application_name: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()",
            application_name))
    finally:
        await conn.close()


async def test_a_pooled_connection_lost_mid_request_is_an_outage(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1,
                                     server_settings={"application_name": "lm-outage-test"})
    assert pool is not None
    seen: list[BaseException] = []
    try:
        async with pool.acquire() as proxy:
            assert await _terminate(database_url, "lm-outage-test") == 1
            await asyncio.sleep(0.2)
            for _ in range(2):  # the first call finds the connection gone, the next its proxy detached
                with pytest.raises((asyncpg.exceptions.InterfaceError, asyncpg.PostgresError)) as caught:
                    await proxy.fetchval("SELECT 1")
                seen.append(caught.value)
    finally:
        await pool.close()
    assert any("released back to the pool" in str(exc) for exc in seen), seen
    assert [is_database_unavailable(exc) for exc in seen] == [True, True], seen
    with pytest.raises(asyncpg.exceptions.InterfaceError) as closed_pool:
        await pool.fetchval("SELECT 1")
    assert "pool is closed" in str(closed_pool.value)
    assert is_database_unavailable(closed_pool.value)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.ConnectionFailureError("could not send data to server"),
    asyncpg.exceptions.ClientCannotConnectError("could not connect"),
    asyncpg.exceptions.ConnectionRejectionError("rejected"),
    asyncpg.exceptions.TransactionResolutionUnknownError("unknown"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.exceptions.IdleSessionTimeoutError("terminating connection due to idle-session timeout"),
    asyncpg.exceptions.InterfaceError("cannot call PreparedStatement.fetch(): the underlying connection is closed"),
    asyncpg.exceptions.InterfaceError("pool is closing"),
])
def test_every_connection_class_error_is_an_outage(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"),
])
def test_errors_of_the_request_itself_are_not(error: BaseException) -> None:
    assert not is_database_unavailable(error)


async def test_requests_whose_connections_were_terminated_answer_503_never_500(clean_database_url: str) -> None:
    application = create_application(make_settings(clean_database_url))
    await application.start(migrate_schema=False)
    statuses: list[int] = []
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = bearer(application, "admin")
            query: dict[str, Any] = {"query": "{ officers { totalCount } regions { region } calculationRuns { id } }"}
            assert (await client.post("/graphql", json=query, headers=headers)).status_code == 200

            async def ask() -> None:
                for _ in range(20):
                    response = await client.post("/graphql", json=query, headers=headers)
                    statuses.append(response.status_code)
                    rest = await client.get("/api/v1/metrics/branches", headers=headers)
                    statuses.append(rest.status_code)

            async def terminate() -> None:
                for _ in range(20):
                    await _terminate(clean_database_url, "loanmetrics")
                    await asyncio.sleep(0.005)

            await asyncio.gather(ask(), ask(), terminate())
    finally:
        await application.stop()
    assert set(statuses) <= {200, 503}, statuses
    assert 500 not in statuses
