"""No daily row is dated after the business date by ``loanmetrics recalc``, and rows dated later
(written while the business date was later, or by hand) never become the default window."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from loanmetrics.application import Application
from loanmetrics.db.ingestion.payload import payload_from_document
from loanmetrics.db.ingestion.service import ingest
from loanmetrics.scheduler.recalculation import recalculate
from tests.conftest import BUSINESS_DATE, bearer
from tests.test_cli_failures import one_line, run

LATER = BUSINESS_DATE + timedelta(days=2)


async def _daily_dates(app: Application) -> list[Any]:
    async with app.db.raw_reader() as conn:
        return [r["d"] for r in await conn.fetch(
            "SELECT DISTINCT calculation_date AS d FROM officer_metrics_daily ORDER BY 1")]


@pytest.mark.parametrize(("args", "message"), [
    (["--as-of", LATER.isoformat()], f"error: --as-of {LATER} is after the business date {BUSINESS_DATE} "
                                     "(LOANMETRICS_TODAY, else today)"),
    (["--from", LATER.isoformat()], f"error: --from {LATER} is after the business date {BUSINESS_DATE} "
                                    "(LOANMETRICS_TODAY, else today)"),
])
async def test_recalc_after_the_business_date_is_refused(app: Application, tmp_path: Path, example_payload: Any,
                                                          args: list[str], message: str) -> None:
    result = await ingest(app.db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    refused = run(["recalc", *args], tmp_path, DATABASE_URL=str(app.settings.database_url))
    assert refused.returncode == 2
    assert one_line(refused) == message
    assert await _daily_dates(app) == []
    async with app.db.raw_reader() as conn:
        assert await conn.fetchval("SELECT count(*) FROM metric_calculation_log") == 0
    done = run(["recalc", "--as-of", BUSINESS_DATE.isoformat()], tmp_path, DATABASE_URL=str(app.settings.database_url))
    assert done.returncode == 0, done.stderr
    assert await _daily_dates(app) == [BUSINESS_DATE]


async def test_the_default_window_never_passes_the_business_date(app: Application, client: Any,
                                                                  example_payload: Any) -> None:
    result = await ingest(app.db, payload_from_document(example_payload, max_records=100_000), BUSINESS_DATE)
    assert result.errors == []
    # rows up to two days past today's business date, as a run under a later LOANMETRICS_TODAY left them
    run_ = await recalculate(app.db, app.engine_options, as_of=LATER, start=BUSINESS_DATE - timedelta(days=1),
                             calculation_type="backfill")
    assert run_.status == "Completed"
    assert await _daily_dates(app) == [BUSINESS_DATE + timedelta(days=n) for n in range(-1, 3)]
    query = """{ officers(first: 1) { calculationDate nodes { metrics { calculationDate } } }
                 branches { calculationDate } regions { calculationDate } }"""
    response = await client.post("/graphql", json={"query": query}, headers=bearer(app, "viewer"))
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    data = body["data"]
    day = BUSINESS_DATE.isoformat()
    assert data["officers"]["calculationDate"] == day
    assert data["officers"]["nodes"][0]["metrics"]["calculationDate"] == day
    assert {b["calculationDate"] for b in data["branches"]} == {day}
    assert {r["calculationDate"] for r in data["regions"]} == {day}
    rest = await client.get("/api/v1/metrics/officers", headers=bearer(app, "viewer"))
    assert rest.status_code == 200, rest.text
