"""GraphQL over HTTP (SPEC §6): media-type negotiation, request errors under
application/graphql-response+json, 415 for a POST that is not JSON, the graphql-http audit suite
against a real server (no warning, no error), and automatic persisted queries (Apollo's protocol)
on GET and POST, in process and shared through Redis."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from loanmetrics.application import Application, create_application
from loanmetrics.graph.app import create_app
from loanmetrics.graph.graphql_http import GRAPHQL_RESPONSE, JSON, negotiate
from tests.conftest import IN_CI, bearer, make_settings
from tests.live_server import live_server, token

STRICT = {"Accept": GRAPHQL_RESPONSE}
LEGACY = {"Accept": JSON}


# --- media types and request errors --------------------------------------------------------------


def test_negotiation():
    assert negotiate(None) == JSON
    assert negotiate("") == JSON
    assert negotiate("*/*") == JSON
    assert negotiate("application/json") == JSON
    assert negotiate(GRAPHQL_RESPONSE) == GRAPHQL_RESPONSE
    assert negotiate(f"{GRAPHQL_RESPONSE}, application/json;q=0.9") == GRAPHQL_RESPONSE
    assert negotiate(f"application/json;q=0.5, {GRAPHQL_RESPONSE};q=0.8") == GRAPHQL_RESPONSE
    assert negotiate(f"application/json, {GRAPHQL_RESPONSE}") == JSON  # a tie: the first listed
    assert negotiate("text/html,application/xhtml+xml,*/*;q=0.8") == JSON
    assert negotiate(f"{GRAPHQL_RESPONSE};charset=utf-8") == GRAPHQL_RESPONSE
    assert negotiate(f"{GRAPHQL_RESPONSE};charset=latin-1, application/json") == JSON
    assert negotiate("text/html") is None
    assert negotiate("application/json;q=0") is None


async def _post(client: httpx.AsyncClient, app: Application, body: Any, accept: dict[str, str]) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={**bearer(app, "viewer"), **accept})


async def test_a_validation_error_under_each_media_type(client: httpx.AsyncClient, app: Application):
    body = {"query": "{ teamMember { memberId } }"}
    strict = await _post(client, app, body, STRICT)
    assert strict.status_code == 400
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    document = strict.json()
    assert "data" not in document
    (error,) = document["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean 'teamMembers'?" in error["message"]  # graphql-core's suggestion is kept
    legacy = await _post(client, app, body, LEGACY)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"].startswith(JSON)
    assert legacy.json() == document
    assert legacy.headers["cache-control"] == "no-store"


async def test_parse_and_coercion_errors_are_request_errors(client: httpx.AsyncClient, app: Application):
    parse = await _post(client, app, {"query": "{"}, STRICT)
    assert parse.status_code == 400
    assert [e["extensions"]["code"] for e in parse.json()["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    assert "data" not in parse.json()
    coercion = {"query": "query Q($id: ID!) { officer(officerId: $id) { officerId } }", "variables": {"id": None}}
    refused = await _post(client, app, coercion, STRICT)
    assert refused.status_code == 400
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["BAD_USER_INPUT"]
    assert (await _post(client, app, coercion, LEGACY)).status_code == 200


async def test_field_errors_keep_data_and_200(client: httpx.AsyncClient, app: Application):
    """An error during execution is not a request error: 200 with data under both media types."""
    body = {"query": '{ officers(period: {startDate: "2026-09-10", endDate: "2026-09-01"}) { totalCount } }'}
    for accept in (STRICT, LEGACY):
        response = await _post(client, app, body, accept)
        assert response.status_code == 200
        document = response.json()
        assert document["data"] is None  # present: execution ran, the non-null root field failed
        assert document["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
        assert document["errors"][0]["path"] == ["officers"]


async def test_a_post_without_a_json_content_type_is_415(client: httpx.AsyncClient, app: Application):
    headers = bearer(app, "viewer")
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"):
        extra = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/graphql", content=b'{"query": "{ __typename }"}', headers={**headers, **extra})
        assert response.status_code == 415, content_type
        assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    ok = await client.post("/graphql", content=b'{"query": "{ __typename }"}',
                           headers={**headers, "Content-Type": "application/json; charset=utf-8"})
    assert ok.status_code == 200
    assert ok.json() == {"data": {"__typename": "Query"}}


async def test_an_unacceptable_accept_is_406(client: httpx.AsyncClient, app: Application):
    response = await _post(client, app, {"query": "{ __typename }"}, {"Accept": "text/xml"})
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


async def test_a_mutation_over_get_is_405_with_allow(client: httpx.AsyncClient, app: Application):
    response = await client.get("/graphql", params={"query": "mutation { recalculate { id } }"},
                                headers={**bearer(app, "admin"), **STRICT})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# --- the graphql-http audit suite against a real server ------------------------------------------

AUDIT_SCRIPT = r"""
const [url, token] = process.argv.slice(2);
const { serverAudits } = require('graphql-http');
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers || {});
  headers.set('authorization', 'Bearer ' + token);
  return fetch(input, { ...init, headers });
};
(async () => {
  const results = [];
  for (const audit of serverAudits({ url, fetchFn })) {
    const result = await audit.fn();
    results.push({ id: result.id, name: result.name, status: result.status, reason: result.reason || null });
  }
  process.stdout.write(JSON.stringify(results));
})().catch((error) => { console.error(error); process.exit(2); });
"""


@pytest.fixture(scope="session")
def graphql_http_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """npm's graphql-http, installed once per test session into a temporary directory."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if IN_CI:
            pytest.fail("node and npm are required for the graphql-http audit", pytrace=False)
        pytest.skip("node and npm are not installed")
    prefix = tmp_path_factory.mktemp("graphql-http")
    installed = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                                "graphql-http@1"], capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        if IN_CI:
            pytest.fail(f"npm install graphql-http failed: {installed.stderr[-2000:]}", pytrace=False)
        pytest.skip(f"npm install graphql-http failed: {installed.stderr[-300:]}")
    (prefix / "audit.js").write_text(AUDIT_SCRIPT)
    return prefix


