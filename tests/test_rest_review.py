"""REST review fixes: enumerated parameters match the OpenAPI document's values exactly, window
errors name the REST parameter rather than GraphQL's ``period``, and unknown paths and wrong
methods under /api/v1 answer in the REST error envelope."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from loanmetrics.application import Application
from tests import test_rest
from tests.conftest import BUSINESS_DATE, bearer, make_settings
from tests.test_rest import Rest

book = test_rest.book  # the example book, recalculated (fixture)
rest = test_rest.rest  # REST calls checked against the OpenAPI document (fixture)

OFFICERS = "/api/v1/metrics/officers"
FIMR = "/api/v1/loans/fimr-drilldown"
EARLY = "/api/v1/loans/early-indicators-drilldown"
TEAM = "/api/v1/audit/team-members"

CASE_VARIANTS = [
    (OFFICERS, "order", "ASC", ["asc", "desc"]),
    (OFFICERS, "order", "Desc", ["asc", "desc"]),
    (OFFICERS, "sort", "RISK_SCORE", None),
    (OFFICERS, "risk_band", "green", ["Green", "Watch", "Amber", "Red"]),
    (OFFICERS, "risk_band", "GREEN", ["Green", "Watch", "Amber", "Red"]),
    (OFFICERS, "format", "CSV", ["json", "csv"]),
    ("/api/v1/metrics/branches", "format", "Json", ["json", "csv"]),
    (FIMR, "fimr_tagged", "TRUE", None),
    (FIMR, "fimr_tagged", "1", None),
    (FIMR, "format", "CSV", ["json", "csv"]),
    (EARLY, "early_indicator_tagged", "False", None),
    (EARLY, "early_indicator_tagged", "0", None),
    (TEAM, "active_only", "TRUE", None),
    (TEAM, "active_only", "yes", None),
]


@pytest.mark.parametrize(("path", "name", "value", "allowed"), CASE_VARIANTS)
async def test_a_case_variant_of_an_enumerated_parameter_is_refused(rest: Rest, path, name, value, allowed) -> None:
    error = await rest.error("GET", f"{path}?{name}={value}", 400)
    assert error["code"] == "BAD_REQUEST"
    assert error["details"]["parameter"] == name
    assert error["details"]["value"] == value
    assert error["message"].startswith(f"{name} must be ")
    if allowed is not None:
        assert error["details"]["allowed"] == allowed


async def test_the_documented_values_are_accepted(rest: Rest, client: httpx.AsyncClient, book: Application) -> None:
    document = (await client.get("/api/v1/openapi.json", headers=bearer(book, "viewer"))).json()
    for path in (OFFICERS, FIMR, EARLY, TEAM):
        for parameter in document["paths"][path]["get"]["parameters"]:
            schema = parameter["schema"]
            values = [v for v in schema.get("enum", []) if v] or (["true", "false"] if schema["type"] == "boolean"
                                                                   else [])
            for value in values:
                if parameter["name"] == "format" and value == "csv":
                    response = await client.get(f"{path}?format=csv", headers=bearer(book, "admin"))
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith("text/csv")
                    continue
                await rest.get(f"{path}?{parameter['name']}={value}")
    green = (await rest.get(f"{OFFICERS}?risk_band=Green"))["data"]
    assert {row["officer_id"] for row in green} == {"OFF0001", "OFF0002", "OFF0003", "OFF0006"}


async def test_an_audit_status_in_another_case_is_refused(rest: Rest) -> None:
    error = await rest.error("PUT", "/api/v1/audit/officers/OFF0001/status", 400, "auditor",
                             json={"status": "resolved"})
    assert error["details"] == {"field": "status", "expected": "one of Not Assigned, Assigned, In Progress, Resolved",
                                "value": "resolved", "allowed": ["Not Assigned", "Assigned", "In Progress", "Resolved"]}


WINDOW_ERRORS = [
    (f"{OFFICERS}?end_date=2026-09-19", "end_date is after the business date (2026-09-18)", "end_date"),
    (f"{OFFICERS}?date=2026-10-01", "date is after the business date (2026-09-18)", "date"),
    (f"{OFFICERS}?start_date=2026-09-19", "start_date is after the business date (2026-09-18)", "start_date"),
    (f"{OFFICERS}?start_date=2026-09-10&end_date=2026-09-01", "start_date is after end_date", "start_date"),
    (f"{OFFICERS}?start_date=2026-09-10&date=2026-09-01", "start_date is after date", "start_date"),
    (f"{OFFICERS}?date=2026-09-10&end_date=2026-09-10", "give date or end_date, not both", "end_date"),
    (f"{OFFICERS}/OFF0001?date=2026-09-19", "date is after the business date (2026-09-18)", "date"),
    ("/api/v1/metrics/branches?date=2027-01-01", "date is after the business date (2026-09-18)", "date"),
]


@pytest.mark.parametrize(("url", "message", "parameter"), WINDOW_ERRORS)
async def test_a_bad_window_names_the_rest_parameter(rest: Rest, url, message, parameter) -> None:
    for csv in ("", "&format=csv") if "OFF0001" not in url else ("",):
        error = await rest.error("GET", url + csv, 400)
        assert error["message"] == message
        assert error["details"]["parameter"] == parameter
        assert "period" not in str(error)


async def test_a_start_after_the_latest_calculated_date_names_start_date(book: Application) -> None:
    """The window's end defaults to the latest calculated date (here 2026-09-18, five days before
    the business date): GraphQL refuses ``period.startDate``; REST names start_date."""
    from loanmetrics.application import create_application
    from loanmetrics.graph.app import create_app

    later = create_application(make_settings(book.settings.database_url, today=BUSINESS_DATE + timedelta(days=5)))
    await later.start(migrate_schema=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(later)),
                                     base_url="http://testserver") as http:
            error = await Rest(http, later).error("GET", f"{OFFICERS}?start_date=2026-09-20", 400)
            csv = await http.get(f"{OFFICERS}?start_date=2026-09-20&format=csv", headers=bearer(later, "admin"))
    finally:
        await later.stop()
    expected = {"code": "BAD_REQUEST", "message": "start_date is after the window's end (the latest calculated date)",
                "details": {"parameter": "start_date", "value": "2026-09-20"}}
    assert error == expected
    assert csv.status_code == 400
    assert csv.json()["error"] == expected


def _envelope(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"success", "error"}
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    return error


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/metrics/officers/OFF0001/extra", "/api/v1",
                                  "/api/v1/metrics"])
async def test_an_unknown_api_path_is_a_404_in_the_envelope(client: httpx.AsyncClient, app: Application, path) -> None:
    response = await client.get(path, headers=bearer(app, "admin"))
    assert response.status_code == 404
    assert _envelope(response) == {"code": "NOT_FOUND", "message": f"no route {path}", "details": {"path": path}}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/v1/etl/sync", ["POST"]),
    ("DELETE", "/api/v1/etl/sync", ["POST"]),
    ("POST", "/api/v1/openapi.json", ["GET", "HEAD"]),
    ("PUT", "/api/v1/docs", ["GET", "HEAD"]),
    ("DELETE", OFFICERS, ["GET"]),
])
async def test_a_wrong_method_under_the_api_is_a_405_in_the_envelope(client: httpx.AsyncClient, app: Application,
                                                                      method, path, allowed) -> None:
    response = await client.request(method, path, headers=bearer(app, "etl" if "etl" in path else "admin"))
    assert response.status_code == 405
    assert _envelope(response) == {"code": "METHOD_NOT_ALLOWED", "message": f"use {', '.join(allowed)}",
                                   "details": {"allowed": allowed}}
    assert sorted(m.strip() for m in response.headers["allow"].split(",")) == allowed


async def test_paths_outside_the_api_keep_starlettes_answers(client: httpx.AsyncClient, app: Application) -> None:
    missing = await client.get("/nope", headers=bearer(app, "admin"))
    assert (missing.status_code, missing.headers["content-type"], missing.text) == (
        404, "text/plain; charset=utf-8", "Not Found")
    wrong = await client.post("/healthz")
    assert (wrong.status_code, wrong.text) == (405, "Method Not Allowed")
    assert "GET" in wrong.headers["allow"]
    # /api/v1x is not under /api/v1
    assert (await client.get("/api/v1x", headers=bearer(app, "admin"))).text == "Not Found"
