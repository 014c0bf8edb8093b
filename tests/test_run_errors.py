"""A failed run's error_message (the database's own text) is shown to admins only."""

from __future__ import annotations

from typing import Any

import pytest

from loanmetrics.application import Application
from loanmetrics.resolvers.operations import HIDDEN_RUN_ERROR
from loanmetrics.scheduler.calculation_log import fail_run, open_run
from tests.conftest import BUSINESS_DATE, bearer

RAW = ('NumericValueOutOfRangeError: numeric field overflow\nDETAIL:  A field with precision 15, scale 2 '
       'must round to an absolute value less than 10^13. (INSERT INTO officer_metrics_daily ...)')
RUNS = "{ calculationRuns { status errorMessage } }"


@pytest.mark.parametrize(("role", "shown"), [("admin", RAW), ("viewer", HIDDEN_RUN_ERROR),
                                             ("auditor", HIDDEN_RUN_ERROR)])
async def test_only_admins_see_a_failed_runs_database_error(app: Application, client: Any, redis_url: str,
                                                            role: str, shown: str) -> None:
    failed = await open_run(app.db, "manual", BUSINESS_DATE, None)
    await fail_run(app.db, failed, RAW)
    await open_run(app.db, "manual", BUSINESS_DATE, None)  # still running: no error either way
    response = await client.post("/graphql", json={"query": RUNS}, headers=bearer(app, role))
    assert response.status_code == 200
    assert response.json() == {"data": {"calculationRuns": [
        {"status": "Running", "errorMessage": None}, {"status": "Failed", "errorMessage": shown}]}}