@pytest.fixture
def audited_server(clean_database_url: str) -> Iterator[tuple[str, str]]:
    with live_server(clean_database_url) as server:
        yield server.url, token("viewer")


@pytest.mark.slow
def test_the_graphql_http_audit_is_clean(graphql_http_package: Path, audited_server: tuple[str, str]):
    base, viewer = audited_server
    ran = subprocess.run([shutil.which("node") or "node", str(graphql_http_package / "audit.js"), f"{base}/graphql",
                          viewer], capture_output=True, text=True, timeout=120, cwd=graphql_http_package,
                         env={**os.environ, "NODE_NO_WARNINGS": "1"})
    assert ran.returncode == 0, ran.stderr
    results = json.loads(ran.stdout)
    assert len(results) >= 50
    failing = [f"{r['id']} {r['status']}: {r['name']} ({r['reason']})" for r in results if r["status"] != "ok"]
    assert failing == []


# --- automatic persisted queries -----------------------------------------------------------------

APQ_QUERY = "query Team { teamMembers { memberId } }"


def _hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _extension(document: str, **override: Any) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": _hash(document), **override}}


async def test_apq_round_trip_on_post_and_get(client: httpx.AsyncClient, app: Application):
    headers = bearer(app, "viewer")
    hashed = {"extensions": _extension(APQ_QUERY), "operationName": "Team"}
    miss = await client.post("/graphql", json=hashed, headers=headers)
    assert miss.status_code == 200  # Apollo's protocol under application/json
    assert miss.json() == {"errors": [{"message": "PersistedQueryNotFound",
                                       "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]}
    assert miss.headers["cache-control"] == "no-store"
    strict_miss = await client.post("/graphql", json=hashed, headers={**headers, **STRICT})
    assert strict_miss.status_code == 404
    assert "data" not in strict_miss.json()
    get_params = {"extensions": orjson.dumps(_extension(APQ_QUERY)).decode(), "operationName": "Team"}
    assert (await client.get("/graphql", params=get_params, headers=headers)).json()["errors"][0][
        "extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

    registered = await client.post("/graphql", json={**hashed, "query": APQ_QUERY}, headers=headers)
    assert registered.status_code == 200
    assert registered.json() == {"data": {"teamMembers": []}}
    by_post = await client.post("/graphql", json=hashed, headers=headers)
    assert by_post.json() == {"data": {"teamMembers": []}}
    by_get = await client.get("/graphql", params=get_params, headers={**headers, **STRICT})
    assert by_get.status_code == 200
    assert by_get.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert by_get.json() == {"data": {"teamMembers": []}}


async def test_apq_refusals(client: httpx.AsyncClient, app: Application):
    headers = bearer(app, "admin")
    wrong = await client.post("/graphql", json={"query": APQ_QUERY, "extensions": _extension("{ __typename }")},
                              headers=headers)
    assert wrong.status_code == 400
    assert "does not match" in wrong.json()["errors"][0]["message"]
    not_stored = await client.post("/graphql", json={"extensions": _extension("{ __typename }")}, headers=headers)
    assert not_stored.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    for bad in ({"version": 2}, {"sha256Hash": "abc"}, {"sha256Hash": 7}):
        response = await client.post("/graphql", json={"query": APQ_QUERY, "extensions": _extension(APQ_QUERY, **bad)},
                                     headers=headers)
        assert response.status_code == 400, bad
    # an invalid document is never stored
    broken = "query Broken { teamMember { memberId } }"
    await client.post("/graphql", json={"query": broken, "extensions": _extension(broken)}, headers=headers)
    again = await client.post("/graphql", json={"extensions": _extension(broken)}, headers=headers)
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # a persisted mutation runs on POST only
    mutation = "mutation Member { upsertTeamMember(memberId: \"T9\", memberName: \"Nine\") { memberId } }"
    stored = await client.post("/graphql", json={"query": mutation, "extensions": _extension(mutation)},
                               headers=headers)
    assert stored.json() == {"data": {"upsertTeamMember": {"memberId": "T9"}}}
    over_get = await client.get("/graphql", params={"extensions": orjson.dumps(_extension(mutation)).decode()},
                                headers=headers)
    assert over_get.status_code == 405
    assert over_get.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.fixture
async def two_replicas(clean_database_url: str, redis_url: str) -> AsyncIterator[list[tuple[Application, Any]]]:
    replicas = []
    try:
        for _ in range(2):
            # a generous Redis deadline: this test is about sharing, and a loaded CI machine can
            # take longer than the production 50 ms (the timeout path is the cache tests' subject)
            application = create_application(make_settings(clean_database_url, redis_url=redis_url,
                                                           redis_timeout_ms=2000))
            await application.start(migrate_schema=False)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(application)),
                                     base_url="http://testserver")
            replicas.append((application, http))
        yield replicas
    finally:
        for application, http in replicas:
            await http.aclose()
            await application.stop()


async def test_apq_documents_are_shared_through_redis(two_replicas: list[tuple[Application, Any]]):
    (first, first_http), (second, second_http) = two_replicas
    body = {"query": APQ_QUERY, "extensions": _extension(APQ_QUERY)}
    assert (await first_http.post("/graphql", json=body, headers=bearer(first, "viewer"))).status_code == 200
    response = await second_http.post("/graphql", json={"extensions": _extension(APQ_QUERY)},
                                      headers=bearer(second, "viewer"))
    assert response.json() == {"data": {"teamMembers": []}}
