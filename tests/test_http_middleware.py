"""Browser clients (SPEC §11): CORS for the configured origins only, and compression (gzip, br) of
large responses for clients that accept it."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import brotli
import httpx
import orjson
import pytest

from loanmetrics.application import Application, create_application
from loanmetrics.graph.app import create_app
from loanmetrics.settings import Settings
from tests.conftest import bearer, make_settings

DASHBOARD = "https://dash.lender.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.fixture
async def cors_client(clean_database_url: str) -> AsyncIterator[tuple[Application, httpx.AsyncClient]]:
    settings = make_settings(clean_database_url, cors_origins=f"{DASHBOARD}, http://localhost:3000")
    application = create_application(settings)
    await application.start(migrate_schema=False)
    try:
        transport = httpx.ASGITransport(app=create_app(application))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield application, http
    finally:
        await application.stop()


async def test_a_preflight_from_a_configured_origin_passes(cors_client: tuple[Application, httpx.AsyncClient]):
    application, http = cors_client
    response = await http.options("/graphql", headers={"Origin": DASHBOARD, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == DASHBOARD
    assert "POST" in response.headers["access-control-allow-methods"]
    assert {"authorization", "content-type"} <= {
        name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-request-id"]
    # the actual request then carries the CORS answer and exposes the request id
    answer = await http.post("/graphql", json={"query": "{ __typename }"},
                             headers={"Origin": DASHBOARD, **bearer(application, "viewer")})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == DASHBOARD
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()


async def test_a_preflight_from_another_origin_does_not(cors_client: tuple[Application, httpx.AsyncClient]):
    application, http = cors_client
    response = await http.options("/graphql", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    answer = await http.post("/graphql", json={"query": "{ __typename }"},
                             headers={"Origin": "https://evil.example", **bearer(application, "viewer")})
    assert "access-control-allow-origin" not in answer.headers


async def test_no_cors_by_default(client: httpx.AsyncClient):
    response = await client.options("/graphql", headers={"Origin": DASHBOARD, **PREFLIGHT})
    assert response.status_code == 401  # no CORS middleware: the preflight is an unauthenticated request
    assert "access-control-allow-origin" not in response.headers


def test_origins_setting_is_validated():
    assert Settings(cors_origins="https://a.example/, http://127.0.0.1:8080").cors_origins == (
        "https://a.example", "http://127.0.0.1:8080")
    assert Settings().cors_origins == ()
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(cors_origins="https://a.example/dashboard")
    with pytest.raises(ValueError, match="is not an origin"):
        Settings(cors_origins="ftp://a.example")


LARGE_QUERY = "{ __schema { types { name fields { name description } } } }"


async def test_a_large_response_is_compressed_when_asked(client: httpx.AsyncClient, app: Application):
    headers = bearer(app, "viewer")
    plain = await client.post("/graphql", json={"query": LARGE_QUERY},
                              headers={**headers, "Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert "content-encoding" not in plain.headers
    body = plain.content
    assert len(body) > 10_000
    for encoding, decode in (("gzip", gzip.decompress), ("br", brotli.decompress)):
        response = await client.post("/graphql", json={"query": LARGE_QUERY},
                                     headers={**headers, "Accept-Encoding": encoding})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == encoding
        assert "accept-encoding" in response.headers["vary"].lower()
        raw = await _raw_body(client, {"query": LARGE_QUERY}, {**headers, "Accept-Encoding": encoding})
        assert len(raw) < len(body) / 4
        assert orjson.loads(decode(raw)) == orjson.loads(body)


async def test_a_small_response_is_not_compressed(client: httpx.AsyncClient, app: Application):
    response = await client.post("/graphql", json={"query": "{ __typename }"},
                                 headers={**bearer(app, "viewer"), "Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert "content-encoding" not in response.headers


async def _raw_body(client: httpx.AsyncClient, body: object, headers: dict[str, str]) -> bytes:
    """The bytes on the wire (httpx decodes Content-Encoding unless read raw)."""
    request = client.build_request("POST", "/graphql", json=body, headers=headers)
    response = await client.send(request, stream=True)
    try:
        return b"".join([chunk async for chunk in response.aiter_raw()])
    finally:
        await response.aclose()
