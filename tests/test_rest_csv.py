"""CSV exports of the REST list routes (SPEC §7): the JSON row's columns and values, the same
filters, scope and phone masking, the whole filtered list streamed page by page."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import httpx
import pytest

from loanmetrics.application import Application
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.metric_engine import EngineOptions
from loanmetrics.graph.rest import csv_export
from loanmetrics.graph.rest.csv_export import cell, encode_rows, prefers_csv
from loanmetrics.graph.rest.shapes import Json, Out
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, bearer
from tests.graphql_support import mask_phone


@pytest.fixture
async def book(app: Application, example_payload: dict[str, Any]) -> Application:
    result = await ingest(app.db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    run = await recalculate(app.db, EngineOptions(), as_of=BUSINESS_DATE, start=date(2026, 9, 1))
    assert run.status == "Completed"
    return app


async def _json(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


async def _csv(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[list[str]]:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.text)))


def assert_same_rows(table: list[list[str]], rows: list[dict[str, Any]]) -> None:
    """Header = the JSON keys in order; each cell the JSON value."""
    header, *body = table
    assert rows, "nothing to compare"
    assert header == list(rows[0])
    assert len(body) == len(rows)
    for line, row in zip(body, rows, strict=True):
        for text, (key, value) in zip(line, row.items(), strict=True):
            if value is None:
                assert text == "", key
            elif isinstance(value, bool):
                assert text == ("true" if value else "false"), key
            elif isinstance(value, int | float):
                assert float(text) == value, key
                assert text[0] in "-0123456789", key  # a number, negative ones too, never quoted
            elif value.startswith(("=", "+", "-", "@", "\t", "\r")):
                assert text == "'" + value, key  # could start a formula: quoted
            else:
                assert text == value, key


async def test_the_officer_list_csv_has_one_row_per_officer_with_the_json_values(client: httpx.AsyncClient,
                                                                                 book: Application):
    headers = bearer(book, "viewer")
    rows = await _json(client, "/api/v1/metrics/officers?per_page=500", headers)
    assert len(rows) == 6
    table = await _csv(client, "/api/v1/metrics/officers?format=csv", headers)
    assert_same_rows(table, rows)
    assert [line[0] for line in table[1:]] == [row["officer_id"] for row in rows]
    accepted = await _csv(client, "/api/v1/metrics/officers", {**headers, "Accept": "text/csv"})
    assert accepted == table
    # the same filters and sort as the JSON
    query = "region=Lagos&sort=officer_name&order=asc"
    assert_same_rows(await _csv(client, f"/api/v1/metrics/officers?format=csv&{query}", headers),
                     await _json(client, f"/api/v1/metrics/officers?{query}", headers))


async def test_the_whole_list_is_streamed_page_by_page(client: httpx.AsyncClient, book: Application,
                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(csv_export, "EXPORT_PAGE", 2)  # 6 officers: three pages, two cursors
    headers = bearer(book, "admin")
    rows = await _json(client, "/api/v1/metrics/officers?per_page=500&sort=portfolio_total", headers)
    assert_same_rows(await _csv(client, "/api/v1/metrics/officers?format=csv&sort=portfolio_total", headers), rows)
    loans = await _json(client, "/api/v1/loans/early-indicators-drilldown?per_page=500&early_indicator_tagged=false",
                        headers)
    assert len(loans) > 4
    assert_same_rows(await _csv(client, "/api/v1/loans/early-indicators-drilldown?format=csv"
                                        "&early_indicator_tagged=false", headers), loans)


async def test_an_explicit_page_exports_that_page(client: httpx.AsyncClient, book: Application):
    headers = bearer(book, "viewer")
    rows = await _json(client, "/api/v1/metrics/officers?page=2&per_page=4", headers)
    assert len(rows) == 2
    assert_same_rows(await _csv(client, "/api/v1/metrics/officers?page=2&per_page=4&format=csv", headers), rows)


async def test_a_scoped_viewers_drilldown_csv_has_only_its_rows_and_masked_phones(client: httpx.AsyncClient,
                                                                                 book: Application):
    viewer = bearer(book, "viewer", branches=("Yaba",))
    url = "/api/v1/loans/fimr-drilldown?fimr_tagged=false"
    rows = await _json(client, f"{url}&per_page=500", viewer)
    table = await _csv(client, f"{url}&format=csv", viewer)
    assert_same_rows(table, rows)
    everyone = await _json(client, f"{url}&per_page=500", bearer(book, "admin"))
    assert len(everyone) > len(rows) > 0
    header = table[0]
    branch, phone, loan = header.index("branch"), header.index("customer_phone"), header.index("loan_id")
    assert {line[branch] for line in table[1:]} == {"Yaba"}
    unmasked = {row["loan_id"]: row["customer_phone"] for row in everyone}
    for line in table[1:]:
        masked = mask_phone(unmasked[line[loan]])
        assert masked is not None
        assert line[phone] == ("'" + masked if masked.startswith("+") else masked)
        assert line[phone] != unmasked[line[loan]]


async def test_branches_csv(client: httpx.AsyncClient, book: Application):
    headers = bearer(book, "viewer")
    assert_same_rows(await _csv(client, "/api/v1/metrics/branches?format=csv", headers),
                     await _json(client, "/api/v1/metrics/branches", headers))


async def test_json_stays_the_default_and_errors_stay_json(client: httpx.AsyncClient, book: Application):
    headers = bearer(book, "viewer")
    response = await client.get("/api/v1/metrics/officers", headers={**headers, "Accept": "application/json, text/csv"})
    assert response.headers["content-type"].startswith("application/json")
    forced = await client.get("/api/v1/metrics/officers?format=json", headers={**headers, "Accept": "text/csv"})
    assert forced.headers["content-type"].startswith("application/json")
    refused = await client.get("/api/v1/metrics/officers?format=csv&date=2030-01-01", headers=headers)
    assert refused.status_code == 400
    assert refused.json()["success"] is False
    bad = await client.get("/api/v1/metrics/officers?format=xml", headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"]["details"]["parameter"] == "format"


def test_cells():
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell(0.1) == "0.1"
    assert cell(12) == "12"
    assert cell("Ada") == "Ada"
    # text starting with a formula character is quoted, whatever follows (a spreadsheet computes
    # "-2-3" and "+1" as formulas); a masked phone in a text column too
    for formula in ("=HYPERLINK(\"x\")", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "\t=1",
                    "\r=1", "-2-3", "+1", "-(1)", "-12.5", "+234****567", "=1"):
        assert cell(formula) == "'" + formula
        assert cell(formula, Json.STRING) == "'" + formula
    # numbers stay numbers: JSON numbers, and plain numbers written as text in a numeric column
    assert cell(-12.5, Json.NUMBER) == "-12.5"
    assert cell(-3, Json.INTEGER) == "-3"
    assert cell(-3) == "-3"
    assert cell("-12.5", Json.NUMBER) == "-12.5"
    assert cell("-4", Json.INTEGER) == "-4"
    assert cell("-2-3", Json.NUMBER) == "'-2-3"  # not a plain number: quoted even in a numeric column
    assert cell("=1", Json.INTEGER) == "'=1"
    assert cell("a=1") == "a=1"
    assert prefers_csv("text/csv")
    assert prefers_csv("text/csv, application/json;q=0.5")
    assert not prefers_csv("application/json, text/csv")
    assert not prefers_csv("*/*")
    assert not prefers_csv(None)


def test_encoded_rows_quote_text_by_column_and_keep_negative_numbers():
    columns = (Out("name", None), Out("balance", None, Json.NUMBER), Out("days", None, Json.INTEGER))
    rows: list[dict[str, Any]] = [{"name": "-2-3", "balance": -1250.5, "days": -3},
                                  {"name": "=cmd", "balance": "-7.25", "days": 4},
                                  {"name": "Ada", "balance": None, "days": 0}]
    assert encode_rows(columns, rows, header=True).decode() == (
        "name,balance,days\r\n'-2-3,-1250.5,-3\r\n'=cmd,-7.25,4\r\nAda,,0\r\n")


async def test_a_formula_in_ingested_text_is_quoted_in_the_export(client: httpx.AsyncClient, app: Application,
                                                                  example_payload: dict[str, Any]):
    """Officer names come from the lending core: one that starts a formula is quoted in the CSV
    and kept as is in the JSON."""
    document = {**example_payload, "data": {**example_payload["data"]}}
    names = {"OFF0001": "=HYPERLINK(\"http://x.example\")", "OFF0002": "-2-3", "OFF0003": "+1", "OFF0004": "@A1"}
    document["data"]["officers"] = [{**officer, "officer_name": names.get(officer["officer_id"],
                                                                          officer["officer_name"])}
                                    for officer in example_payload["data"]["officers"]]
    result = await ingest(app.db, payload_from_document(document, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    assert (await recalculate(app.db, EngineOptions(), as_of=BUSINESS_DATE)).status == "Completed"
    headers = bearer(app, "admin")
    rows = await _json(client, "/api/v1/metrics/officers?sort=officer_name&order=asc", headers)
    assert {row["officer_id"]: row["officer_name"] for row in rows if row["officer_id"] in names} == names
    table = await _csv(client, "/api/v1/metrics/officers?format=csv&sort=officer_name&order=asc", headers)
    assert_same_rows(table, rows)
    name = table[0].index("officer_name")
    quoted = {line[0]: line[name] for line in table[1:] if line[0] in names}
    assert quoted == {officer: "'" + text for officer, text in names.items()}
