"""The access log (SPEC §11): exactly one JSON line per request, whatever answers it, with method,
path, status, duration, GraphQL operation, caller's role and the request id of X-Request-ID."""

from __future__ import annotations

import io
import logging
from typing import Any

import httpx
import orjson

from loanmetrics.application import Application
from loanmetrics.graph.access_log import ACCESS_LOGGER
from loanmetrics.logs import RequestIdFilter, json_formatter, request_id_var
from tests.conftest import bearer


async def _lines_of(client: httpx.AsyncClient, *requests: tuple[str, str, dict[str, Any]]) -> list[dict[str, Any]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(json_formatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for method, url, options in requests:
            await client.request(method, url, **options)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


async def test_one_line_per_request_with_its_status_path_role_and_request_id(client: httpx.AsyncClient,
                                                                              app: Application):
    viewer = bearer(app, "viewer")
    query = {"query": "query Probe { __typename }", "operationName": "Probe"}
    lines = await _lines_of(
        client,
        ("GET", "/no-such-page", {"headers": {**viewer, "X-Request-ID": "trace-404"}}),
        ("GET", "/metrics", {"headers": {"X-Request-ID": "trace-401"}}),
        ("GET", "/api/v1/metrics/branches", {"headers": {**bearer(app, "etl"), "X-Request-ID": "trace-403"}}),
        ("POST", "/graphql", {"json": query, "headers": {**viewer, "X-Request-ID": "trace-200"}}),
        ("GET", "/healthz", {}),
    )
    assert len(lines) == 5
    not_found, unauthenticated, forbidden, ok, health = lines
    assert {key: not_found[key] for key in ("logger", "level", "message", "method", "path", "status", "operation",
                                             "role", "request_id")} == {
        "logger": ACCESS_LOGGER, "level": "INFO", "message": "GET /no-such-page 404", "method": "GET",
        "path": "/no-such-page", "status": 404, "operation": None, "role": "viewer", "request_id": "trace-404"}
    assert (unauthenticated["status"], unauthenticated["path"], unauthenticated["role"],
            unauthenticated["request_id"]) == (401, "/metrics", None, "trace-401")
    assert (forbidden["status"], forbidden["role"], forbidden["request_id"]) == (403, "etl", "trace-403")
    assert (ok["status"], ok["method"], ok["path"], ok["operation"], ok["role"], ok["request_id"]) == (
        200, "POST", "/graphql", "Probe", "viewer", "trace-200")
    assert health["status"] == 200
    assert len(health["request_id"]) == 32  # none sent: a random one
    for line in lines:
        assert isinstance(line["duration_ms"], float)
        assert 0 <= line["duration_ms"] < 10_000
        assert "time" in line


async def test_the_request_id_in_the_line_is_the_response_header(client: httpx.AsyncClient):
    responses: list[httpx.Response] = []

    async def capture(response: httpx.Response) -> None:
        responses.append(response)

    client.event_hooks["response"].append(capture)
    try:  # no token: 401, an id chosen by the server
        (line,) = await _lines_of(client, ("GET", "/api/v1/filters/options", {}))
    finally:
        client.event_hooks["response"].remove(capture)
    (response,) = responses
    assert response.status_code == 401
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["status"] == 401


def test_json_lines_keep_uvicorn_colour_codes_out():
    """uvicorn passes ``color_message`` (with terminal escapes) as an extra on its own lines."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started server process [%d]", (42,), None)
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    token = request_id_var.set("rid-1")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json_formatter().format(record)
    assert "\x1b" not in line
    document = orjson.loads(line)
    assert "color_message" not in document
    assert document["message"] == "Started server process [42]"
    assert document["request_id"] == "rid-1"
    assert (document["level"], document["logger"]) == ("INFO", "uvicorn.error")
