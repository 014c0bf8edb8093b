"""``/readyz`` (SPEC §11) and the public routes (SPEC §10): readiness is public, follows the
database and its migrations only (Redis down or slow is reported as degraded, and is no reason to
pull a replica that serves every request without it), logs nothing per probe and answers in a few
milliseconds; an ``etl`` token may call the ETL route and the public routes only."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from starlette.routing import Route

from loanmetrics.application import Application, create_application
from loanmetrics.graph.app import PUBLIC_PATHS, create_app
from loanmetrics.graph.pages import PUBLIC_PAGES
from loanmetrics.graph.rest import ENDPOINTS
from tests.conftest import bearer, create_database, drop_database, make_settings
from tests.live_server import free_port
from tests.test_reliability import private_redis  # noqa: F401 - a fixture used below

READY = {"database": "ok", "migrations": "current"}


@asynccontextmanager
async def serving(database_url: str, **overrides: Any) -> AsyncIterator[tuple[Application, httpx.AsyncClient]]:
    application = create_application(make_settings(database_url, **overrides))
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client
    finally:
        await application.stop()


async def test_readiness_is_public_and_quiet(clean_database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with serving(clean_database_url) as (_, client):
        await client.get("/readyz")  # the first probe warms the pool
        caplog.clear()
        caplog.set_level(logging.DEBUG)
        took = []
        for _ in range(20):
            began = time.perf_counter()
            response = await client.get("/readyz")
            took.append(time.perf_counter() - began)
            assert response.status_code == 200
            assert response.json() == {"status": "ready", "checks": READY}
        assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
        assert statistics.median(took) < 0.05, took


async def test_redis_down_or_slow_is_degraded_not_unready(clean_database_url: str, private_redis) -> None:  # noqa: F811
    url, _ = private_redis
    async with serving(clean_database_url, redis_url=url) as (_, client):
        up = await client.get("/readyz")
        assert (up.status_code, up.json()["checks"]) == (200, {**READY, "redis": "ok"})
        pauser = aioredis.from_url(url)
        try:
            await pauser.execute_command("CLIENT", "PAUSE", "3000", "ALL")  # every command waits 3 s: slow
            began = time.perf_counter()
            slow = await client.get("/readyz")
            assert time.perf_counter() - began < 1.0
            assert (slow.status_code, slow.json()) == (
                200, {"status": "ready", "checks": {**READY, "redis": "degraded"}})
        finally:
            await pauser.aclose()
    refused = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there: down
    async with serving(clean_database_url, redis_url=refused) as (_, client):
        down = await client.get("/readyz")
        assert (down.status_code, down.json()["checks"]) == (200, {**READY, "redis": "degraded"})


async def test_pending_migrations_are_not_ready() -> None:
    url = await create_database("lm_ready")
    try:
        async with serving(url) as (_, client):
            assert (await client.get("/readyz")).status_code == 200
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("UPDATE alembic_version SET version_num = '0010'")
                pending = await client.get("/readyz")
                assert (pending.status_code, pending.json()) == (
                    503, {"status": "not ready", "checks": {"database": "ok", "migrations": "pending"}})
                await conn.execute("DROP TABLE alembic_version")
                never = await client.get("/readyz")
                assert (never.status_code, never.json()["checks"]["migrations"]) == (503, "pending")
            finally:
                await conn.close()
    finally:
        await drop_database(url)


async def test_the_openapi_document_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    assert {"/healthz", "/readyz", "/api/v1/openapi.json"} <= PUBLIC_PATHS


def _data_routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every route of the app but the public ones and the ETL route."""
    routes = {(endpoint.method, endpoint.path) for endpoint in ENDPOINTS}
    rest_paths = {endpoint.path for endpoint in ENDPOINTS}
    for route in app.routes:
        if route.path in rest_paths or not isinstance(route, Route):  # the static Mount is public
            continue
        routes.update((method, route.path) for method in route.methods or () if method != "HEAD")
    return sorted((method, path.replace("{officer_id}", "OF1")) for method, path in routes
                  if path not in PUBLIC_PATHS | PUBLIC_PAGES and path != "/api/v1/etl/sync")


async def test_an_etl_token_reaches_only_the_etl_route_and_the_public_ones(app: Application,
                                                                           client: httpx.AsyncClient) -> None:
    headers = bearer(app, "etl")
    routes = _data_routes(create_app(app))
    assert ("POST", "/graphql") in routes
    assert ("GET", "/metrics") in routes
    assert ("GET", "/api/v1/metrics/officers/OF1") in routes
    assert len(routes) >= 12
    for method, path in routes:
        response = await client.request(method, path, headers=headers, json={})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "FORBIDDEN"
    for path in sorted(PUBLIC_PATHS):
        assert (await client.get(path, headers=headers)).status_code == 200, path
    synced = await client.post("/api/v1/etl/sync", json={"data": {}}, headers=headers)
    assert synced.status_code == 200
