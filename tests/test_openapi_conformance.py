"""The OpenAPI document says what the server enforces (SPEC §7): schemathesis against a real
server on the example book (small budget, fixed seed: no 5xx, no response outside the document,
no valid request refused, no invalid request accepted), and the rules it once found unstated."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import jiter
import pytest

from loanmetrics.application import Application
from loanmetrics.db.engine import Database
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.db.metric_engine import EngineOptions
from loanmetrics.graph.rest.openapi import date_pattern
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, EXAMPLES, bearer, create_database, drop_database
from tests.live_server import live_server, token

ROOT = Path(__file__).resolve().parent.parent
MAX_EXAMPLES = "15"
SEED = "1"


async def _book_database() -> str:
    url = await create_database("lm_openapi")
    database = Database.connect(url)
    try:
        document = jiter.from_json((EXAMPLES / "book-payload.json").read_bytes(), float_mode="decimal")
        result = await ingest(database, payload_from_document(document, max_records=100_000), BUSINESS_DATE)
        assert result.errors == []
        run = await recalculate(database, EngineOptions(), as_of=BUSINESS_DATE, start=date(2026, 8, 19))
        assert run.status == "Completed"
    finally:
        await database.dispose()
    return url


@pytest.fixture
def book_server() -> Iterator[tuple[str, str]]:
    url = asyncio.run(_book_database())
    try:
        with live_server(url) as server:
            yield server.url, token("admin")
    finally:
        asyncio.run(drop_database(url))


@pytest.mark.slow
def test_schemathesis_finds_no_mismatch(book_server: tuple[str, str], tmp_path: Path):
    base, admin = book_server
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    ran = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run", f"{base}/api/v1/openapi.json",
         "--header", f"Authorization: Bearer {admin}", "--max-examples", MAX_EXAMPLES, "--seed", SEED,
         "--checks", "all", "--no-color"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    summary = ran.stdout[-6000:]
    assert ran.returncode == 0, summary
    assert re.search(r"\d+ generated, \d+ passed", summary), summary
    assert "failed" not in summary.split("SUMMARY")[-1], summary


def test_date_patterns_match_exactly_the_range():
    pattern = re.compile(date_pattern(date(1900, 1, 1), date(2026, 9, 18)))
    day = date(1899, 12, 25)
    while day <= date(2027, 1, 10):
        assert bool(pattern.fullmatch(day.isoformat())) == (date(1900, 1, 1) <= day <= date(2026, 9, 18)), day
        day += timedelta(days=1)
    for text in ("0999-01-01", "2026-09-19", "2126-01-01", "9999-12-31", "1900-01-00"):
        assert not pattern.fullmatch(text), text
    assert re.compile(date_pattern(date(1900, 1, 1), date.max)).fullmatch("9999-12-31")


async def _document(client: httpx.AsyncClient, app: Application) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json", headers=bearer(app, "viewer"))
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    parameters = document["paths"][path]["get"]["parameters"]
    schema: dict[str, Any] = next(p for p in parameters if p["name"] == name)["schema"]
    return schema


async def test_the_rules_schemathesis_found_are_stated(client: httpx.AsyncClient, app: Application):
    """What the server accepts and refuses, next to what the document says about it."""
    document = await _document(client, app)
    viewer = bearer(app, "viewer")
    officers = "/api/v1/metrics/officers"
    # an empty choice or text means "not given": accepted, and the document allows it
    for query in ("region=", "order=", "sort=", "_=1733400000000"):
        assert (await client.get(f"{officers}?{query}", headers=viewer)).status_code == 200, query
    assert "" in _parameter(document, officers, "order")["enum"]
    region = _parameter(document, officers, "region")
    assert region["minLength"] == 0
    assert re.search(region["pattern"], "")
    # blank and NUL texts are refused, and the pattern says so
    for value in (" ", "\t", "Lagos\x00"):
        response = await client.get(officers, params={"region": value}, headers=viewer)
        assert response.status_code == 400, repr(value)
        assert response.json()["error"]["details"]["parameter"] == "region"
        assert not re.search(region["pattern"], value), repr(value)
    # window dates end at the business date
    end = _parameter(document, officers, "end_date")
    assert re.search(end["pattern"], BUSINESS_DATE.isoformat())
    assert not re.search(end["pattern"], (BUSINESS_DATE + timedelta(days=1)).isoformat())
    assert (await client.get(f"{officers}?end_date=2026-09-19", headers=viewer)).status_code == 400
    assert (await client.get(f"{officers}?date=1899-12-31", headers=viewer)).status_code == 400
    # rules joining parameters are listed
    assert any("at most one" in rule for rule in document["paths"][officers]["get"]["x-rules"])
    assert any("start_date" in rule for rule in document["paths"]["/api/v1/loans/fimr-drilldown"]["get"]["x-rules"])
    # ETL: metadata may be null, data is required and holds only the five lists
    etl = document["paths"]["/api/v1/etl/sync"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert etl["required"] == ["data"]
    assert etl["properties"]["metadata"]["type"] == ["object", "null"]
    assert etl["properties"]["data"]["additionalProperties"] is False
    headers = bearer(app, "etl")
    for body, status in (({"data": {}, "metadata": None}, 200), ({"data": {}, "metadata": False}, 400),
                         ({}, 400), ({"data": {"payments": []}}, 400), ({"data": {}, "extra": 1}, 200)):
        assert (await client.post("/api/v1/etl/sync", json=body, headers=headers)).status_code == status, body


async def test_integral_numbers_are_integers(client: httpx.AsyncClient, app: Application):
    """JSON Schema's integer includes 264.0; so does the server's."""
    headers = bearer(app, "admin")
    async with app.db.raw_session() as conn:
        await conn.execute("INSERT INTO officers (officer_id, officer_name, region, branch) "
                           "VALUES ('O1', 'Ada', 'North', 'B1')")
        await conn.execute("INSERT INTO team_members (member_id, member_name, is_active) VALUES ('T1', 'Tee', true)")
    base = "/api/v1/audit/officers/O1"
    assert (await client.put(f"{base}/assignee", json={"assignee_id": "T1"}, headers=headers)).status_code == 200
    moved = await client.put(f"{base}/status", json={"status": "In Progress", "expected_version": 1.0},
                             headers=headers)
    assert moved.status_code == 200, moved.text
    stale = await client.put(f"{base}/status", json={"status": "Resolved", "expected_version": 1.5}, headers=headers)
    assert stale.status_code == 400
    blank = await client.post(f"{base}/actions", json={"action_type": " "}, headers=headers)
    assert blank.status_code == 400
    assert blank.json()["error"]["details"]["field"] == "action_type"
