"""Early answers to clients still sending a body (SPEC §10): a 401 or 403 to a client posting
megabytes must reach it (the server reads the rest of the body first) rather than a reset that
the client reports as "Broken pipe". A real uvicorn server and Python's own HTTP clients."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import LiveServer, live_server

BODY = json.dumps({"data": {"repayments": [
    {"repayment_id": f"R{n:07d}", "loan_id": "L1", "payment_date": "2026-09-01", "payment_amount": "10.00",
     "principal_paid": "10.00", "interest_paid": "0", "fees_paid": "0", "payment_method": "Cash",
     "is_reversed": False} for n in range(16_000)]}}).encode()


@pytest.fixture
def server(clean_database_url: str, tmp_path: Path) -> Any:
    with live_server(clean_database_url, tmp_path / "server.log") as running:
        yield running


def _post(server: LiveServer, path: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{server.url}{path}", data=BODY, method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_a_large_body_without_a_token_reads_its_401(server: LiveServer) -> None:
    assert len(BODY) > 3_000_000
    for _ in range(5):
        status, body = _post(server, "/api/v1/etl/sync", {})
        assert status == 401
        assert body["error"]["code"] == "UNAUTHENTICATED"
        status, body = _post(server, "/api/v1/etl/sync", {"Authorization": "Bearer not-a-token"})
        assert status == 401


def test_a_large_body_with_the_wrong_role_reads_its_403(server: LiveServer) -> None:
    for _ in range(5):
        status, body = _post(server, "/api/v1/etl/sync", server.headers("viewer"))
        assert status == 403
        assert body["error"]["code"] == "FORBIDDEN"
        status, body = _post(server, "/graphql", server.headers("etl"))
        assert status == 403


def test_the_connection_stays_usable_after_an_early_answer(server: LiveServer) -> None:
    """Reading the rest of the body keeps a keep-alive connection usable (urllib above sends
    ``Connection: close``, which is where the resets showed)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/api/v1/etl/sync", body=BODY, headers={"Content-Type": "application/json"})
        first = connection.getresponse()
        assert first.status == 401
        assert json.loads(first.read())["error"]["code"] == "UNAUTHENTICATED"
        assert first.getheader("connection") != "close"
        socket = connection.sock
        assert socket is not None
        connection.request("GET", "/healthz")
        assert connection.sock is socket  # the same connection, not a new one
        second = connection.getresponse()
        assert (second.status, json.loads(second.read())) == (200, {"status": "ok"})
    finally:
        connection.close()
